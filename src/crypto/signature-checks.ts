import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';

/** Algorithms of person-held (device) keys, in JOSE names: Ed25519 (RFC 8032) and ECDSA P-256 with SHA-256. */
export const PERSON_ALGS = ['EdDSA', 'ES256'] as const;
export type PersonAlg = (typeof PERSON_ALGS)[number];

/** Field prime of edwards25519 and the order of its prime-order subgroup (RFC 8032 §5.1). */
const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

const le = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).reverse().toString('hex') || '0'}`);

/**
 * y-coordinates (sign bit cleared) of the 8 points of small order on edwards25519: the identity
 * (y = 1), the point of order 2 (y = p − 1), the two of order 4 (y = 0, x = ±sqrt(−1)) and the four
 * of order 8 (two y values, each with both signs of x). Encodings from the widely used blocklist of
 * "Taming the many EdDSAs" (Chalkias et al., 2020).
 */
const SMALL_ORDER_Y = new Set<bigint>([
  0n,
  1n,
  P - 1n,
  le(Buffer.from('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', 'hex')),
  le(Buffer.from('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', 'hex')),
]);

/**
 * Why a 32-byte Ed25519 public key must be refused, or null. OpenSSL (node:crypto) imports both
 * kinds below, and with the identity as public key the signature (R = identity, S = 0) verifies for
 * every message, so a person could register a key that "signed" anything and later deny all of it.
 */
export function ed25519KeyProblem(raw: Uint8Array): string | null {
  if (raw.length !== 32) return 'an Ed25519 public key is 32 bytes';
  const y = le(raw) & ((1n << 255n) - 1n);
  if (y >= P) return 'non-canonical point encoding (y >= p)';
  if (SMALL_ORDER_Y.has(y)) return 'small-order point';
  return null;
}

export interface PersonKey {
  alg: PersonAlg;
  publicKey: KeyObject;
  /** SPKI DER, the stored form. */
  spki: Buffer;
  /** RFC 7638 JWK thumbprint (SHA-256, base64url): a stable fingerprint of the key. */
  thumbprint: string;
}

/** Decodes strict unpadded base64url (RFC 4648 §5); null for anything else. */
export function fromB64url(s: unknown): Buffer | null {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) return null;
  const b = Buffer.from(s, 'base64url');
  return b.toString('base64url') === s ? b : null;
}

/**
 * Imports a person's public key given as a JWK or as base64url bytes (Ed25519: the raw 32 bytes or
 * SPKI DER; P-256: SPKI DER). Returns a reason (PHI-free, no key material echoed) instead of throwing.
 * Private JWKs are refused: a device key's private half must never be sent to the server.
 */
export function importPersonKey(
  alg: PersonAlg,
  input: { jwk?: Record<string, unknown>; key?: string },
): PersonKey | string {
  let publicKey: KeyObject;
  try {
    if (input.jwk) {
      if ('d' in input.jwk) return 'a private key was sent; send the public key only';
      const { kty, crv, x, y } = input.jwk;
      if (alg === 'EdDSA') {
        if (kty !== 'OKP' || crv !== 'Ed25519') return 'EdDSA keys are JWKs with kty OKP and crv Ed25519';
        const raw = fromB64url(x);
        if (!raw) return 'x is not base64url';
        const problem = ed25519KeyProblem(raw);
        if (problem) return problem;
        publicKey = createPublicKey({ key: { kty, crv, x: x as string }, format: 'jwk' });
      } else {
        if (kty !== 'EC' || crv !== 'P-256') return 'ES256 keys are JWKs with kty EC and crv P-256';
        if (!fromB64url(x) || !fromB64url(y)) return 'x and y must be base64url';
        // node:crypto (OpenSSL) rejects coordinates that are not a point on the curve.
        publicKey = createPublicKey({ key: { kty, crv, x: x as string, y: y as string }, format: 'jwk' });
      }
    } else {
      const bytes = fromB64url(input.key);
      if (!bytes || !bytes.length) return 'publicKey must be base64url';
      if (alg === 'EdDSA' && bytes.length === 32) {
        const problem = ed25519KeyProblem(bytes);
        if (problem) return problem;
        publicKey = createPublicKey({
          key: { kty: 'OKP', crv: 'Ed25519', x: bytes.toString('base64url') },
          format: 'jwk',
        });
      } else {
        publicKey = createPublicKey({ key: bytes, format: 'der', type: 'spki' });
      }
    }
  } catch {
    return 'the key could not be imported (not a valid point or encoding)';
  }
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  if (alg === 'EdDSA') {
    if (publicKey.asymmetricKeyType !== 'ed25519') return 'the key is not an Ed25519 key';
    // SPKI input reaches here without the raw-byte checks: apply them to the imported point.
    const problem = ed25519KeyProblem(Buffer.from(jwk.x, 'base64url'));
    if (problem) return problem;
  } else if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    return 'the key is not a P-256 key';
  }
  // RFC 7638 §3: the required members in lexicographic order, no whitespace, which is exactly RFC 8785.
  const members =
    alg === 'EdDSA' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  const thumbprint = createHash('sha256').update(canonicalize(members)!, 'utf8').digest('base64url');
  return { alg, publicKey, spki: publicKey.export({ format: 'der', type: 'spki' }), thumbprint };
}

/**
 * Why a detached signature does not verify, or null when it does.
 * - EdDSA: 64 bytes R ‖ S; S must be < L (RFC 8032 §5.1.7; a signature with S + L is the same
 *   signature in another encoding and is refused, as OpenSSL also does).
 * - ES256: IEEE P1363 encoding r ‖ s (64 bytes, what WebCrypto and JWS produce), SHA-256. High-S
 *   values are accepted: WebCrypto and device keystores do not normalise s, and (r, n − s) is only a
 *   second encoding of a signature on the same bytes, never a signature on other bytes.
 */
export function detachedSignatureProblem(
  alg: PersonAlg,
  publicKey: KeyObject,
  data: Uint8Array,
  signature: string,
): string | null {
  const sig = fromB64url(signature);
  if (!sig) return 'signature is not base64url';
  if (sig.length !== 64) return 'signature has the wrong length';
  if (alg === 'EdDSA') {
    if (publicKey.asymmetricKeyType !== 'ed25519') return 'key and algorithm differ';
    if (le(sig.subarray(32)) >= L) return 'non-canonical signature (S >= L)';
    return verify(null, data, publicKey, sig) ? null : 'signature does not verify';
  }
  if (publicKey.asymmetricKeyType !== 'ec') return 'key and algorithm differ';
  return verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig)
    ? null
    : 'signature does not verify';
}
