import type { Store, StoreTx } from '../store/store.js';
import type { IndexedTable } from '../store/repositories/blind-index-repository.js';
import type { KeyProvider, KeyPurpose, KeyVersionInfo } from '../crypto/key-provider.js';
import { EnvelopeCipher, dataKeyAad, versionedIndex } from '../crypto/envelope-cipher.js';
import { AppError } from './errors.js';
import { isStoreUnavailable } from '../store/store-errors.js';
import { DEFAULT_TENANT } from './domain.js';

/** Progress of a re-wrap or re-index: rows moved so far out of those that needed it at the start. */
export interface RotationProgress {
  done: number;
  total: number;
}

export interface RotationOptions {
  /** Rows per transaction; small so the server's own writes wait only briefly (default 200). */
  batchSize?: number;
  onProgress?: (p: RotationProgress) => void;
  /** Recorded as the audit actor (default `cli`). */
  actor?: string;
  clock?: () => Date;
  /**
   * false: do not create a new version, only finish moving rows to the current one (resuming a
   * rotation that stopped). Default true.
   */
  createVersion?: boolean;
  /** Tenant whose audit log records installation-wide key events (default `default`). */
  auditTenant?: string;
}

export interface RotationResult {
  /** The version rows were moved to (new, or the current one when resuming). */
  keyId: string;
  version: number;
  created: boolean;
  /** Rows re-wrapped (KEK) or re-indexed (blind index) by this run. */
  moved: number;
}

const DEFAULT_BATCH = 200;
/** Passes over the table: rows written meanwhile by a node that had not yet seen the new version get a second look. */
const MAX_PASSES = 3;

/**
 * Runs one batch transaction, retrying while the database is busy (SQLite: the server process holds
 * the write lock or committed under our read snapshot). Safe: a batch re-reads its rows each time.
 */
async function batchTx<T>(
  store: Store,
  fn: Parameters<Store['transaction']>[0] extends (tx: infer X) => Promise<unknown> ? (tx: X) => Promise<T> : never,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.transaction(fn);
    } catch (e) {
      const busy = isStoreUnavailable(e) || /^SQLITE_BUSY/.test(String((e as { code?: unknown })?.code ?? ''));
      if (!busy || attempt >= 50) throw e;
      await new Promise((r) => setTimeout(r, Math.min(1000, 20 * attempt) * (0.5 + Math.random() / 2)));
    }
  }
}

function current(provider: KeyProvider, purpose: KeyPurpose, tenantId: string | null): KeyVersionInfo {
  const k = provider
    .listKeys()
    .find((i) => i.purpose === purpose && i.status === 'current' && (purpose !== 'kek' || i.tenantId === tenantId));
  if (!k) throw new AppError('SP_CRYPTO_KEY_UNKNOWN', `no current ${purpose} key`);
  return k;
}

async function newVersion(
  store: Store,
  provider: KeyProvider,
  purpose: KeyPurpose,
  tenantId: string | null,
  o: RotationOptions,
): Promise<{ info: KeyVersionInfo; created: boolean }> {
  if (o.createVersion === false) return { info: current(provider, purpose, tenantId), created: false };
  const previous = provider
    .listKeys()
    .find((i) => i.purpose === purpose && i.status === 'current' && (purpose !== 'kek' || i.tenantId === tenantId));
  const info = await provider.createKeyVersion(purpose, tenantId);
  // Ids and versions only: key material never enters the log.
  await store.transaction((tx) =>
    tx.audit.append({
      tenantId: tenantId ?? o.auditTenant ?? DEFAULT_TENANT,
      at: (o.clock ?? (() => new Date()))(),
      actor: o.actor ?? 'cli',
      action: 'key.rotated',
      outcome: 'success',
      targetType: 'key',
      targetId: info.keyId,
      details: { purpose, version: info.version, provider: provider.kind, previousKeyId: previous?.keyId ?? null },
    }),
  );
  await store.durable();
  return { info, created: true };
}

/**
 * Creates a new KEK version for `tenantId` and re-wraps every data key of the tenant under it, in
 * short transactions while the server keeps serving. Each batch is audited in its own transaction.
 * Resumable: a row is moved only if it is not yet under the current KEK, so running again after a
 * crash (with `createVersion: false`, or creating yet another version) finishes the job.
 */
export async function rotateTenantKek(
  store: Store,
  provider: KeyProvider,
  tenantId: string,
  o: RotationOptions = {},
): Promise<RotationResult> {
  const { info, created } = await newVersion(store, provider, 'kek', tenantId, o);
  const batch = o.batchSize ?? DEFAULT_BATCH;
  const total = await store.read.dataKeys.countNotUnder(tenantId, info.keyId);
  let moved = 0;
  o.onProgress?.({ done: 0, total });
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    let cursor = '';
    let seen = 0;
    for (;;) {
      // Counters and cursor move only after a commit, so a retried batch is counted once.
      const { n, done, last } = await batchTx(store, async (tx) => {
        const rows = await tx.dataKeys.listNotUnder(tenantId, info.keyId, cursor, batch);
        let done = 0;
        for (const r of rows) {
          const aad = dataKeyAad(tenantId, r.patient_id);
          const key = await provider.unwrapDataKey(tenantId, r.key_id, Buffer.from(r.wrapped), aad);
          const w = await provider.wrapDataKey(tenantId, key, aad);
          key.fill(0);
          if (w.keyId !== info.keyId)
            throw new AppError('SP_CRYPTO_KEY_IN_USE', 'the current key changed during rotation; run again');
          if (await tx.dataKeys.rewrap(tenantId, r.patient_id, r.key_id, w.keyId, w.wrapped)) done++;
        }
        if (rows.length) {
          await tx.audit.append({
            tenantId,
            at: (o.clock ?? (() => new Date()))(),
            actor: o.actor ?? 'cli',
            action: 'key.data_keys_rewrapped',
            outcome: 'success',
            targetType: 'key',
            targetId: info.keyId,
            details: { count: done, fromKeyIds: [...new Set(rows.map((r) => r.key_id))] },
          });
        }
        return { n: rows.length, done, last: rows.at(-1)?.patient_id };
      });
      await store.durable();
      moved += done;
      cursor = last ?? cursor;
      seen += n;
      o.onProgress?.({ done: Math.min(moved, Math.max(total, moved)), total: Math.max(total, moved) });
      if (n < batch) break;
    }
    if (!seen) break;
  }
  return { keyId: info.keyId, version: info.version, created, moved };
}

/** Creates a new signing key version; the previous one stays published as retired so old proofs verify. */
export async function rotateSigningKey(
  store: Store,
  provider: KeyProvider,
  o: RotationOptions = {},
): Promise<RotationResult> {
  const { info, created } = await newVersion(store, provider, 'signing', null, o);
  return { keyId: info.keyId, version: info.version, created, moved: 0 };
}

/**
 * The tables holding blind indexes of encrypted values, the field name their sealing binds and the
 * blind-index purpose of a row's system (contacts: `contact.<channel>`; identifiers:
 * `identifier.<system>`, see core/patient-identifiers.ts).
 */
const INDEXED_CONTACTS: { table: IndexedTable; field: string; purpose: string }[] = [
  { table: 'contact_points', field: 'value', purpose: 'contact.' },
  { table: 'patient_accounts', field: 'contact', purpose: 'contact.' },
  { table: 'patient_identifiers', field: 'value', purpose: 'identifier.' },
];

/** Blind indexes of every indexed table not yet in the stored form of `version` (a rotation to resume). */
export async function blindIndexesNotAt(store: Store, version: number): Promise<number> {
  let n = 0;
  for (const s of INDEXED_CONTACTS) n += await store.read.blindIndexes.count(s.table, version, true);
  return n;
}

/**
 * Creates a new blind-index key version and re-indexes every contact point, every patient account's
 * sign-in contact and every live patient identifier under it (decrypting each value with its patient's data key). While it
 * runs, lookups match the old and the new stored form (`EnvelopeCipher.blindIndexCandidates`).
 * Resumable like `rotateTenantKek`. Values of erased patients cannot be decrypted; their index is
 * replaced by one that matches nothing.
 */
export async function rotateBlindIndexKey(
  store: Store,
  provider: KeyProvider,
  o: RotationOptions = {},
): Promise<RotationResult> {
  const { info, created } = await newVersion(store, provider, 'blind-index', null, o);
  const cipher = new EnvelopeCipher(provider, { max: 1000, ttlMs: 60_000 });
  const batch = o.batchSize ?? DEFAULT_BATCH;
  const total = await blindIndexesNotAt(store, info.version);
  let moved = 0;
  o.onProgress?.({ done: 0, total });
  try {
    for (const source of INDEXED_CONTACTS) {
      for (let pass = 0; pass < MAX_PASSES; pass++) {
        let cursor = '';
        let seen = 0;
        for (;;) {
          // Counters and cursor move only after a commit, so a retried batch is counted once.
          const { n, done, last } = await batchTx(store, async (tx) => {
            const rows = await tx.blindIndexes.listNotAt(source.table, info.version, cursor, batch);
            let done = 0;
            for (const r of rows) {
              const dk = await tx.dataKeys.get(r.tenant_id, r.patient_id);
              let next: string;
              if (dk) {
                const key = await cipher.dataKey(r.tenant_id, r.patient_id, {
                  keyId: dk.key_id,
                  wrapped: Buffer.from(dk.wrapped),
                });
                const value = cipher.decrypt(
                  key,
                  { tenantId: r.tenant_id, table: source.table, rowId: r.id, field: source.field },
                  r.ct,
                );
                next = versionedIndex(
                  info.version,
                  provider.blindIndex(r.tenant_id, `${source.purpose}${r.system}`, value, info.version),
                );
              } else next = versionedIndex(info.version, `erased-${r.id}`);
              if (await tx.blindIndexes.set(source.table, r.id, r.bidx, next)) done++;
            }
            if (rows.length) {
              await tx.audit.append({
                tenantId: o.auditTenant ?? DEFAULT_TENANT,
                at: (o.clock ?? (() => new Date()))(),
                actor: o.actor ?? 'cli',
                action: 'key.contacts_reindexed',
                outcome: 'success',
                targetType: 'key',
                targetId: info.keyId,
                details: { count: done, table: source.table },
              });
            }
            return { n: rows.length, done, last: rows.at(-1)?.id };
          });
          await store.durable();
          moved += done;
          cursor = last ?? cursor;
          seen += n;
          o.onProgress?.({ done: moved, total: Math.max(total, moved) });
          if (n < batch) break;
        }
        if (!seen) break;
      }
    }
  } finally {
    cipher.clear();
  }
  return { keyId: info.keyId, version: info.version, created, moved };
}

/** Rows still needing the given key version (what `retireKey` refuses on). */
export async function keyUsage(store: Store, info: KeyVersionInfo): Promise<number> {
  if (info.purpose === 'kek') return store.read.dataKeys.countUsing(info.keyId);
  if (info.purpose === 'blind-index') {
    let n = 0;
    for (const s of INDEXED_CONTACTS) n += await store.read.blindIndexes.count(s.table, info.version);
    return n;
  }
  return 0;
}

/**
 * Destroys a retired key version once no stored row needs it (HSM: C_DestroyObject; local: removed
 * from the file). A signing key's public part stays published. Refuses with SP_CRYPTO_KEY_IN_USE
 * for the current version or while rows still use it, SP_CRYPTO_KEY_UNKNOWN for an unknown id.
 * After it, a backup taken before can no longer open data keys wrapped only under this version.
 */
export async function retireKey(
  store: Store,
  provider: KeyProvider,
  keyId: string,
  o: Pick<RotationOptions, 'actor' | 'clock' | 'auditTenant'> = {},
): Promise<KeyVersionInfo> {
  await provider.refresh();
  const info = provider.listKeys().find((k) => k.keyId === keyId);
  if (!info) throw new AppError('SP_CRYPTO_KEY_UNKNOWN', 'no such key id');
  if (info.status === 'current')
    throw new AppError('SP_CRYPTO_KEY_IN_USE', 'the current version cannot be retired; rotate first');
  const used = await keyUsage(store, info);
  if (used > 0)
    throw new AppError(
      'SP_CRYPTO_KEY_IN_USE',
      `${used} stored rows still use this key; run 'sealpost keys rotate' to finish moving them`,
    );
  await provider.destroyKeyVersion(keyId);
  await store.transaction((tx) =>
    tx.audit.append({
      tenantId: info.tenantId ?? o.auditTenant ?? DEFAULT_TENANT,
      at: (o.clock ?? (() => new Date()))(),
      actor: o.actor ?? 'cli',
      action: 'key.destroyed',
      outcome: 'success',
      targetType: 'key',
      targetId: keyId,
      details: { purpose: info.purpose, version: info.version, provider: provider.kind },
    }),
  );
  await store.durable();
  return info;
}
