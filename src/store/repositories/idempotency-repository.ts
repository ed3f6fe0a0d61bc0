import type { Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { insertRows, selectIn, stmt } from '../sql.js';
import { IDEMPOTENCY_COLUMNS } from './columns.js';

export type IdempotencyRow = Selectable<Database['idempotency_keys']>;

/** The first answer to each (tenant, Idempotency-Key), with a keyed fingerprint of its request. */
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
      const r = await this.sql.db
        .deleteFrom('idempotency_keys')
        .where('tenant_id', '=', tenantId)
        .where((eb) => eb.or(ids.map((id) => eb('response', 'like', `{"id":"${id.replace(/[%_\\]/g, '')}",%`))))
        .executeTakeFirst();
      n += Number(r.numDeletedRows);
    }
    return n;
  }
}
