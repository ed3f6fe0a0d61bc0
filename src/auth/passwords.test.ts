import { describe, expect, it } from 'vitest';
import { parseOptions } from '@node-rs/argon2';
import { assertPasswordPolicy, hashPassword, needsRehash, passwordProblem, verifyPassword } from './passwords.js';
import { isAppError } from '../core/errors.js';

const GOOD = 'tangerine orbit kettle 42';

describe('password policy', () => {
  it('accepts 12 to 128 characters of anything, spaces and any script included, with no composition rules', () => {
    expect(passwordProblem('abcdefghijkm', 'x@example.org')).toBeNull();
    expect(passwordProblem(GOOD, 'x@example.org')).toBeNull();
    expect(passwordProblem('пароль-для-входа', 'x@example.org')).toBeNull();
    expect(passwordProblem('z'.repeat(128), 'x@example.org')).toBeNull();
  });

  it('refuses fewer than 12 or more than 128 characters, counting characters and not bytes', () => {
    expect(passwordProblem('abcdefghijk', 'x@example.org')).toBe('length');
    expect(passwordProblem('z'.repeat(129), 'x@example.org')).toBe('length');
    // 11 emoji are 22 UTF-16 units but 11 characters.
    expect(passwordProblem('🔒'.repeat(11), 'x@example.org')).toBe('length');
    expect(passwordProblem('🔒'.repeat(12), 'x@example.org')).toBeNull();
  });

  it('refuses passwords on the bundled common-password list whatever their case', () => {
    expect(passwordProblem('qwerty123456', 'x@example.org')).toBe('common');
    expect(passwordProblem('QWERTY123456', 'x@example.org')).toBe('common');
    expect(passwordProblem('1q2w3e4r5t6y', 'x@example.org')).toBe('common');
  });

  it("refuses a password that contains the user's e-mail local part, in any case", () => {
    expect(passwordProblem('my name is Dr.Jekyll!', 'dr.jekyll@clinic.test')).toBe('email');
    expect(passwordProblem('tangerine orbit jekyll', 'dr.jekyll@clinic.test')).toBeNull();
  });

  it('names the rule in the error detail and never echoes the password', () => {
    const secret = 'QWERTY123456';
    try {
      assertPasswordPolicy(secret, 'x@example.org');
      expect.unreachable();
    } catch (e) {
      expect(isAppError(e) && e.code).toBe('SP_USER_PASSWORD_WEAK');
      expect((e as Error).message).toContain('common');
      expect((e as Error).message.toLowerCase()).not.toContain(secret.toLowerCase());
    }
  });
});

describe('password hashing', () => {
  it('stores argon2id PHC strings with at least the OWASP parameters (m=19456 KiB, t=2, p=1) and a fresh salt each time', async () => {
    const a = await hashPassword(GOOD);
    const b = await hashPassword(GOOD);
    expect(a).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(a).not.toBe(b);
    const o = parseOptions(a);
    expect(o.memoryCost).toBeGreaterThanOrEqual(19_456);
    expect(o.timeCost).toBeGreaterThanOrEqual(2);
    expect(needsRehash(a)).toBe(false);
  });

  it('verifies the right password only, and treats differently composed Unicode forms of it as the same password', async () => {
    const h = await hashPassword('café au lait, s’il vous plaît');
    expect(await verifyPassword(h, 'café au lait, s’il vous plaît')).toBe(true);
    expect(await verifyPassword(h, 'cafe\u0301 au lait, s’il vous plaît')).toBe(true);
    expect(await verifyPassword(h, 'café au lait, s’il vous plait')).toBe(false);
  });

  it('answers false for an unknown user (no hash) after doing the same work, and for a malformed stored hash', async () => {
    expect(await verifyPassword(null, GOOD)).toBe(false);
    expect(await verifyPassword('not a phc string', GOOD)).toBe(false);
  });

  it('asks for a rehash of hashes made with weaker parameters', async () => {
    expect(
      needsRehash('$argon2id$v=19$m=4096,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$0000000000000000000000000000000000000000000'),
    ).toBe(true);
    expect(needsRehash('$2b$10$abcdefghijklmnopqrstuv')).toBe(true);
  });
});
