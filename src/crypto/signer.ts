import type { KeyObject } from 'node:crypto';

/**
 * A signing key held by the key provider (its private part may never leave an HSM). Used for
 * non-repudiation: each notification and secure message is signed at creation.
 */
export interface Signer {
  /** Stable id of this key version (appears in proofs and in /.well-known/sealpost-keys.json). */
  readonly keyId: string;
  /** Always 'EdDSA' (Ed25519) for now. */
  readonly alg: 'EdDSA';
  /** The public key, for verification and publication as a JWK. */
  readonly publicKey: KeyObject;
  /** Signs `data` (pure Ed25519, RFC 8032). */
  sign(data: Buffer): Promise<Buffer>;
}

/** A published signing key: current or retired (retired keys still verify old proofs). */
export interface PublishedSigningKey {
  keyId: string;
  alg: 'EdDSA';
  publicKey: KeyObject;
  status: 'current' | 'retired';
  createdAt: string;
  /** Signatures dated before this are not this key's (its creation, from its own record). */
  notBefore: string;
  /**
   * Signatures dated after this are not this key's: set for every retired key, from its own record
   * (the rotation time plus SIGNING_RETIREMENT_GRACE_MS). Absent while the key is current.
   */
  retiredAt?: string;
}
