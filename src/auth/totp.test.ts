import { describe, expect, it } from 'vitest';
import {
  base32,
  newRecoveryCode,
  newTotpSecret,
  normaliseRecoveryCode,
  recoveryCodeHash,
  totpCode,
  totpStep,
  totpUri,
  verifyTotp,
} from './totp.js';

/** RFC 6238 Appendix B: the SHA-1 seed is the ASCII "12345678901234567890". */
const RFC_SEED = base32(Buffer.from('12345678901234567890', 'ascii'));

describe('TOTP', () => {
  it('encodes base32 as RFC 4648 §10 does (without padding)', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'MY'],
      ['fo', 'MZXQ'],
      ['foo', 'MZXW6'],
      ['foob', 'MZXW6YQ'],
      ['fooba', 'MZXW6YTB'],
      ['foobar', 'MZXW6YTBOI'],
    ];
    for (const [plain, encoded] of vectors) expect(base32(Buffer.from(plain))).toBe(encoded);
    expect(RFC_SEED).toBe('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  });

  it('computes the RFC 6238 SHA-1 test vectors (their last six digits)', async () => {
    const vectors: [number, string][] = [
      [59, '287082'],
      [1111111109, '081804'],
      [1111111111, '050471'],
      [1234567890, '005924'],
      [2000000000, '279037'],
      [20000000000, '353130'],
    ];
    for (const [t, code] of vectors) expect(await totpCode(RFC_SEED, t * 1000)).toBe(code);
  });

  it('accepts a code one step early or late and refuses one two steps away', async () => {
    const now = 1_700_000_010_000;
    const at = async (steps: number) => verifyTotp(RFC_SEED, await totpCode(RFC_SEED, now + steps * 30_000), now, null);
    expect(await at(0)).toBe(totpStep(now));
    expect(await at(-1)).toBe(totpStep(now) - 1);
    expect(await at(1)).toBe(totpStep(now) + 1);
    expect(await at(-2)).toBeNull();
    expect(await at(2)).toBeNull();
  });

  it('refuses a code whose step is not later than the last accepted step', async () => {
    const now = 1_700_000_010_000;
    const code = await totpCode(RFC_SEED, now);
    const step = totpStep(now);
    expect(await verifyTotp(RFC_SEED, code, now, step)).toBeNull();
    expect(await verifyTotp(RFC_SEED, code, now, step + 1)).toBeNull();
    expect(await verifyTotp(RFC_SEED, code, now, step - 1)).toBe(step);
  });

  it("treats a last accepted step ahead of this server's clock (a skewed node) as a wrong code instead of throwing", async () => {
    const now = 1_700_000_010_000;
    const code = await totpCode(RFC_SEED, now);
    for (const ahead of [2, 3, 100])
      await expect(verifyTotp(RFC_SEED, code, now, totpStep(now) + ahead)).resolves.toBeNull();
  });

  it('refuses codes that are not six digits without consulting the seed', async () => {
    const now = 1_700_000_010_000;
    const code = await totpCode(RFC_SEED, now);
    for (const bad of ['', `${code} `, ` ${code}`, `0${code}`, code.slice(1), 'abcdef', '12345x', '１２３４５６'])
      expect(await verifyTotp(RFC_SEED, bad, now, null)).toBeNull();
  });

  it('makes 160-bit seeds from the CSPRNG, each different', () => {
    const seeds = new Set(Array.from({ length: 50 }, newTotpSecret));
    expect(seeds.size).toBe(50);
    for (const s of seeds) expect(s).toMatch(/^[A-Z2-7]{32}$/);
  });

  it('labels the otpauth URI with the issuer and the given label only', () => {
    const uri = new URL(totpUri(RFC_SEED, 'nurse@clinic.test'));
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Sealpost:nurse@clinic.test');
    expect(Object.fromEntries(uri.searchParams)).toMatchObject({ secret: RFC_SEED, issuer: 'Sealpost' });
  });
});

describe('recovery codes', () => {
  it('are 16 base32 characters in four groups, each different', () => {
    const codes = new Set(Array.from({ length: 100 }, newRecoveryCode));
    expect(codes.size).toBe(100);
    for (const c of codes) expect(c).toMatch(/^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$/);
  });

  it('normalise case, spaces and dashes, and refuse anything that cannot be a code', () => {
    expect(normaliseRecoveryCode('abcd-efgh ijkl mnop')).toBe('ABCDEFGHIJKLMNOP');
    for (const bad of ['', 'ABCD-EFGH-IJKL', 'ABCD-EFGH-IJKL-MNO1', 'ABCD-EFGH-IJKL-MNOP-Q', 'ABCD_EFGH_IJKL_MNOP'])
      expect(normaliseRecoveryCode(bad)).toBeNull();
  });

  it('hash to a value bound to the user: the same code of two users stores differently', () => {
    const a = recoveryCodeHash('u-1', 'ABCDEFGHIJKLMNOP');
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(recoveryCodeHash('u-1', 'ABCDEFGHIJKLMNOP')).toBe(a);
    expect(recoveryCodeHash('u-2', 'ABCDEFGHIJKLMNOP')).not.toBe(a);
  });
});
