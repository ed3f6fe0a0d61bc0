import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { detachedSignatureProblem, ed25519KeyProblem, importPersonKey, type PersonKey } from './signature-checks.js';

interface Vector {
  name: string;
  secretKey: string;
  publicKey: string;
  message: string;
  signature: string;
}
const vectors: Vector[] = JSON.parse(
  readFileSync(join(import.meta.dirname, '../../test/fixtures/rfc8032/ed25519-vectors.json'), 'utf8'),
);
const hex = (s: string) => Buffer.from(s, 'hex');
const b64u = (b: Buffer) => b.toString('base64url');
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function importRaw(pub: Buffer): PersonKey {
  const k = importPersonKey('EdDSA', { key: b64u(pub) });
  if (typeof k === 'string') throw new Error(k);
  return k;
}

/** The 8 small-order points of edwards25519 in their canonical encodings (with both x signs where x ≠ 0). */
const SMALL_ORDER = [
  '0100000000000000000000000000000000000000000000000000000000000000', // identity, order 1
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  '0000000000000000000000000000000000000000000000000000000000000080', // order 4
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', // order 8
];

describe('Ed25519 detached signatures against RFC 8032 §7.1', () => {
  for (const v of vectors) {
    it(`accepts the key and signature of ${v.name}, which node:crypto reproduces from the seed`, () => {
      const seed = createPrivateKey({
        key: Buffer.concat([hex('302e020100300506032b657004220420'), hex(v.secretKey)]),
        format: 'der',
        type: 'pkcs8',
      });
      expect(Buffer.from(createPublicKey(seed).export({ format: 'jwk' }).x!, 'base64url').toString('hex')).toBe(
        v.publicKey,
      );
      expect(sign(null, hex(v.message), seed).toString('hex')).toBe(v.signature);
      const key = importRaw(hex(v.publicKey));
      expect(detachedSignatureProblem('EdDSA', key.publicKey, hex(v.message), b64u(hex(v.signature)))).toBeNull();
    });
  }

  const v = vectors[1];
  const key = () => importRaw(hex(v.publicKey)).publicKey;
  const msg = hex(v.message);

  it('refuses a signature with a flipped message bit', () => {
    expect(detachedSignatureProblem('EdDSA', key(), Buffer.from([msg[0] ^ 1]), b64u(hex(v.signature)))).toBe(
      'signature does not verify',
    );
  });

  it('refuses a truncated signature and an over-long one', () => {
    expect(detachedSignatureProblem('EdDSA', key(), msg, b64u(hex(v.signature).subarray(0, 63)))).toBe(
      'signature has the wrong length',
    );
    expect(
      detachedSignatureProblem('EdDSA', key(), msg, b64u(Buffer.concat([hex(v.signature), Buffer.from([0])]))),
    ).toBe('signature has the wrong length');
  });

  it('refuses the non-canonical S + L form of a valid signature, which OpenSSL also refuses on its own', () => {
    const sig = hex(v.signature);
    const s = BigInt(`0x${Buffer.from(sig.subarray(32)).reverse().toString('hex')}`) + L;
    const sPlusL = Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse();
    const forged = Buffer.concat([sig.subarray(0, 32), sPlusL]);
    expect(verify(null, msg, key(), forged)).toBe(false);
    expect(detachedSignatureProblem('EdDSA', key(), msg, b64u(forged))).toBe('non-canonical signature (S >= L)');
  });

  it('refuses signatures that are not strict base64url', () => {
    const std = hex(v.signature).toString('base64');
    expect(
      detachedSignatureProblem('EdDSA', key(), msg, std.includes('+') || std.includes('/') ? std : `${std}=`),
    ).toBe('signature is not base64url');
  });
});

describe('Ed25519 public keys at registration', () => {
  it('node:crypto alone imports the identity point as a key; Sealpost refuses it at registration', () => {
    // Why the explicit check exists: with such a key, OpenSSL 3.0 (Node 20) verifies the signature
    // (R = identity, S = 0) of any message, so a registered key could "sign" everything. Newer
    // OpenSSL (Node 24) refuses that signature, but still imports the key: the check stays ours.
    const identity = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: b64u(hex(SMALL_ORDER[0])) },
      format: 'jwk',
    });
    expect(identity.asymmetricKeyType).toBe('ed25519');
    expect(importPersonKey('EdDSA', { jwk: identity.export({ format: 'jwk' }) as never })).toBe('small-order point');
  });

  for (const p of SMALL_ORDER) {
    it(`refuses the small-order point ${p.slice(0, 8)}… given raw or as a JWK`, () => {
      expect(importPersonKey('EdDSA', { key: b64u(hex(p)) })).toBe('small-order point');
      expect(importPersonKey('EdDSA', { jwk: { kty: 'OKP', crv: 'Ed25519', x: b64u(hex(p)) } })).toBe(
        'small-order point',
      );
    });
  }

  it('refuses a small-order point wrapped in SPKI DER', () => {
    const spki = Buffer.concat([hex('302a300506032b6570032100'), hex(SMALL_ORDER[0])]);
    expect(importPersonKey('EdDSA', { key: b64u(spki) })).toBe('small-order point');
  });

  it('refuses non-canonical point encodings with y >= p (p, p + 1 and 2^255 - 1)', () => {
    for (const y of [
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ]) {
      expect(ed25519KeyProblem(hex(y))).toBe('non-canonical point encoding (y >= p)');
      expect(importPersonKey('EdDSA', { key: b64u(hex(y)) })).toBe('non-canonical point encoding (y >= p)');
    }
  });

  it('refuses private JWKs, wrong curves and keys of the wrong length', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    expect(importPersonKey('EdDSA', { jwk: privateKey.export({ format: 'jwk' }) as Record<string, unknown> })).toMatch(
      /private key/,
    );
    expect(
      importPersonKey('EdDSA', { jwk: { kty: 'OKP', crv: 'X25519', x: b64u(hex(vectors[0].publicKey)) } }),
    ).toMatch(/Ed25519/);
    expect(importPersonKey('EdDSA', { key: b64u(hex(vectors[0].publicKey).subarray(1)) })).toMatch(
      /could not be imported/,
    );
  });

  it('gives the RFC 7638 thumbprint of the key whichever form it was registered in', () => {
    const raw = importRaw(hex(vectors[0].publicKey));
    const jwk = importPersonKey('EdDSA', {
      jwk: { kty: 'OKP', crv: 'Ed25519', x: b64u(hex(vectors[0].publicKey)) },
    }) as PersonKey;
    // RFC 8037 Appendix A.3 gives this thumbprint for the RFC 8032 TEST 1 public key.
    expect(raw.thumbprint).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
    expect(jwk.thumbprint).toBe(raw.thumbprint);
  });
});

describe('P-256 (ES256) keys and signatures', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = Buffer.from('{"a":1}');
  const p1363 = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });

  it('accepts a JWK or SPKI key and an IEEE P1363 signature', () => {
    for (const input of [
      { jwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown> },
      { key: b64u(publicKey.export({ format: 'der', type: 'spki' })) },
    ]) {
      const k = importPersonKey('ES256', input) as PersonKey;
      expect(detachedSignatureProblem('ES256', k.publicKey, data, b64u(p1363))).toBeNull();
    }
  });

  it('refuses DER-encoded signatures (the format is P1363) and tampered data', () => {
    const k = importPersonKey('ES256', {
      jwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown>,
    }) as PersonKey;
    expect(detachedSignatureProblem('ES256', k.publicKey, data, b64u(sign('sha256', data, privateKey)))).not.toBeNull();
    expect(detachedSignatureProblem('ES256', k.publicKey, Buffer.from('{"a":2}'), b64u(p1363))).toBe(
      'signature does not verify',
    );
  });

  it('refuses a point that is not on the curve, an Ed25519 key under ES256 and a P-384 key', () => {
    const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>;
    const y = Buffer.from(jwk.y, 'base64url');
    y[31] ^= 1;
    expect(importPersonKey('ES256', { jwk: { ...jwk, y: b64u(y) } })).toMatch(/could not be imported/);
    const ed = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
    expect(importPersonKey('ES256', { key: b64u(ed) })).toBe('the key is not a P-256 key');
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'der', type: 'spki' });
    expect(importPersonKey('ES256', { key: b64u(p384) })).toBe('the key is not a P-256 key');
  });
});
