import { createHash, createHmac, randomBytes, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Signer, PublishedSigningKey } from './signer.js';

/** What every signed header has; `type` says what kind of record it is ('sealpost.notification', later messages). */
export interface SignedHeaderBase {
  v: 1;
  type: string;
  keyId: string;
}

/** The fields a notification signature covers (RFC 8785 canonical JSON of exactly this object). */
export interface NotificationHeader extends SignedHeaderBase {
  type: 'sealpost.notification';
  id: string;
  tenant: string;
  /** Pseudonymous keyed reference of the patient, never the caller's patient id. */
  patientRef: string;
  notificationType: string;
  priority: string;
  /** Server time of creation, ISO 8601 UTC. */
  createdAt: string;
  /** base64url HMAC-SHA256(salt, canonical content): a commitment that reveals nothing without the salt. */
  contentHash: string;
  /** The person's detached signature on the request, bound by digest (the signature itself is stored encrypted). */
  sender: { signerId: string; alg: string; signatureDigest: string } | null;
}

export interface SignedHeader<H extends SignedHeaderBase> {
  header: H;
  /** The exact UTF-8 text that was signed. */
  canonical: string;
  signature: Buffer;
}

export const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** RFC 8785 canonical form; throws on values JSON cannot represent (undefined members, NaN, cycles). */
export function canonicalJson(value: unknown): string {
  const s = canonicalize(value);
  if (typeof s !== 'string') throw new TypeError('value has no canonical JSON form');
  return s;
}

/**
 * Signs any record header with the notary key. Generic over the header so secure messages reuse it:
 * the signature is Ed25519 over the UTF-8 bytes of the header's RFC 8785 canonicalization.
 */
export async function signHeader<H extends SignedHeaderBase>(
  signer: Signer,
  header: Omit<H, 'keyId' | 'v'>,
): Promise<SignedHeader<H>> {
  const full = { ...header, v: 1, keyId: signer.keyId } as H;
  const canonical = canonicalJson(full);
  return { header: full, canonical, signature: await signer.sign(Buffer.from(canonical, 'utf8')) };
}

/** A fresh 256-bit salt for a content commitment. */
export const newContentSalt = () => randomBytes(32);

/**
 * Commitment to a notification's content: HMAC-SHA256 keyed with a random 256-bit salt over the
 * canonical JSON of `{ patientId, data }`. A plain SHA-256 of low-entropy PHI (an appointment time,
 * a patient id) could be confirmed by guessing; without the salt (stored encrypted under the
 * patient's data key, destroyed by erasure) this value says nothing.
 */
export function contentCommitment(salt: Uint8Array, content: { patientId: string; data: unknown }): string {
  return b64url(
    createHmac('sha256', salt)
      .update(canonicalJson({ patientId: content.patientId, data: content.data }), 'utf8')
      .digest(),
  );
}

/** Digest binding a detached signature into the notary header without revealing it. */
export const signatureDigest = (signature: Uint8Array) => b64url(createHash('sha256').update(signature).digest());

/** A public key as a JWK with the members a verifier needs (RFC 8037 for OKP/Ed25519). */
export function publicJwk(publicKey: KeyObject, kid: string, alg: string): Record<string, string> {
  return { ...(publicKey.export({ format: 'jwk' }) as Record<string, string>), kid, alg, use: 'sig' };
}

/** The JWK Set served at /.well-known/sealpost-keys.json: current and retired keys with validity times. */
export function jwkSet(keys: PublishedSigningKey[]) {
  return {
    keys: keys.map((k) => ({
      ...publicJwk(k.publicKey, k.keyId, k.alg),
      status: k.status,
      createdAt: k.createdAt,
      notBefore: k.notBefore,
      ...(k.retiredAt ? { retiredAt: k.retiredAt } : {}),
    })),
  };
}
