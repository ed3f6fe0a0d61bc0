import { sql, type Insertable, type Selectable, type Updateable } from 'kysely';
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
  /**
   * Operations (PHI-free counts): the tenant's deliveries whose last change falls in [from, to), by
   * stored status, channel and bucket (`floor((updated_at - from) / bucketMs)`); aggregated in the
   * database over the (tenant_id, status, updated_at) index.
   */
  activity(
    tenantId: string,
    from: number,
    to: number,
    bucketMs: number,
  ): Promise<{ status: string; channel: string; bucket: number; n: number }[]>;
  /** Failed and dead deliveries whose last change falls in [from, to), by error code, channel and status. */
  failureCodes(
    tenantId: string,
    from: number,
    to: number,
  ): Promise<{ code: string | null; channel: string; status: string; n: number }[]>;
  /** Waiting work by channel: `due` (its time has come), `scheduled` (later) or `sending`, with the earliest run_at. */
  queueDepth(tenantId: string, now: number): Promise<{ channel: string; state: string; n: number; oldest: number }[]>;
  /** Dead deliveries (no channel left), last changed first, strictly after `after`. */
  listDead(
    tenantId: string,
    after: { updatedAt: number; id: string } | undefined,
    limit: number,
  ): Promise<DeliveryRow[]>;
  /** Changes a delivery only while it is dead in this tenant; returns rows changed (0: not dead any more). */
  updateDead(tenantId: string, id: string, set: Updateable<Database['deliveries']>): Promise<number>;
}

const ALL_STATUSES = [
  'scheduled',
  'queued',
  'sending',
  'sent',
  'delivered',
  'read',
  'failed',
  'dead',
  'cancelled',
  'suppressed',
];

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

  async activity(tenantId: string, from: number, to: number, bucketMs: number) {
    // Grouped by position: the bucket expression's parameters would not match a repeated expression on PostgreSQL.
    const r = await sql<{ status: string; channel: string; bucket: number | string; n: number | string }>`
      select status, channel, cast((updated_at - ${from}) / ${bucketMs} as integer) as bucket, count(*) as n
      from deliveries
      where tenant_id = ${tenantId} and status in (${sql.join(ALL_STATUSES)})
        and updated_at >= ${from} and updated_at < ${to}
      group by 1, 2, 3`.execute(this.sql.db);
    return r.rows.map((x) => ({
      status: x.status,
      channel: x.channel,
      bucket: Math.floor(Number(x.bucket)),
      n: Number(x.n),
    }));
  }

  async failureCodes(tenantId: string, from: number, to: number) {
    const r = await sql<{ code: string | null; channel: string; status: string; n: number | string }>`
      select last_error_code as code, channel, status, count(*) as n
      from deliveries
      where tenant_id = ${tenantId} and status in ('failed', 'dead') and updated_at >= ${from} and updated_at < ${to}
      group by 1, 2, 3`.execute(this.sql.db);
    return r.rows.map((x) => ({ code: x.code, channel: x.channel, status: x.status, n: Number(x.n) }));
  }

  async queueDepth(tenantId: string, now: number) {
    const r = await sql<{ channel: string; state: string; n: number | string; oldest: number | string }>`
      select channel,
        case when status = 'sending' then 'sending' when run_at <= ${now} then 'due' else 'scheduled' end as state,
        count(*) as n, min(run_at) as oldest
      from deliveries
      where tenant_id = ${tenantId} and status in ('scheduled', 'queued', 'sending')
      group by 1, 2`.execute(this.sql.db);
    return r.rows.map((x) => ({ channel: x.channel, state: x.state, n: Number(x.n), oldest: Number(x.oldest) }));
  }

  listDead(tenantId: string, after: { updatedAt: number; id: string } | undefined, limit: number) {
    let s = this.sql.db
      .selectFrom('deliveries')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('status', '=', 'dead');
    if (after)
      s = s.where((eb) =>
        eb.or([
          eb('updated_at', '<', after.updatedAt),
          eb.and([eb('updated_at', '=', after.updatedAt), eb('id', '<', after.id)]),
        ]),
      );
    return s.orderBy('updated_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  }

  async updateDead(tenantId: string, id: string, set: Updateable<Database['deliveries']>): Promise<number> {
    const r = await this.sql.db
      .updateTable('deliveries')
      .set(set)
      .where('id', '=', id)
      .where('tenant_id', '=', tenantId)
      .where('status', '=', 'dead')
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }
}
