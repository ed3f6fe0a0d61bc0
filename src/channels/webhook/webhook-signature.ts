import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Sealpost's outbound webhook signature, modelled on Stripe's scheme:
 * `Sealpost-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`.
 *
 * The timestamp is inside the MAC so a captured request cannot be replayed later with a fresh
 * `Sealpost-Timestamp`; receivers reject timestamps outside a tolerance window.
 */

const SCHEME = 'v1';
/** Unix seconds; 1–15 digits keeps Number() exact and rejects signs, decimals and exponents. */
const TIMESTAMP_PATTERN = /^\d{1,15}$/;
const HEX_SHA256_PATTERN = /^[0-9a-f]{64}$/i;

function mac(secret: string | Buffer, timestamp: string, rawBody: string | Buffer): Buffer {
  const hmac = createHmac('sha256', secret);
  hmac.update(`${timestamp}.`, 'utf8');
  hmac.update(rawBody);
  return hmac.digest();
}

/** Returns the full header value, `v1=<hex>`, for `timestamp` (unix seconds) and the exact body bytes. */
export function signWebhook(secret: string | Buffer, timestamp: number | string, rawBody: string | Buffer): string {
  const ts = String(timestamp);
  if (!TIMESTAMP_PATTERN.test(ts)) throw new TypeError('webhook timestamp must be unix seconds');
  return `${SCHEME}=${mac(secret, ts, rawBody).toString('hex')}`;
}

export interface VerifyWebhookOptions {
  /** Largest accepted distance between the timestamp and now, either direction. Default 300 s. */
  toleranceSeconds?: number;
  /** Current time in unix seconds; defaults to the system clock. */
  now?: number;
}

/**
 * Checks a `Sealpost-Signature` header against the raw request body.
 *
 * The header may list several comma-separated `v1=` values so a receiver keeps working while the
 * sender rotates its secret; any one matching is enough. Returns false (never throws) for a
 * missing, malformed, stale or wrong signature.
 */
export function verifyWebhookSignature(
  secret: string | Buffer,
  headers: { timestamp: string | undefined | null; signature: string | undefined | null },
  rawBody: string | Buffer,
  { toleranceSeconds = 300, now }: VerifyWebhookOptions = {},
): boolean {
  const { timestamp, signature } = headers;
  if (typeof timestamp !== 'string' || typeof signature !== 'string') return false;
  if (!TIMESTAMP_PATTERN.test(timestamp)) return false;

  const current = now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(current - Number(timestamp)) > toleranceSeconds) return false;

  const candidates = signature
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.startsWith(`${SCHEME}=`))
    .map((part) => part.slice(SCHEME.length + 1))
    .filter((hex) => HEX_SHA256_PATTERN.test(hex));
  if (candidates.length === 0) return false;

  const expected = mac(secret, timestamp, rawBody);
  let ok = false;
  for (const hex of candidates) {
    const given = Buffer.from(hex, 'hex');
    // Lengths are equal by the pattern check; keep the guard because timingSafeEqual throws otherwise.
    // No early exit, so the number of candidates is the only thing timing reveals.
    if (given.length === expected.length && timingSafeEqual(given, expected)) ok = true;
  }
  return ok;
}
