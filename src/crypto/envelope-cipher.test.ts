import { mkdtempSync, chmodSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalKeyring } from './local-keyring.js';
import { EnvelopeCipher } from './envelope-cipher.js';
import { AppError } from '../core/errors.js';

const dir = () => mkdtempSync(join(tmpdir(), 'sealpost-keys-'));
const ref = { tenantId: 't1', table: 'patients', rowId: 'p1', field: 'name' };

function setup() {
  const { keyring } = LocalKeyring.openOrCreate(join(dir(), 'keyring.json'));
  return { keyring, cipher: new EnvelopeCipher(keyring) };
}

function expectDecryptFailure(fn: () => unknown, codes = ['SP_CRYPTO_DECRYPT_FAILED']) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect(codes).toContain((e as AppError).code);
    return;
  }
  throw new Error('expected decryption to fail');
}

describe('envelope encryption', () => {
  it('round-trips a field under the patient data key', async () => {
    const { cipher } = setup();
    const { key } = await cipher.newDataKey('t1', 'p1');
    const ct = cipher.encrypt(key, ref, 'Ana López');
    expect(Buffer.from(ct).toString('utf8')).not.toContain('Ana');
    expect(cipher.decrypt(key, ref, ct)).toBe('Ana López');
  });

  it('refuses a ciphertext moved to another row, field, table or tenant (AAD binding)', async () => {
    const { cipher } = setup();
    const { key } = await cipher.newDataKey('t1', 'p1');
    const ct = cipher.encrypt(key, ref, 'secret');
    for (const other of [{ rowId: 'p2' }, { field: 'birth_date' }, { table: 'notifications' }, { tenantId: 't2' }]) {
      expectDecryptFailure(() => cipher.decrypt(key, { ...ref, ...other }, ct));
    }
  });

  it('refuses a tampered or truncated ciphertext', async () => {
    const { cipher } = setup();
    const { key } = await cipher.newDataKey('t1', 'p1');
    const ct = Buffer.from(cipher.encrypt(key, ref, 'secret'));
    for (const i of [5, 14, ct.length - 1]) {
      const bad = Buffer.from(ct);
      bad[i] ^= 0x01;
      expectDecryptFailure(() => cipher.decrypt(key, ref, bad));
    }
    // A changed format or algorithm byte is refused before any key is used.
    for (const i of [0, 1]) {
      const bad = Buffer.from(ct);
      bad[i] ^= 0x01;
      expectDecryptFailure(
        () => cipher.decrypt(key, ref, bad),
        ['SP_CRYPTO_CIPHERTEXT_MALFORMED', 'SP_CRYPTO_DECRYPT_FAILED'],
      );
    }
    expectDecryptFailure(() => cipher.decrypt(key, ref, ct.subarray(0, 20)), ['SP_CRYPTO_CIPHERTEXT_MALFORMED']);
    expectDecryptFailure(() => cipher.decrypt(key, ref, Buffer.alloc(0)), ['SP_CRYPTO_CIPHERTEXT_MALFORMED']);
  });

  it('unwraps a data key only for the patient it was wrapped for', async () => {
    const { cipher, keyring } = setup();
    const { key, wrapped } = await cipher.newDataKey('t1', 'p1');
    const fresh = new EnvelopeCipher(keyring);
    expect((await fresh.dataKey('t1', 'p1', wrapped)).equals(key)).toBe(true);
    await expect(new EnvelopeCipher(keyring).dataKey('t1', 'p2', wrapped)).rejects.toMatchObject({
      code: 'SP_CRYPTO_DECRYPT_FAILED',
    });
    // Another tenant holds no key of that id at all.
    await expect(new EnvelopeCipher(keyring).dataKey('t2', 'p1', wrapped)).rejects.toMatchObject({
      code: 'SP_CRYPTO_KEY_UNKNOWN',
    });
  });

  it('never serves a cached key for another wrapped key of the same patient id (erased and re-created elsewhere)', async () => {
    const { keyring } = setup();
    // Two nodes sharing one keyring: node B caches patient p1's key; node A erases p1 and creates it again.
    const nodeA = new EnvelopeCipher(keyring);
    const nodeB = new EnvelopeCipher(keyring);
    const first = await nodeA.newDataKey('t1', 'p1');
    expect(await nodeB.dataKey('t1', 'p1', first.wrapped)).toEqual(first.key);
    nodeA.forget('t1', 'p1');
    const second = await nodeA.newDataKey('t1', 'p1');
    const seen = await nodeB.dataKey('t1', 'p1', second.wrapped);
    expect(seen).toEqual(second.key);
    expect(seen).not.toEqual(first.key);
  });

  it('keeps the key a caller holds intact when the cache evicts and zeroizes its own copy', async () => {
    const { keyring } = setup();
    const cipher = new EnvelopeCipher(keyring, { max: 1, ttlMs: 60_000 });
    const a = await cipher.newDataKey('t1', 'p1');
    const held = await new EnvelopeCipher(keyring, { max: 1, ttlMs: 60_000 }).dataKey('t1', 'p1', a.wrapped);
    const copy = Buffer.from(held);
    await cipher.newDataKey('t1', 'p2'); // evicts p1 from a cache of one
    cipher.forget('t1', 'p1');
    expect(a.key).toEqual(copy);
    expect(held).toEqual(copy);
  });

  it('uses a fresh IV each time, so equal plaintexts give different ciphertexts', async () => {
    const { cipher } = setup();
    const { key } = await cipher.newDataKey('t1', 'p1');
    expect(Buffer.from(cipher.encrypt(key, ref, 'x')).equals(Buffer.from(cipher.encrypt(key, ref, 'x')))).toBe(false);
  });

  it('gives equal blind indexes for equal values and different ones per tenant', () => {
    const { cipher } = setup();
    expect(cipher.blindIndex('t1', 'contact.sms', '+14155552671')).toBe(
      cipher.blindIndex('t1', 'contact.sms', '+14155552671'),
    );
    expect(cipher.blindIndex('t1', 'contact.sms', '+14155552671')).not.toBe(
      cipher.blindIndex('t2', 'contact.sms', '+14155552671'),
    );
  });
});

describe('local keyring file', () => {
  it('is created with mode 0600 and reopened with the same keys', async () => {
    const path = join(dir(), 'keyring.json');
    const a = LocalKeyring.openOrCreate(path);
    expect(a.created).toBe(true);
    const b = LocalKeyring.openOrCreate(path);
    expect(b.created).toBe(false);
    const { key, wrapped } = await new EnvelopeCipher(a.keyring).newDataKey('t1', 'p1');
    expect((await new EnvelopeCipher(b.keyring).dataKey('t1', 'p1', wrapped)).equals(key)).toBe(true);
  });

  it('refuses to load a keyring readable by group or others', () => {
    const path = join(dir(), 'keyring.json');
    LocalKeyring.openOrCreate(path);
    chmodSync(path, 0o644);
    expect(() => LocalKeyring.openOrCreate(path)).toThrow(
      expect.objectContaining({ code: 'SP_CRYPTO_KEYRING_INVALID' }),
    );
  });

  it('refuses a keyring that is not valid JSON or has an unknown format', () => {
    const path = join(dir(), 'keyring.json');
    writeFileSync(path, '{not json', { mode: 0o600 });
    expect(() => LocalKeyring.openOrCreate(path)).toThrow(
      expect.objectContaining({ code: 'SP_CRYPTO_KEYRING_INVALID' }),
    );
    writeFileSync(path, JSON.stringify({ format: 'other' }), { mode: 0o600 });
    expect(() => LocalKeyring.openOrCreate(path)).toThrow(
      expect.objectContaining({ code: 'SP_CRYPTO_KEYRING_INVALID' }),
    );
  });
});
