import type { Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { insertRows, selectIn, stmt } from '../sql.js';
import { IDEMPOTENCY_COLUMNS } from './columns.js';

export type IdempotencyRow = Selectable<Database['idempotency_keys']>;

/**
 * The first answer to each (tenant, Idempotency-Key), with a keyed fingerprint of its request. `key`
 * is a keyed hash of the client's key (core/context.ts `idempotencyKeyRef`), never the key itself:
 * callers pass and get that hash.
 */
export interface IdempotencyRepository {
  get(tenantId: string, key: string): Promise<IdempotencyRow | undefined>;
  /** The tenant's records among `keys`, any order (a batch looks up all its keys at once). */
  getMany(tenantId: string, keys: readonly string[]): Promise<IdempotencyRow[]>;
  /** Inserts new records; a key recorded meanwhile by a concurrent request fails with a unique violation. */
  insertMany(rows: readonly IdempotencyRow[]): Promise<void>;
  /**
   * Deletes the records of the given notifications (erasure: the fingerprint covers PHI). The
   * stored answer is `JSON.stringify({ id, ... })`, so it starts with the notification id.
   */
  deleteForNotifications(tenantId: string, notificationIds: readonly string[]): Promise<number>;
  /**
   * Moves up to `limit` records written before migration 010 (their key in clear, set aside in
   * `idempotency_keys_unhashed`) into the table under `keyRef(tenant, key)`, and deletes them there.
   * Returns how many it took: 0 once none is left. Safe to run on several nodes at once.
   */
  hashClearKeys(keyRef: (tenantId: string, key: string) => string, limit: number): Promise<number>;
}

const GET = stmt('select * from idempotency_keys where tenant_id = ? and key = ?');

export class SqlIdempotencyRepository implements IdempotencyRepository {
  constructor(private readonly sql: Sql) {}

  get(tenantId: string, key: string): Promise<IdempotencyRow | undefined> {
    return this.sql.get<IdempotencyRow>(GET, [tenantId, key]);
  }

  getMany(tenantId: string, keys: readonly string[]): Promise<IdempotencyRow[]> {
    return selectIn<IdempotencyRow>(this.sql, 'select * from idempotency_keys where tenant_id = ? and', 'key', keys, [
      tenantId,
    ]);
  }

  async insertMany(rows: readonly IdempotencyRow[]): Promise<void> {
    await insertRows(this.sql, 'idempotency_keys', IDEMPOTENCY_COLUMNS, rows);
  }

  async deleteForNotifications(tenantId: string, notificationIds: readonly string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < notificationIds.length; i += 200) {
      const ids = notificationIds.slice(i, i + 200);
      // Records not yet hashed after the upgrade go too (a server start normally hashed them already).
      for (const table of ['idempotency_keys', 'idempotency_keys_unhashed'] as const) {
        const r = await this.sql.db
          .deleteFrom(table)
          .where('tenant_id', '=', tenantId)
          .where((eb) => eb.or(ids.map((id) => eb('response', 'like', `{"id":"${id.replace(/[%_\\]/g, '')}",%`))))
          .executeTakeFirst();
        n += Number(r.numDeletedRows);
      }
    }
    return n;
  }

  async hashClearKeys(keyRef: (tenantId: string, key: string) => string, limit: number): Promise<number> {
    const clear = await this.sql.db
      .selectFrom('idempotency_keys_unhashed')
      .selectAll()
      .orderBy('tenant_id')
      .orderBy('key')
      .limit(limit)
      .execute();
    if (!clear.length) return 0;
    // A node starting at the same time may have moved some of them already: its rows stand.
    await this.sql.db
      .insertInto('idempotency_keys')
      .values(clear.map((r) => ({ ...r, key: keyRef(r.tenant_id, r.key) })))
      .onConflict((oc) => oc.columns(['tenant_id', 'key']).doNothing())
      .execute();
    const byTenant = new Map<string, string[]>();
    for (const r of clear) byTenant.set(r.tenant_id, [...(byTenant.get(r.tenant_id) ?? []), r.key]);
    for (const [tenantId, keys] of byTenant)
      await this.sql.db
        .deleteFrom('idempotency_keys_unhashed')
        .where('tenant_id', '=', tenantId)
        .where('key', 'in', keys)
        .execute();
    return clear.length;
  }
}
