import type { Insertable, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { insertRows, stmt } from '../sql.js';
import { OUTBOX_COLUMNS } from './columns.js';

export type OutboxRow = Selectable<Database['dev_outbox']>;

/** The development outbox: sealed copies of what the dev channel "sent", once per delivery id. */
export interface OutboxRepository {
  /** Records messages once per delivery id: a retried send of the same delivery adds nothing. */
  recordMany(rows: readonly Insertable<Database['dev_outbox']>[]): Promise<void>;
  /** A tenant's messages after `afterId`, in id order. */
  list(tenantId: string, afterId: number, limit: number): Promise<OutboxRow[]>;
  /**
   * Deletes the copies of the given deliveries and of the one-time codes sent for their links
   * (`otp-<delivery id>-…`): sealed under a key erasure does not destroy.
   */
  deleteForDeliveries(deliveryIds: readonly string[]): Promise<number>;
  /**
   * After a worker lost its lease: deletes the copy it may just have written for a delivery that an
   * erasure cancelled meanwhile (the send raced the erasure; no copy may outlive it).
   */
  deleteOfErasedDelivery(deliveryId: string, erasedCode: string): Promise<number>;
}

const CONFLICT = 'on conflict (delivery_id) do nothing';
const LIST = stmt('select * from dev_outbox where tenant_id = ? and id > ? order by id limit ?');
const DELETE_ERASED = stmt(
  'delete from dev_outbox where delivery_id in (select id from deliveries where id = ? and last_error_code = ?)',
);

export class SqlOutboxRepository implements OutboxRepository {
  constructor(private readonly sql: Sql) {}

  async recordMany(rows: readonly Insertable<Database['dev_outbox']>[]): Promise<void> {
    await insertRows(this.sql, 'dev_outbox', OUTBOX_COLUMNS, rows, CONFLICT);
  }

  list(tenantId: string, afterId: number, limit: number): Promise<OutboxRow[]> {
    return this.sql.all<OutboxRow>(LIST, [tenantId, afterId, limit]);
  }

  async deleteForDeliveries(deliveryIds: readonly string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < deliveryIds.length; i += 200) {
      const ids = deliveryIds.slice(i, i + 200);
      const r = await this.sql.db
        .deleteFrom('dev_outbox')
        .where((eb) =>
          eb.or([
            eb('delivery_id', 'in', ids),
            ...ids.map((id) => eb('delivery_id', 'like', `otp-${id.replace(/[%_\\]/g, '')}-%`)),
          ]),
        )
        .executeTakeFirst();
      n += Number(r.numDeletedRows);
    }
    return n;
  }

  deleteOfErasedDelivery(deliveryId: string, erasedCode: string): Promise<number> {
    return this.sql.run(DELETE_ERASED, [deliveryId, erasedCode]);
  }
}
