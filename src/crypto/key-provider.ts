import type { KeyObject } from 'node:crypto';
import type { PublishedSigningKey, Signer } from './signer.js';

/** What a key version is for. */
export type KeyPurpose = 'kek' | 'signing' | 'blind-index';

/** `current`: used for new wraps/signatures/indexes. `retired`: still opens old data, never used for new. */
export type KeyStatus = 'current' | 'retired';

/**
 * A signing key's published validity ends this long after the rotation that retired it: nodes that
 * were signing with it when the rotation landed (the check before each signature, clocks a little
 * apart) still produce signatures dated inside its validity. Recorded in the key's own record.
 */
export const SIGNING_RETIREMENT_GRACE_MS = 10_000;

/** Public facts about one key version (never key material). */
export interface KeyVersionInfo {
  /** Globally unique, stable id; recorded beside each wrapped data key and in ciphertext headers. */
  keyId: string;
  purpose: KeyPurpose;
  /** The tenant of a KEK; `null` for installation-wide keys (signing, blind index). */
  tenantId: string | null;
  /** 1, 2, 3 … per purpose (and tenant for KEKs); the highest live version is the current one. */
  version: number;
  status: KeyStatus;
  createdAt: string;
  /** Retired versions: when (from the version's own record; signing keys include the grace above). */
  retiredAt?: string;
}

/** A data key wrapped by a KEK; `keyId` is stored in `data_keys.key_id`. */
export interface WrappedDataKey {
  keyId: string;
  wrapped: Buffer;
}

/**
 * Where Sealpost's keys live: the local keyring file (default) or a PKCS#11 token (HSM). A cloud KMS
 * is one more implementation of this port plus one branch in `open-key-provider.ts`.
 *
 * Operations are preferred over key bytes so an HSM can keep its keys inside (wrap/unwrap, sign).
 * The synchronous members (blind index, MAC keys) are called on every request path that is itself
 * synchronous; an HSM provider derives their keys inside the token once at start and keeps only the
 * derived keys in memory.
 */
export interface KeyProvider {
  /** `local`, `pkcs11`, … (shown by `sealpost keys list`). */
  readonly kind: string;

  /** Id of the tenant's current KEK, the one `wrapDataKey` uses now. */
  currentKeyId(tenantId: string): string;
  /**
   * Encrypts a 32-byte data key under the tenant's current KEK, binding `aad`. The result carries a
   * header naming the KEK id and version (see aead.ts), and `keyId` equals that id.
   */
  wrapDataKey(tenantId: string, dataKey: Buffer, aad: string): Promise<WrappedDataKey>;
  /**
   * Decrypts a wrapped data key with the KEK named by `keyId` (current or retired). Re-reads the key
   * store once when the id is unknown (another process may have rotated). Rejects with
   * SP_CRYPTO_KEY_UNKNOWN (no such key, or a destroyed one), SP_CRYPTO_CIPHERTEXT_MALFORMED (truncated
   * or unknown format) or SP_CRYPTO_DECRYPT_FAILED (altered, other `aad`, header names another key).
   */
  unwrapDataKey(tenantId: string, keyId: string, wrapped: Buffer, aad: string): Promise<Buffer>;

  /**
   * Keyed blind index (hex HMAC-SHA256) of `field` + value. `version` selects a blind-index key version
   * (default: the current one); `'reference'` selects the stable key of pseudonymous references and
   * request fingerprints, which never rotates because the immutable audit log holds such references.
   * Throws SP_CRYPTO_KEY_UNKNOWN for a version that is not held.
   */
  blindIndex(tenantId: string, field: string, normalisedValue: string, version?: number | 'reference'): string;
  /** Blind-index versions to look up with: the current first, then retired ones not yet destroyed. */
  blindIndexVersions(): number[];
  /** A 32-byte secret for one purpose (webhook signing, dev outbox, keyring fingerprint); stable across rotation. */
  macKey(purpose: string): Buffer;
  /** The Ed25519 key that signs audit checkpoints. Never rotates: outsiders pin its verifier key. */
  auditLogKey(): { privateKey: KeyObject; publicKey: KeyObject };

  /**
   * The current notification-signing key (the private part may stay inside an HSM). Checks the key
   * store first (a cheap look at the current key's record), so a rotation made by another process is
   * followed at once, not only at the next `refresh()`.
   */
  signer(): Signer;
  /**
   * Every signing key version still published: the current one and retired ones (old proofs verify),
   * each with `notBefore` and, once retired, `retiredAt` from its own record.
   */
  publishedSigningKeys(): PublishedSigningKey[];

  /** Every key version held, all purposes and tenants. */
  listKeys(): KeyVersionInfo[];
  /**
   * Creates a new version for `purpose` (for a KEK: of `tenantId`'s KEK) and makes it current; the
   * previous current version becomes retired. Durable before it resolves (file fsynced / token object).
   */
  createKeyVersion(purpose: KeyPurpose, tenantId: string | null): Promise<KeyVersionInfo>;
  /**
   * Destroys a retired version (local: removed from the file; HSM: C_DestroyObject). A signing key's
   * public part stays published. Callers check first that no stored data still needs it
   * (`retireKey` in core/key-rotation.ts). Throws SP_CRYPTO_KEY_IN_USE for the current version,
   * SP_CRYPTO_KEY_UNKNOWN for an unknown id.
   */
  destroyKeyVersion(keyId: string): Promise<void>;
  /** Re-reads the key store so versions created by another process become visible; true if anything changed. */
  refresh(): Promise<boolean>;
  /** Releases the provider (HSM session); further calls are undefined. */
  close(): Promise<void>;
}
