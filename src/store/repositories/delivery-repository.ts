import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { insertRows, stmt } from '../sql.js';
import { DELIVERY_COLUMNS } from './columns.js';
import type { Lease } from '../../queue/job-queue.js';
import type { PagePosition } from './notification-repository.js';

export type DeliveryRow = Selectable<Database['deliveries']>;

/**
 * Deliveries: one job per notification and channel. Claiming and finishing them as queue jobs is
 * the queue's (src/queue/job-queue.ts); this is the rest of their life.
 */
export interface DeliveryRepository {
  /** Inserts the rows (one statement per few hundred rows); ids are new, so this never conflicts. */
  insertMany(rows: readonly Insertable<Database['deliveries']>[]): Promise<void>;
  /** A notification's deliveries in fail-over order (seq, then id). */
  list(notificationId: string): Promise<DeliveryRow[]>;
  get(id: string): Promise<DeliveryRow | undefined>;
  findByProviderId(provider: string, providerMessageId: string): Promise<DeliveryRow | undefined>;
  /** Updates a delivery; with `lease`, only while that claim still holds it (see Lease). Returns rows changed. */
  update(id: string, set: Updateable<Database['deliveries']>, lease?: Lease): Promise<number>;
  /** Moves every still-pending delivery of a notification to `cancelled` (a worker holding one loses its lease); returns their ids. */
  cancelPending(notificationId: string, now: number): Promise<string[]>;
  /**
   * The tenant's deliveries, filtered by patient, notification and stored status when given, newest
   * first (created_at, then id, both descending), strictly after `after`; at most `limit`.
   */
  search(
    tenantId: string,
    q: {
      patientId?: string;
      notificationIds?: readonly string[];
      statuses?: readonly string[];
      after?: PagePosition;
      limit: number;
    },
  ): Promise<DeliveryRow[]>;
}

const LIST = stmt('select * from deliveries where notification_id = ? order by seq, id');
const GET = stmt('select * from deliveries where id = ?');
const BY_PROVIDER = stmt('select * from deliveries where provider = ? and provider_message_id = ?');

export class SqlDeliveryRepository implements DeliveryRepository {
  constructor(private readonly sql: Sql) {}

  async insertMany(rows: readonly Insertable<Database['deliveries']>[]): Promise<void> {
    await insertRows(this.sql, 'deliveries', DELIVERY_COLUMNS, rows);
  }

  list(notificationId: string): Promise<DeliveryRow[]> {
    return this.sql.all<DeliveryRow>(LIST, [notificationId]);
  }

  get(id: string): Promise<DeliveryRow | undefined> {
    return this.sql.get<DeliveryRow>(GET, [id]);
  }

  findByProviderId(provider: string, providerMessageId: string): Promise<DeliveryRow | undefined> {
    return this.sql.get<DeliveryRow>(BY_PROVIDER, [provider, providerMessageId]);
  }

  async update(id: string, set: Updateable<Database['deliveries']>, lease?: Lease): Promise<number> {
    let q = this.sql.db.updateTable('deliveries').set(set).where('id', '=', id);
    if (lease)
      q = q
        .where('lease_owner', '=', lease.owner)
        .where('lease_until', '=', lease.until)
        .where('status', '=', 'sending');
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async cancelPending(notificationId: string, now: number): Promise<string[]> {
    const rows = await this.sql.db
      .updateTable('deliveries')
      .set({ status: 'cancelled', cancelled_at: now, updated_at: now, lease_owner: null, lease_until: null })
      .where('notification_id', '=', notificationId)
      .where('status', 'in', ['scheduled', 'queued', 'sending'])
      .returning('id')
      .execute();
    return rows.map((r) => r.id);
  }

  search(
    tenantId: string,
    q: {
      patientId?: string;
      notificationIds?: readonly string[];
      statuses?: readonly string[];
      after?: PagePosition;
      limit: number;
    },
  ): Promise<DeliveryRow[]> {
    let s = this.sql.db.selectFrom('deliveries').selectAll().where('tenant_id', '=', tenantId);
    if (q.patientId !== undefined) s = s.where('patient_id', '=', q.patientId);
    if (q.notificationIds) {
      if (!q.notificationIds.length) return Promise.resolve([]);
      s = s.where('notification_id', 'in', q.notificationIds);
    }
    if (q.statuses) {
      if (!q.statuses.length) return Promise.resolve([]);
      s = s.where('status', 'in', q.statuses);
    }
    const after = q.after;
    if (after)
      s = s.where((eb) =>
        eb.or([
          eb('created_at', '<', after.createdAt),
          eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)]),
        ]),
      );
    return s.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit).execute();
  }
}
