import type { Insertable, Selectable, Updateable } from 'kysely';
import { sql } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { insertRows, selectIn, stmt } from '../sql.js';
import { NOTIFICATION_COLUMNS } from './columns.js';

export type NotificationRow = Selectable<Database['notifications']>;

/** Notifications: the sealed content (`data_ct`) and its schedule; deliveries are their jobs. */
export interface NotificationRepository {
  /** Inserts the rows (one statement per few hundred rows); ids are new, so this never conflicts. */
  insertMany(rows: readonly Insertable<Database['notifications']>[]): Promise<void>;
  get(tenantId: string, id: string): Promise<NotificationRow | undefined>;
  /** Notifications by id, any order; unknown ids are left out (the worker loads a whole claim at once). */
  getMany(ids: readonly string[]): Promise<NotificationRow[]>;
  update(id: string, set: Updateable<Database['notifications']>): Promise<void>;
  listForAppointment(tenantId: string, appointmentId: string): Promise<NotificationRow[]>;
  /**
   * The tenant's notifications (of one patient when `patientId` is given), newest first (created_at,
   * then id, both descending), strictly after the `after` position when given; at most `limit`.
   * `types` keeps only those types (empty: none); `careTeamOf` only patients on whose care team that
   * user is; `withContent` leaves out erased patients' tombstones (empty `data_ct`). Filtering here,
   * not after reading, means a caller's page never reaches a row it could not open.
   */
  search(tenantId: string, q: NotificationSearchQuery): Promise<NotificationRow[]>;
}

export interface NotificationSearchQuery {
  patientId?: string;
  after?: PagePosition;
  limit: number;
  types?: readonly string[];
  careTeamOf?: string;
  withContent?: boolean;
}

/** Where a newest-first page ended: its last row's creation time and id. */
export interface PagePosition {
  createdAt: number;
  id: string;
}

const GET = stmt('select * from notifications where tenant_id = ? and id = ?');

export class SqlNotificationRepository implements NotificationRepository {
  constructor(private readonly sql: Sql) {}

  async insertMany(rows: readonly Insertable<Database['notifications']>[]): Promise<void> {
    await insertRows(this.sql, 'notifications', NOTIFICATION_COLUMNS, rows);
  }

  get(tenantId: string, id: string): Promise<NotificationRow | undefined> {
    return this.sql.get<NotificationRow>(GET, [tenantId, id]);
  }

  getMany(ids: readonly string[]): Promise<NotificationRow[]> {
    return selectIn<NotificationRow>(this.sql, 'select * from notifications where', 'id', ids);
  }

  async update(id: string, set: Updateable<Database['notifications']>): Promise<void> {
    await this.sql.db.updateTable('notifications').set(set).where('id', '=', id).execute();
  }

  listForAppointment(tenantId: string, appointmentId: string): Promise<NotificationRow[]> {
    return this.sql.db
      .selectFrom('notifications')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('appointment_id', '=', appointmentId)
      .execute();
  }

  search(tenantId: string, q: NotificationSearchQuery): Promise<NotificationRow[]> {
    let s = this.sql.db.selectFrom('notifications').selectAll().where('tenant_id', '=', tenantId);
    if (q.patientId !== undefined) s = s.where('patient_id', '=', q.patientId);
    if (q.types !== undefined) {
      if (!q.types.length) return Promise.resolve([]);
      s = s.where('type', 'in', [...q.types]);
    }
    const member = q.careTeamOf;
    if (member !== undefined)
      s = s.where((eb) =>
        eb.exists(
          eb
            .selectFrom('care_team_members as ct')
            .select('ct.user_id')
            .whereRef('ct.tenant_id', '=', 'notifications.tenant_id')
            .whereRef('ct.patient_id', '=', 'notifications.patient_id')
            .where('ct.user_id', '=', member),
        ),
      );
    if (q.withContent) s = s.where(sql`length(data_ct)`, '>', 0);
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
