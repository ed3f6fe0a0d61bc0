import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createCipheriv, createHmac, randomBytes, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LocalKeyring } from './local-keyring.js';
import { EnvelopeCipher, dataKeyAad } from './envelope-cipher.js';
import { SIGNING_RETIREMENT_GRACE_MS } from './key-provider.js';

const FAST = { N: 2 ** 10, r: 8, p: 1 };
const path = () => join(mkdtempSync(join(tmpdir(), 'sealpost-keyring-')), 'keyring.json');

/** A keyring file as format 1 wrote it, and a data key wrapped the way format 1 did (2-byte header). */
function formatOneInstall() {
  const p = path();
  const master = randomBytes(32);
  writeFileSync(
    p,
    JSON.stringify({
      format: 'sealpost-keyring-v1',
      kek: { id: 'local-0a1b2c', key: master.toString('base64') },
      blindIndexKey: randomBytes(32).toString('base64'),
      macKey: randomBytes(32).toString('base64'),
    }),
    { mode: 0o600 },
  );
  const tenantKek = createHmac('sha256', master).update('sealpost/tenant-kek/default').digest();
  const dataKey = randomBytes(32);
  const header = Buffer.from([1, 1]);
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', tenantKek, iv);
  c.setAAD(Buffer.concat([header, Buffer.from(dataKeyAad('default', 'p1'))]));
  const wrapped = Buffer.concat([header, iv, c.update(dataKey), c.final(), c.getAuthTag()]);
  return { p, dataKey, wrapped: { keyId: 'local-0a1b2c/default', wrapped } };
}

describe('local keyring: versions and formats', () => {
  it('still opens data keys wrapped by a format-1 keyring, before and after a KEK rotation', async () => {
    const { p, dataKey, wrapped } = formatOneInstall();
    const { keyring } = LocalKeyring.openOrCreate(p);
    expect(keyring.currentKeyId('default')).toBe('local-0a1b2c/default');
    expect((await new EnvelopeCipher(keyring).dataKey('default', 'p1', wrapped)).equals(dataKey)).toBe(true);
    const v2 = await keyring.createKeyVersion('kek', 'default');
    expect(v2.version).toBe(2);
    expect(keyring.currentKeyId('default')).toBe(v2.keyId);
    // The file is format 2 now and the old version still opens old data.
    expect(JSON.parse(readFileSync(p, 'utf8')).format).toBe('sealpost-keyring-v2');
    const reopened = LocalKeyring.openOrCreate(p).keyring;
    expect((await new EnvelopeCipher(reopened).dataKey('default', 'p1', wrapped)).equals(dataKey)).toBe(true);
  });

  it('keeps the audit-log key and MAC keys stable across rotations of the other keys', async () => {
    const { keyring } = LocalKeyring.openOrCreate(path());
    const audit = keyring.auditLogKey().publicKey.export({ format: 'jwk' });
    const mac = keyring.macKey('sealpost/keyring-fingerprint');
    for (const purpose of ['kek', 'signing', 'blind-index'] as const)
      await keyring.createKeyVersion(purpose, 'default');
    expect(keyring.auditLogKey().publicKey.export({ format: 'jwk' })).toEqual(audit);
    expect(keyring.macKey('sealpost/keyring-fingerprint').equals(mac)).toBe(true);
  });

  it('names the KEK id and version in every wrapped data key and refuses a header naming another key', async () => {
    const { keyring } = LocalKeyring.openOrCreate(path());
    const cipher = new EnvelopeCipher(keyring, { max: 0, ttlMs: 0 });
    const { wrapped } = await cipher.newDataKey('default', 'p1');
    expect(wrapped.wrapped[0]).toBe(2);
    expect(wrapped.wrapped.subarray(7, 7 + wrapped.wrapped[6]!).toString()).toBe(wrapped.keyId);
    const v2 = await keyring.createKeyVersion('kek', 'default');
    await expect(cipher.dataKey('default', 'p1', { keyId: v2.keyId, wrapped: wrapped.wrapped })).rejects.toMatchObject({
      code: 'SP_CRYPTO_DECRYPT_FAILED',
    });
    await expect(
      cipher.dataKey('default', 'p1', { keyId: 'local:kek:default:v9:00000000', wrapped: wrapped.wrapped }),
    ).rejects.toMatchObject({ code: 'SP_CRYPTO_DECRYPT_FAILED' });
    await expect(
      cipher.dataKey('default', 'p1', { ...wrapped, wrapped: wrapped.wrapped.subarray(0, 30) }),
    ).rejects.toMatchObject({ code: 'SP_CRYPTO_CIPHERTEXT_MALFORMED' });
    await expect(
      cipher.dataKey('default', 'p1', { ...wrapped, wrapped: Buffer.from([9, 1, 0]) }),
    ).rejects.toMatchObject({ code: 'SP_CRYPTO_CIPHERTEXT_MALFORMED' });
  });

  it('destroys a retired KEK so data wrapped only under it no longer opens, and refuses to destroy the current one', async () => {
    const { keyring } = LocalKeyring.openOrCreate(path());
    const cipher = new EnvelopeCipher(keyring, { max: 0, ttlMs: 0 });
    const { wrapped } = await cipher.newDataKey('default', 'p1');
    await expect(keyring.destroyKeyVersion(wrapped.keyId)).rejects.toMatchObject({ code: 'SP_CRYPTO_KEY_IN_USE' });
    await keyring.createKeyVersion('kek', 'default');
    await keyring.destroyKeyVersion(wrapped.keyId);
    await expect(cipher.dataKey('default', 'p1', wrapped)).rejects.toMatchObject({ code: 'SP_CRYPTO_KEY_UNKNOWN' });
    expect(readFileSync(keyring['path' as never] as string, 'utf8')).not.toContain(wrapped.keyId);
    await expect(keyring.destroyKeyVersion('local:kek:default:v7:ffffffff')).rejects.toMatchObject({
      code: 'SP_CRYPTO_KEY_UNKNOWN',
    });
  });

  it('drops the format-1 master secret once the last tenant derived from it has destroyed its version', async () => {
    const { p, wrapped } = formatOneInstall();
    const { keyring } = LocalKeyring.openOrCreate(p);
    await keyring.createKeyVersion('kek', 'default');
    await keyring.destroyKeyVersion('local-0a1b2c/default');
    const file = JSON.parse(readFileSync(p, 'utf8'));
    expect(file.keyring.master).toBeNull();
    await expect(new EnvelopeCipher(keyring).dataKey('default', 'p1', wrapped)).rejects.toMatchObject({
      code: 'SP_CRYPTO_KEY_UNKNOWN',
    });
  });

  it('publishes retired signing keys, so signatures made before a rotation still verify', async () => {
    const { keyring } = LocalKeyring.openOrCreate(path());
    const old = keyring.signer();
    const sig = await old.sign(Buffer.from('header'));
    const v2 = await keyring.createKeyVersion('signing', null);
    expect(keyring.signer().keyId).toBe(v2.keyId);
    await keyring.destroyKeyVersion(old.keyId);
    const published = keyring.publishedSigningKeys();
    expect(published.map((k) => [k.keyId, k.status])).toEqual([
      [v2.keyId, 'current'],
      [old.keyId, 'retired'],
    ]);
    expect(verify(null, Buffer.from('header'), published[1]!.publicKey, sig)).toBe(true);
  });

  it("records retiredAt in the retired signing key's own entry; another process signs with the new key at once", async () => {
    const p = path();
    const a = LocalKeyring.openOrCreate(p).keyring;
    const b = LocalKeyring.openOrCreate(p).keyring;
    const old = a.signer();
    const before = Date.now();
    const v2 = await b.createKeyVersion('signing', null);
    // `a` has not refreshed: its next signer follows the file anyway.
    expect(a.signer().keyId).toBe(v2.keyId);
    const entry = JSON.parse(readFileSync(p, 'utf8')).keyring.keys.find((k: { id: string }) => k.id === old.keyId);
    expect(Date.parse(entry.retiredAt)).toBeGreaterThanOrEqual(before + SIGNING_RETIREMENT_GRACE_MS);
    const published = a.publishedSigningKeys();
    expect(published[1]).toMatchObject({ keyId: old.keyId, status: 'retired', retiredAt: entry.retiredAt });
    expect(published[1]!.notBefore).toBe(published[1]!.createdAt);
    expect(published[0]).toMatchObject({ keyId: v2.keyId, notBefore: v2.createdAt });
    expect(published[0]).not.toHaveProperty('retiredAt');
    // A file written before retiredAt existed: the successor's creation plus the grace.
    const file = JSON.parse(readFileSync(p, 'utf8'));
    delete file.keyring.keys.find((k: { id: string }) => k.id === old.keyId).retiredAt;
    writeFileSync(p, JSON.stringify(file), { mode: 0o600 });
    expect(LocalKeyring.openOrCreate(p).keyring.publishedSigningKeys()[1]!.retiredAt).toBe(
      new Date(Date.parse(v2.createdAt) + SIGNING_RETIREMENT_GRACE_MS).toISOString(),
    );
  });

  it('a second process sees versions another process created (refresh re-reads the file)', async () => {
    const p = path();
    const a = LocalKeyring.openOrCreate(p).keyring;
    const b = LocalKeyring.openOrCreate(p).keyring;
    const v2 = await b.createKeyVersion('kek', 'default');
    const { wrapped } = await new EnvelopeCipher(b).newDataKey('default', 'p1');
    expect(wrapped.keyId).toBe(v2.keyId);
    // `a` has not refreshed yet: the unknown id makes it re-read the file once.
    expect(await new EnvelopeCipher(a).dataKey('default', 'p1', wrapped)).toHaveLength(32);
    expect(a.currentKeyId('default')).toBe(v2.keyId);
  });

  it('writes atomically and keeps the file private (0600) after every change', async () => {
    const p = path();
    const { keyring } = LocalKeyring.openOrCreate(p);
    await keyring.createKeyVersion('blind-index', null);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    // Temp files are renamed over the keyring, never left beside it.
    expect(readdirSync(dirname(p))).toEqual(['keyring.json']);
  });
});

describe('local keyring: passphrase sealing', () => {
  it('seals a new keyring so the file holds no key material in the clear, and reopens it with the passphrase', async () => {
    const p = path();
    const a = LocalKeyring.openOrCreate(p, { passphrase: 'correct horse battery staple', scrypt: FAST }).keyring;
    const { key, wrapped } = await new EnvelopeCipher(a).newDataKey('default', 'p1');
    const file = JSON.parse(readFileSync(p, 'utf8'));
    expect(file.sealed).toMatchObject({ kdf: 'scrypt', N: FAST.N, r: 8, p: 1 });
    expect(file.keyring).toBeUndefined();
    expect(readFileSync(p, 'utf8')).not.toContain(wrapped.keyId);
    const b = LocalKeyring.openOrCreate(p, { passphrase: 'correct horse battery staple' }).keyring;
    expect((await new EnvelopeCipher(b).dataKey('default', 'p1', wrapped)).equals(key)).toBe(true);
  });

  it('refuses a wrong or missing passphrase with a clear code', () => {
    const p = path();
    LocalKeyring.openOrCreate(p, { passphrase: 'right', scrypt: FAST });
    expect(() => LocalKeyring.openOrCreate(p, { passphrase: 'wrong' })).toThrow(
      expect.objectContaining({ code: 'SP_CRYPTO_PASSPHRASE_INVALID' }),
    );
    expect(() => LocalKeyring.openOrCreate(p)).toThrow(
      expect.objectContaining({ code: 'SP_CRYPTO_PASSPHRASE_REQUIRED' }),
    );
  });

  it('stays sealed after a rotation written by the process that opened it', async () => {
    const p = path();
    const { keyring } = LocalKeyring.openOrCreate(p, { passphrase: 'pw', scrypt: FAST });
    await keyring.createKeyVersion('kek', 'default');
    expect(JSON.parse(readFileSync(p, 'utf8')).sealed).toBeDefined();
    expect(LocalKeyring.openOrCreate(p, { passphrase: 'pw' }).keyring.currentKeyId('default')).toBe(
      keyring.currentKeyId('default'),
    );
  });

  it('seals an existing plain keyring in place (keys seal) without changing any key', async () => {
    const p = path();
    const { keyring } = LocalKeyring.openOrCreate(p);
    const before = keyring.macKey('x');
    await keyring.reseal('pw', FAST);
    expect(() => LocalKeyring.openOrCreate(p)).toThrow(
      expect.objectContaining({ code: 'SP_CRYPTO_PASSPHRASE_REQUIRED' }),
    );
    expect(LocalKeyring.openOrCreate(p, { passphrase: 'pw' }).keyring.macKey('x').equals(before)).toBe(true);
  });

  it('refuses an unreadable key file with a clear code', () => {
    // A directory where the file should be: unreadable for any user, root included.
    const p = path();
    mkdirSync(p, { mode: 0o700 });
    expect(() => LocalKeyring.openOrCreate(p)).toThrow(
      expect.objectContaining({ code: 'SP_CRYPTO_KEYRING_INVALID', message: expect.stringContaining('EISDIR') }),
    );
  });
});
