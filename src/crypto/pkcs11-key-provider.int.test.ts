import { verify } from 'node:crypto';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { Pkcs11KeyProvider } from './pkcs11-key-provider.js';
import { EnvelopeCipher } from './envelope-cipher.js';
import { SIGNING_RETIREMENT_GRACE_MS } from './key-provider.js';
import { canonicalJson, jwkSet, publicJwk } from './notary.js';
import { verifyProof } from './proof-verifier.js';
import type { Signer } from './signer.js';
import { createSoftHsm, SOFTHSM_LIBRARY, type SoftHsm } from '../../test/helpers/softhsm-token.js';

// SoftHSM2 reads SOFTHSM2_CONF when the module is initialised: one token store for this file.
let hsm: SoftHsm;
let n = 0;
beforeAll(() => {
  hsm = createSoftHsm();
  process.env.SOFTHSM2_CONF = hsm.conf;
});

async function fresh() {
  const tokenLabel = `t${++n}`;
  const pin = hsm.initToken(tokenLabel);
  const { provider, created } = await Pkcs11KeyProvider.open({ library: SOFTHSM_LIBRARY, tokenLabel, pin });
  return { provider, created, tokenLabel, pin };
}

describe('PKCS#11 key provider (SoftHSM2)', () => {
  it('creates its keys on an empty token as non-extractable, sensitive token objects', async () => {
    const { provider, created } = await fresh();
    expect(created).toBe(true);
    expect(provider.listKeys().map((k) => [k.purpose, k.version, k.status])).toEqual(
      expect.arrayContaining([
        ['kek', 1, 'current'],
        ['signing', 1, 'current'],
        ['blind-index', 1, 'current'],
      ]),
    );
    // Ask the token itself, through its own API, about the KEK object's attributes.
    const s = (
      provider as unknown as {
        s: { p11: any; session: Buffer; objects(): { label: string; handle: Buffer; cls: number }[] };
      }
    ).s;
    const p = createRequire(import.meta.url)('pkcs11js');
    for (const o of s.objects().filter((x) => x.cls !== 2)) {
      const [ext, sens] = s.p11.C_GetAttributeValue(s.session, o.handle, [
        { type: p.CKA_EXTRACTABLE },
        { type: p.CKA_SENSITIVE },
      ]);
      expect([o.label, ext.value[0], sens.value[0]]).toEqual([o.label, 0, 1]);
    }
    await provider.close();
  });

  it('wraps and unwraps data keys inside the token, binding the AAD, and refuses altered or truncated ones', async () => {
    const { provider } = await fresh();
    const cipher = new EnvelopeCipher(provider, { max: 0, ttlMs: 0 });
    const { key, wrapped } = await cipher.newDataKey('default', 'p1');
    expect(wrapped.keyId).toBe('sealpost:kek:default:v1');
    expect((await cipher.dataKey('default', 'p1', wrapped)).equals(key)).toBe(true);
    await expect(cipher.dataKey('default', 'p2', wrapped)).rejects.toMatchObject({ code: 'SP_CRYPTO_DECRYPT_FAILED' });
    const bad = Buffer.from(wrapped.wrapped);
    bad[bad.length - 1]! ^= 1;
    await expect(cipher.dataKey('default', 'p1', { ...wrapped, wrapped: bad })).rejects.toMatchObject({
      code: 'SP_CRYPTO_DECRYPT_FAILED',
    });
    await expect(
      cipher.dataKey('default', 'p1', { ...wrapped, wrapped: wrapped.wrapped.subarray(0, 40) }),
    ).rejects.toMatchObject({ code: 'SP_CRYPTO_CIPHERTEXT_MALFORMED' });
    await provider.close();
  });

  it('rotates the KEK: old data opens until the old version is destroyed in the token', async () => {
    const { provider } = await fresh();
    const cipher = new EnvelopeCipher(provider, { max: 0, ttlMs: 0 });
    const { key, wrapped } = await cipher.newDataKey('default', 'p1');
    const v2 = await provider.createKeyVersion('kek', 'default');
    expect(provider.currentKeyId('default')).toBe(v2.keyId);
    expect((await cipher.newDataKey('default', 'p2')).wrapped.keyId).toBe(v2.keyId);
    expect((await cipher.dataKey('default', 'p1', wrapped)).equals(key)).toBe(true);
    await expect(provider.destroyKeyVersion(v2.keyId)).rejects.toMatchObject({ code: 'SP_CRYPTO_KEY_IN_USE' });
    await provider.destroyKeyVersion(wrapped.keyId);
    await expect(cipher.dataKey('default', 'p1', wrapped)).rejects.toMatchObject({ code: 'SP_CRYPTO_KEY_UNKNOWN' });
    await provider.close();
  });

  it('signs with Ed25519 inside the token and keeps a destroyed signing key published', async () => {
    const { provider } = await fresh();
    const old = provider.signer();
    const sig = await old.sign(Buffer.from('proof'));
    expect(verify(null, Buffer.from('proof'), old.publicKey, sig)).toBe(true);
    await provider.createKeyVersion('signing', null);
    await provider.destroyKeyVersion(old.keyId);
    const published = provider.publishedSigningKeys();
    expect(published.map((k) => k.status)).toEqual(['current', 'retired']);
    expect(verify(null, Buffer.from('proof'), published[1]!.publicKey, sig)).toBe(true);
    expect(provider.signer().keyId).toBe('sealpost:sig:v2');
    await provider.close();
  });

  it("publishes notBefore and retiredAt from each signing key's own token record; the old key cannot sign a later date", async () => {
    const { provider, tokenLabel, pin } = await fresh();
    const other = (await Pkcs11KeyProvider.open({ library: SOFTHSM_LIBRARY, tokenLabel, pin })).provider;
    const old = other.signer();
    const before = Date.now();
    const proofAt = async (signer: Signer, createdAt: string) => {
      const fields = {
        v: 1,
        type: 'sealpost.notification',
        id: 'n1',
        tenant: 'default',
        patientRef: 'ref',
        notificationType: 'test_result_ready',
        priority: 'routine',
        createdAt,
        contentHash: 'x',
        keyId: signer.keyId,
        sender: null,
      };
      const signed = canonicalJson(fields);
      return {
        format: 'sealpost-proof-v1',
        notificationId: 'n1',
        alg: 'EdDSA',
        keyId: signer.keyId,
        signature: (await signer.sign(Buffer.from(signed))).toString('base64url'),
        signed,
        fields,
        publicKey: publicJwk(signer.publicKey, signer.keyId, 'EdDSA'),
        salt: null,
        sender: null,
      };
    };
    const genuine = await proofAt(old, new Date().toISOString());
    // One process rotates; the other follows at its next signature, without a refresh.
    const v2 = await provider.createKeyVersion('signing', null);
    expect(other.signer().keyId).toBe(v2.keyId);
    const published = other.publishedSigningKeys();
    const retired = published.find((k) => k.keyId === old.keyId)!;
    expect(retired).toMatchObject({ status: 'retired', notBefore: retired.createdAt });
    expect(Date.parse(retired.retiredAt!)).toBeGreaterThanOrEqual(before + SIGNING_RETIREMENT_GRACE_MS);
    expect(published.find((k) => k.keyId === v2.keyId)).not.toHaveProperty('retiredAt');
    // Whoever can still use the old key (before its destruction) signs a proof dated after its retirement.
    const forged = await proofAt(old, new Date(Date.parse(retired.retiredAt!) + 3_600_000).toISOString());
    // The same retiredAt from a fresh session (it is on the token, in the key's own record), and after destruction.
    await provider.destroyKeyVersion(old.keyId);
    const third = (await Pkcs11KeyProvider.open({ library: SOFTHSM_LIBRARY, tokenLabel, pin })).provider;
    expect(third.publishedSigningKeys().find((k) => k.keyId === old.keyId)?.retiredAt).toBe(retired.retiredAt);
    expect(third.listKeys().find((k) => k.keyId === old.keyId)?.retiredAt).toBe(retired.retiredAt);
    const keys = jwkSet(third.publishedSigningKeys());
    expect(verifyProof(genuine, keys)).toMatchObject({ ok: true });
    expect(verifyProof(forged).ok).toBe(true);
    expect(verifyProof(forged, keys)).toMatchObject({ ok: false, problems: ['signed after the key was retired'] });
    await third.close();
    await other.close();
    await provider.close();
  });

  it('derives the same MAC and blind-index keys in another session, so every node computes equal indexes', async () => {
    const { provider, tokenLabel, pin } = await fresh();
    const other = (await Pkcs11KeyProvider.open({ library: SOFTHSM_LIBRARY, tokenLabel, pin })).provider;
    expect(other.macKey('x').equals(provider.macKey('x'))).toBe(true);
    expect(other.blindIndex('default', 'contact.sms', '+1', 1)).toBe(
      provider.blindIndex('default', 'contact.sms', '+1', 1),
    );
    expect(other.blindIndex('default', 'contact.sms', '+1', 'reference')).not.toBe(
      provider.blindIndex('default', 'contact.sms', '+1', 1),
    );
    const v2 = await other.createKeyVersion('blind-index', null);
    expect(await provider.refresh()).toBe(true);
    expect(provider.blindIndexVersions()).toEqual([v2.version, 1]);
    await other.close();
    await provider.close();
  });

  it('refuses a wrong PIN, an unknown token and an unloadable module with clear codes', async () => {
    hsm.initToken('locked-out', '111111');
    await expect(
      Pkcs11KeyProvider.open({ library: SOFTHSM_LIBRARY, tokenLabel: 'locked-out', pin: '999999' }),
    ).rejects.toMatchObject({ code: 'SP_CRYPTO_HSM_LOGIN_FAILED' });
    await expect(
      Pkcs11KeyProvider.open({ library: SOFTHSM_LIBRARY, tokenLabel: 'no-such-token', pin: '111111' }),
    ).rejects.toMatchObject({ code: 'SP_CRYPTO_HSM_UNAVAILABLE' });
    await expect(Pkcs11KeyProvider.open({ library: SOFTHSM_LIBRARY, slot: 4242, pin: '111111' })).rejects.toMatchObject(
      { code: 'SP_CRYPTO_HSM_UNAVAILABLE' },
    );
    await expect(
      Pkcs11KeyProvider.open({ library: '/nonexistent/libpkcs11.so', tokenLabel: 'x', pin: '1' }),
    ).rejects.toMatchObject({ code: 'SP_CRYPTO_HSM_UNAVAILABLE' });
    await expect(
      Pkcs11KeyProvider.open({ library: SOFTHSM_LIBRARY, tokenLabel: 'locked-out', pin: '' }),
    ).rejects.toMatchObject({ code: 'SP_CRYPTO_HSM_UNAVAILABLE' });
  });
});
