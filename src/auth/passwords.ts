import { createRequire } from 'node:module';
import { hash, parseOptions, verify } from '@node-rs/argon2';
import { AppError } from '../core/errors.js';

/**
 * Passwords of staff users (ASVS 5.0 V6.2, V11.4; NIST SP 800-63B §3.1.1):
 * - argon2id with at least OWASP's minimum (m = 19 MiB, t = 2, p = 1), PHC strings (`$argon2id$v=19$…`);
 * - 12 to 128 characters (Unicode code points after NFKC, so the same password typed on two keyboards
 *   is the same password), no composition rules, no truncation;
 * - refused when on the bundled list of common passwords (~49k, @zxcvbn-ts/language-common), or when
 *   it contains the user's e-mail local part.
 */
export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 128;

/** argon2id, OWASP Password Storage Cheat Sheet (2024): m=19456 KiB, t=2, p=1. `algorithm: 2` = Argon2id. */
const ARGON2 = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1, outputLen: 32 } as const;

export type PasswordRule = 'length' | 'common' | 'email';

let common: Set<string> | null = null;

/** The common-password list, loaded once (lower-cased: the comparison ignores case). */
function commonPasswords(): Set<string> {
  if (!common) {
    // The package ships CommonJS and ESM builds; require() loads its JSON list synchronously, once.
    const mod = createRequire(import.meta.url)('@zxcvbn-ts/language-common') as {
      default?: unknown;
      dictionary?: unknown;
    };
    const dict = ((mod.default ?? mod) as { dictionary: Record<string, string[]> }).dictionary['passwords-common'];
    common = new Set(dict.map((p) => p.toLowerCase()));
  }
  return common;
}

/** The form every check and the hash see: NFKC (NIST SP 800-63B §5.1.1.2). */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/** The rule a new password breaks, or null when it is acceptable. Never looks at anything but its arguments. */
export function passwordProblem(password: string, email: string): PasswordRule | null {
  const p = normalizePassword(password);
  const length = [...p].length;
  if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) return 'length';
  const lower = p.toLowerCase();
  if (commonPasswords().has(lower) || commonPasswords().has(lower.trim())) return 'common';
  const local = email.split('@')[0]?.toLowerCase() ?? '';
  // Very short local parts ("al") would refuse half the dictionary; three characters is where it means something.
  if (local.length >= 3 && lower.includes(local)) return 'email';
  return null;
}

const RULE_DETAIL: Record<PasswordRule, string> = {
  length: `password must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`,
  common: 'password is on the list of common passwords',
  email: 'password contains the e-mail address',
};

/** Throws SP_USER_PASSWORD_WEAK naming the rule (never the password) when `password` is not acceptable. */
export function assertPasswordPolicy(password: string, email: string): void {
  const rule = passwordProblem(password, email);
  if (rule) throw new AppError('SP_USER_PASSWORD_WEAK', RULE_DETAIL[rule]);
}

/** argon2id PHC string of the (normalized) password, with a fresh 16-byte salt. */
export function hashPassword(password: string): Promise<string> {
  return hash(normalizePassword(password), ARGON2);
}

let dummy: Promise<string> | null = null;

/**
 * True when `password` matches `phc`. With `phc` null (unknown user, no password yet) a dummy hash of
 * the same cost is verified and false returned, so the answer takes as long whether or not the
 * account exists (ASVS 6.3.x: no enumeration by timing). Over-long input is refused without hashing.
 */
export async function verifyPassword(phc: string | null, password: string): Promise<boolean> {
  const p = normalizePassword(password);
  if ([...p].length > PASSWORD_MAX_LENGTH) return false;
  if (!phc) {
    dummy ??= hashPassword('sealpost dummy password for unknown accounts');
    await verify(await dummy, p).catch(() => false);
    return false;
  }
  try {
    return await verify(phc, p);
  } catch {
    return false;
  }
}

/** True when `phc` was made with weaker (or other) parameters than today's: rehash at the next sign-in. */
export function needsRehash(phc: string): boolean {
  try {
    const o = parseOptions(phc);
    return (
      o.algorithm !== ARGON2.algorithm ||
      o.memoryCost < ARGON2.memoryCost ||
      o.timeCost < ARGON2.timeCost ||
      o.outputLen < ARGON2.outputLen
    );
  } catch {
    return true;
  }
}
