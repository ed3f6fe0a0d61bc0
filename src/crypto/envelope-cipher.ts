import { createHash, randomBytes } from 'node:crypto';
import type { KeyProvider, WrappedDataKey } from './key-provider.js';
import { open, seal } from './aead.js';

export type { WrappedDataKey } from './key-provider.js';

/** Where a field ciphertext belongs; bound into the AAD so a ciphertext moved elsewhere fails to open. */
export interface FieldRef {
  tenantId: string;
  table: string;
  rowId: string;
  field: string;
}

const fieldAad = (r: FieldRef) => `sealpost/v1|${r.tenantId}|${r.table}|${r.rowId}|${r.field}`;
export const dataKeyAad = (tenantId: string, patientId: string) => `sealpost/v1|${tenantId}|data_keys|${patientId}`;

/**
 * Blind indexes of contact points and patient identifiers (searchable PHI) rotate; their stored form
 * names the key version.
 */
const ROTATING_PREFIXES = ['contact.', 'identifier.'];
const rotates = (field: string) => ROTATING_PREFIXES.some((p) => field.startsWith(p));

/**
 * Stored form of a contact blind index under key version `v`: version 1 is bare hex (as written before
 * versions existed), later versions are `v<n>:<hex>`, so a re-index can find rows not yet moved.
 */
export const versionedIndex = (v: number, hex: string) => (v === 1 ? hex : `v${v}:${hex}`);

/**
 * Cache entries are per wrapped key, not per patient: after an erasure and a new patient under the same
 * id (on another node, whose cache this node's erasure did not reach), or after a re-wrap, the stored
 * wrapped key differs, so a stale cached key is never used to encrypt or decrypt.
 */
const cacheId = (tenantId: string, patientId: string, wrapped: WrappedDataKey) =>
  `${tenantId}/${patientId}/${createHash('sha256').update(wrapped.wrapped).digest('hex').slice(0, 32)}`;

export interface DataKeyCacheOptions {
  /** Most unwrapped keys held at once; 0 disables the cache (every read asks the key provider). */
  max: number;
  ttlMs: number;
}

/**
 * Envelope encryption: each patient has a random 256-bit data key, stored only wrapped by the
 * tenant KEK (KeyProvider). Fields are AES-256-GCM under the data key. Unwrapped data keys are kept
 * in a bounded cache with a short TTL so hot patients do not hit the key provider each time; callers
 * get a copy, so the cached bytes can be zeroized when evicted without pulling a key from under a
 * caller that is between an await and its use.
 */
export class EnvelopeCipher {
  private readonly cache = new Map<string, { key: Buffer; expires: number }>();

  constructor(
    readonly keys: KeyProvider,
    private readonly cacheOptions: DataKeyCacheOptions = { max: 10_000, ttlMs: 5 * 60_000 },
  ) {}

  async newDataKey(tenantId: string, patientId: string): Promise<{ key: Buffer; wrapped: WrappedDataKey }> {
    const key = randomBytes(32);
    const wrapped = await this.keys.wrapDataKey(tenantId, key, dataKeyAad(tenantId, patientId));
    this.remember(cacheId(tenantId, patientId, wrapped), Buffer.from(key));
    return { key, wrapped };
  }

  async dataKey(tenantId: string, patientId: string, wrapped: WrappedDataKey): Promise<Buffer> {
    const id = cacheId(tenantId, patientId, wrapped);
    const hit = this.cache.get(id);
    if (hit && hit.expires > Date.now()) return Buffer.from(hit.key);
    if (hit) this.evict(id);
    const key = await this.keys.unwrapDataKey(
      tenantId,
      wrapped.keyId,
      wrapped.wrapped,
      dataKeyAad(tenantId, patientId),
    );
    // The cache holds its own copy: zeroizing it on eviction must not wipe the caller's.
    this.remember(id, Buffer.from(key));
    return key;
  }

  /** Drops a cached data key (after crypto-shredding, for instance) and overwrites its bytes. */
  forget(tenantId: string, patientId: string): void {
    const prefix = `${tenantId}/${patientId}/`;
    for (const id of [...this.cache.keys()]) if (id.startsWith(prefix)) this.evict(id);
  }

  /** Drops and zeroizes every cached data key. */
  clear(): void {
    for (const id of [...this.cache.keys()]) this.evict(id);
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

  /**
   * Keyed blind index. Contact fields (`contact.*`) and patient identifiers (`identifier.*`) use the
   * current blind-index key version, in its stored form; every other field (pseudonymous references, request fingerprints) uses the stable
   * reference key, because those values sit in the immutable audit log and in idempotency records.
   */
  blindIndex(tenantId: string, field: string, normalisedValue: string): string {
    if (!rotates(field)) return this.keys.blindIndex(tenantId, field, normalisedValue, 'reference');
    const v = this.keys.blindIndexVersions()[0]!;
    return versionedIndex(v, this.keys.blindIndex(tenantId, field, normalisedValue, v));
  }

  /**
   * Every stored form a contact value may have while a blind-index rotation is re-indexing: the
   * current version first, then retired ones still held. Lookups match any of them.
   */
  blindIndexCandidates(tenantId: string, field: string, normalisedValue: string): string[] {
    if (!rotates(field)) return [this.blindIndex(tenantId, field, normalisedValue)];
    return this.keys
      .blindIndexVersions()
      .map((v) => versionedIndex(v, this.keys.blindIndex(tenantId, field, normalisedValue, v)));
  }

  /**
   * Makes sure this node holds every blind-index version `stored` indexes are in: a rotation run by
   * another process (`sealpost keys rotate --what blind-index`) re-indexes rows under a version this
   * node learns of only at its next refresh; meeting one refreshes at once, as an unknown key id does.
   * Without it, an update would not recognise a re-indexed contact point and would replace it.
   */
  async holdIndexVersionsOf(stored: readonly string[]): Promise<void> {
    const held = new Set(this.keys.blindIndexVersions());
    for (const s of stored) {
      const m = /^v(\d+):/.exec(s);
      if (!held.has(m ? Number(m[1]) : 1)) {
        await this.keys.refresh();
        return;
      }
    }
  }

  private evict(id: string): void {
    this.cache.get(id)?.key.fill(0);
    this.cache.delete(id);
  }

  private remember(id: string, key: Buffer): void {
    if (this.cacheOptions.max <= 0) return;
    this.evict(id);
    if (this.cache.size >= this.cacheOptions.max) {
      // Map iteration order is insertion order: the first entry is the oldest.
      this.evict(this.cache.keys().next().value as string);
    }
    this.cache.set(id, { key: Buffer.from(key), expires: Date.now() + this.cacheOptions.ttlMs });
  }
}
