import { randomBytes } from 'node:crypto';
import { generate, generateURI, verify as otpVerify } from 'otplib';
import { hashToken } from '../crypto/tokens.js';

/**
 * TOTP (RFC 6238) as authenticator apps expect it: HMAC-SHA-1, 6 digits, 30-second steps, a
 * 160-bit seed (RFC 4226 §4 R6 recommends 160 bits) shown to the user as base32.
 */
export const TOTP_PERIOD_SECONDS = 30;
const DIGITS = 6;
/** ±1 step around the server's time (RFC 6238 §5.2 allows a small window for clock drift and typing). */
const TOLERANCE_SECONDS = TOTP_PERIOD_SECONDS;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding. */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** A new TOTP seed: 20 bytes from the CSPRNG, base32 (32 characters). */
export function newTotpSecret(): string {
  return base32(randomBytes(20));
}

/** The time step a millisecond instant falls in. */
export function totpStep(atMs: number): number {
  return Math.floor(atMs / 1000 / TOTP_PERIOD_SECONDS);
}

/** The code of `secret` at `atMs` (tests and tools; the server only verifies). */
export function totpCode(secret: string, atMs: number): Promise<string> {
  return generate({
    secret,
    algorithm: 'sha1',
    digits: DIGITS,
    period: TOTP_PERIOD_SECONDS,
    epoch: Math.floor(atMs / 1000),
  });
}

/**
 * Checks `code` against `secret` at `nowMs` with ±1 step tolerance. Returns the matched time step,
 * or null. `afterStep` is the last step already accepted for this seed: a code of that step or an
 * earlier one is refused, so a code is good once even inside its window (RFC 6238 §5.2, ASVS 6.5.x).
 * The caller must still record the returned step atomically (two requests may race).
 */
export async function verifyTotp(
  secret: string,
  code: string,
  nowMs: number,
  afterStep: number | null,
): Promise<number | null> {
  if (!/^\d{6}$/.test(code)) return null;
  // No step of the window is later than `afterStep`: nothing can be accepted. otplib throws for an
  // `afterTimeStep` beyond its window (a step recorded by a node whose clock runs ahead), and a
  // throw would answer 500 without counting the attempt; a wrong code is the right answer.
  const windowEnd = totpStep(nowMs + TOLERANCE_SECONDS * 1000);
  if (afterStep != null && afterStep >= windowEnd) return null;
  const r = await verify({
    secret,
    token: code,
    algorithm: 'sha1',
    digits: DIGITS,
    period: TOTP_PERIOD_SECONDS,
    epoch: Math.floor(nowMs / 1000),
    epochTolerance: TOLERANCE_SECONDS,
    ...(afterStep != null ? { afterTimeStep: afterStep } : {}),
  });
  return r.valid && 'timeStep' in r ? r.timeStep : null;
}

/** otplib's verify, answering "not valid" where it would throw on options it considers out of range. */
async function verify(
  opts: Parameters<typeof otpVerify>[0],
): Promise<Awaited<ReturnType<typeof otpVerify>> | { valid: false }> {
  try {
    return await otpVerify(opts);
  } catch {
    return { valid: false };
  }
}

/**
 * The `otpauth://` URI an authenticator app scans. The label is the staff member's e-mail address
 * (staff data, not PHI); nothing about patients goes into it.
 */
export function totpUri(secret: string, label: string): string {
  return generateURI({
    issuer: 'Sealpost',
    label,
    secret,
    algorithm: 'sha1',
    digits: DIGITS,
    period: TOTP_PERIOD_SECONDS,
  });
}

/** Recovery codes issued at a time; each works once. */
export const RECOVERY_CODE_COUNT = 10;

/**
 * A recovery code: 16 base32 characters (80 bits from the CSPRNG) in groups of four. That entropy
 * makes a plain SHA-256 a safe stored form (no password hashing needed, as for session tokens).
 */
export function newRecoveryCode(): string {
  return base32(randomBytes(10)).match(/.{4}/g)!.join('-');
}

/** What a person typed, normalised: case, spaces and dashes do not matter; null when it cannot be a code. */
export function normaliseRecoveryCode(typed: string): string | null {
  const s = typed.toUpperCase().replace(/[\s-]/g, '');
  return /^[A-Z2-7]{16}$/.test(s) ? s : null;
}

/** The stored form of a (normalised) recovery code, bound to its user so equal codes of two users differ. */
export function recoveryCodeHash(userId: string, normalised: string): string {
  return hashToken(`recovery:${userId}:${normalised}`);
}
