import { randomBytes } from 'node:crypto';
import type { KeyProvider } from './key-provider.js';
import { open, seal } from './aead.js';
import { blindIndex } from './tokens.js';

/** Where a field ciphertext belongs; bound into the AAD so a ciphertext moved elsewhere fails to open. */
export interface FieldRef {
  tenantId: string;
  table: string;
  rowId: string;
  field: string;
}

export interface WrappedDataKey {
  keyId: string;
  wrapped: Buffer;
}

const fieldAad = (r: FieldRef) => `sealpost/v1|${r.tenantId}|${r.table}|${r.rowId}|${r.field}`;
const dataKeyAad = (tenantId: string, patientId: string) => `sealpost/v1|${tenantId}|data_keys|${patientId}`;

/**
 * Envelope encryption: each patient has a random 256-bit data key, stored only wrapped by the
 * tenant key (KeyProvider). Fields are AES-256-GCM under the data key. Unwrapped data keys are kept
 * in a small bounded cache with a short TTL so hot patients do not hit the key provider each time.
 */
export class EnvelopeCipher {
  private readonly cache = new Map<string, { key: Buffer; expires: number }>();

  constructor(
    private readonly keys: KeyProvider,
    private readonly cacheOptions = { max: 10_000, ttlMs: 5 * 60_000 },
  ) {}

  async newDataKey(tenantId: string, patientId: string): Promise<{ key: Buffer; wrapped: WrappedDataKey }> {
    const key = randomBytes(32);
    const wrapped = await this.keys.wrapDataKey(tenantId, key, dataKeyAad(tenantId, patientId));
    this.remember(`${tenantId}/${patientId}`, key);
    return { key, wrapped };
  }

  async dataKey(tenantId: string, patientId: string, wrapped: WrappedDataKey): Promise<Buffer> {
    const id = `${tenantId}/${patientId}`;
    const hit = this.cache.get(id);
    if (hit && hit.expires > Date.now()) return hit.key;
    const key = await this.keys.unwrapDataKey(tenantId, wrapped.keyId, wrapped.wrapped, dataKeyAad(tenantId, patientId));
    this.remember(id, key);
    return key;
  }

  /** Drops a cached data key (after crypto-shredding, for instance) and overwrites its bytes. */
  forget(tenantId: string, patientId: string): void {
    const id = `${tenantId}/${patientId}`;
    this.cache.get(id)?.key.fill(0);
    this.cache.delete(id);
  }

  encrypt(dataKey: Buffer, ref: FieldRef, value: string): Buffer {
    return seal(dataKey, Buffer.from(value, 'utf8'), fieldAad(ref));
  }

  decrypt(dataKey: Buffer, ref: FieldRef, sealed: Uint8Array): string {
    return open(dataKey, sealed, fieldAad(ref)).toString('utf8');
  }

  encryptJson(dataKey: Buffer, ref: FieldRef, value: unknown): Buffer {
    return this.encrypt(dataKey, ref, JSON.stringify(value));
  }

  decryptJson<T>(dataKey: Buffer, ref: FieldRef, sealed: Uint8Array): T {
    return JSON.parse(this.decrypt(dataKey, ref, sealed)) as T;
  }

  blindIndex(tenantId: string, field: string, normalisedValue: string): string {
    return blindIndex(this.keys.blindIndexKey(tenantId), field, normalisedValue);
  }

  private remember(id: string, key: Buffer): void {
    if (this.cache.size >= this.cacheOptions.max) {
      // Map iteration order is insertion order: the first entry is the oldest. Not zeroized here:
      // a caller may still hold this Buffer between an await and its use, and zeroing it would
      // silently encrypt under an all-zero key.
      this.cache.delete(this.cache.keys().next().value as string);
    }
    this.cache.set(id, { key, expires: Date.now() + this.cacheOptions.ttlMs });
  }
}
