import type { KeyObject } from 'node:crypto';

/**
 * Where key-encryption keys live. The local keyring is the default; an HSM (PKCS#11) or a cloud KMS
 * is another implementation of this port. Data keys never leave the process unwrapped except through
 * `unwrapDataKey`'s return value.
 */
export interface KeyProvider {
  /** Identifier of the key that `wrapDataKey` uses now for this tenant (recorded beside each wrapped key). */
  currentKeyId(tenantId: string): string;
  /** Encrypts a 32-byte data key under the tenant's current key-encryption key, binding `aad`. */
  wrapDataKey(tenantId: string, dataKey: Buffer, aad: string): Promise<{ keyId: string; wrapped: Buffer }>;
  /**
   * Decrypts a wrapped data key. Rejects with SP_CRYPTO_DECRYPT_FAILED if the key id is unknown,
   * the ciphertext was altered or `aad` differs from the one used to wrap.
   */
  unwrapDataKey(tenantId: string, keyId: string, wrapped: Buffer, aad: string): Promise<Buffer>;
  /** Secret for keyed blind indexes (HMAC-SHA256) of searchable PHI, per tenant. */
  blindIndexKey(tenantId: string): Buffer;
  /** Secret used for API-independent MACs such as webhook signing when none is configured. */
  macKey(purpose: string): Buffer;
  /** The Ed25519 key that signs audit-log checkpoints (private part never leaves the provider's process). */
  auditLogKey(): { privateKey: KeyObject; publicKey: KeyObject };
}
