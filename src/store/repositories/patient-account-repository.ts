import { sql, type Insertable, type Kysely, type SelectQueryBuilder, type Selectable, type Updateable } from 'kysely';
import type { Database } from '../schema.js';
import { SqlChallengeRepository } from './challenge-repository.js';
import { SqlSessionRepository } from './session-repository.js';
import type { PortOf } from './port-of.js';
import { EVERY_NODE, FEED_CHANNEL } from '../backends/postgres/feed-signal.js';

export type PatientAccountRow = Selectable<Database['patient_accounts']>;
export type PatientNotificationRow = Pick<
  Selectable<Database['notifications']>,
  'id' | 'type' | 'data_ct' | 'created_at' | 'acknowledged_at'
> & { read: boolean };

/**
 * Patient accounts, their one-time sign-in challenges and start throttles, the notifications a
 * patient may read, and device registrations of people. core/patient-account-service.ts holds the
 * rules; this only reads and writes rows. Every statement is scoped to a tenant.
 */
export type PatientAccountRepository = PortOf<SqlPatientAccountRepository>;

/** A query over `notifications as n`. */
type NotificationsAsN<O> = SelectQueryBuilder<Database & { n: Database['notifications'] }, 'n', O>;

/**
 * The notifications a patient sees: theirs, past their send time, not erased (empty content), and
 * not cancelled before any delivery went out (the sender withdrew them).
 */
const shownTo =
  (tenantId: string, patientId: string, now: number) =>
  <O>(q: NotificationsAsN<O>): NotificationsAsN<O> =>
    q
      .where('n.tenant_id', '=', tenantId)
      .where('n.patient_id', '=', patientId)
      .where('n.send_at', '<=', now)
      .where((eb) => eb(eb.fn('length', ['n.data_ct']), '>', 0))
      .where((eb) =>
        eb.or([
          eb('n.cancelled_at', 'is', null),
          eb.exists(
            eb
              .selectFrom('deliveries as d')
              .select('d.id')
              .whereRef('d.notification_id', '=', 'n.id')
              .where('d.status', 'in', ['sent', 'delivered', 'read']),
          ),
        ]),
      );

export class SqlPatientAccountRepository {
  constructor(private readonly db: Kysely<Database>) {}

  // --- accounts -------------------------------------------------------------------------------
  /** The account whose contact blind index is any of `bidxs` (the stored forms a rotation may leave). */
  async byContact(tenantId: string, system: string, bidxs: string[]): Promise<PatientAccountRow | undefined> {
    if (!bidxs.length) return undefined;
    return this.db
      .selectFrom('patient_accounts')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('contact_system', '=', system)
      .where('contact_bidx', 'in', bidxs)
      .executeTakeFirst();
  }

  async byId(tenantId: string, id: string): Promise<PatientAccountRow | undefined> {
    return this.db
      .selectFrom('patient_accounts')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async ofPatient(tenantId: string, patientId: string): Promise<PatientAccountRow[]> {
    return this.db
      .selectFrom('patient_accounts')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .orderBy('created_at')
      .execute();
  }

  async insert(row: Insertable<Database['patient_accounts']>): Promise<void> {
    await this.db.insertInto('patient_accounts').values(row).execute();
  }

  async update(tenantId: string, id: string, set: Updateable<Database['patient_accounts']>): Promise<void> {
    await this.db
      .updateTable('patient_accounts')
      .set(set)
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .execute();
  }

  async delete(tenantId: string, id: string): Promise<void> {
    await this.db.deleteFrom('patient_accounts').where('tenant_id', '=', tenantId).where('id', '=', id).execute();
  }

  /**
   * Erasure: deletes every account of the patient with what hangs off it — its sessions and devices
   * are revoked (push tokens dropped), its sign-in challenges and the dev-outbox copies of its codes
   * (`potp-<account id>-…`) deleted. The contact's blind index goes with the account row. Returns how
   * many accounts there were.
   */
  async eraseOfPatient(tenantId: string, patientId: string, now: number): Promise<number> {
    const accounts = await this.ofPatient(tenantId, patientId);
    for (const a of accounts) {
      const sessions = new SqlSessionRepository(this.db);
      await sessions.revokeAllOf(tenantId, 'patient', a.id, now, 'patient_erased');
      await sessions.revokeDevicesOf(tenantId, 'patient', a.id, now);
      await new SqlChallengeRepository(this.db).deleteOf(tenantId, a.id);
      await this.db
        .deleteFrom('dev_outbox')
        .where('tenant_id', '=', tenantId)
        .where('delivery_id', 'like', `potp-${a.id.replace(/[%_\\]/g, '')}-%`)
        .execute();
      await this.delete(tenantId, a.id);
    }
    return accounts.length;
  }

  // --- one-time challenges -----------------------------------------------------------------------
  /**
   * Counts one event under `key` in a fixed window of `windowMs` and returns the count, in one
   * statement (an upsert), so concurrent requests on several nodes cannot both read a stale count.
   */
  async throttleHit(key: string, now: number, windowMs: number): Promise<number> {
    const windowStart = now - windowMs;
    const r = await this.db
      .insertInto('auth_throttle')
      .values({ key, failures: 1, first_failure_at: now, blocked_until: null, updated_at: now })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          failures: sql<number>`case when auth_throttle.first_failure_at <= ${windowStart} then 1 else auth_throttle.failures + 1 end`,
          first_failure_at: sql<number>`case when auth_throttle.first_failure_at <= ${windowStart} then ${now} else auth_throttle.first_failure_at end`,
          updated_at: now,
        }),
      )
      .returning('failures')
      .executeTakeFirstOrThrow();
    return Number(r.failures);
  }

  // --- the patient's notifications -----------------------------------------------------------------
  /**
   * A patient's notifications that have reached their send time, newest first (ids are UUIDv7, so id
   * order is creation order), after the cursor id. Left out: erased tombstones (empty content) and
   * notifications cancelled before any delivery went out (the sender withdrew them).
   */
  async patientNotifications(
    tenantId: string,
    patientId: string,
    now: number,
    o: { beforeId?: string; id?: string; limit: number },
  ): Promise<PatientNotificationRow[]> {
    let q = this.db
      .selectFrom('notifications as n')
      .select(['n.id', 'n.type', 'n.data_ct', 'n.created_at', 'n.acknowledged_at'])
      .select((eb) =>
        eb
          .exists(
            eb
              .selectFrom('deliveries as d')
              .select('d.id')
              .whereRef('d.notification_id', '=', 'n.id')
              .where('d.read_at', 'is not', null),
          )
          .as('read'),
      )
      .$call(shownTo(tenantId, patientId, now));
    if (o.id !== undefined) q = q.where('n.id', '=', o.id);
    if (o.beforeId !== undefined) q = q.where('n.id', '<', o.beforeId);
    const rows = await q.orderBy('n.id', 'desc').limit(o.limit).execute();
    // SQLite answers EXISTS as 0/1, PostgreSQL as a boolean.
    return rows.map((r) => ({ ...r, read: Boolean(Number(r.read)) || r.read === true }));
  }

  /**
   * How many of a patient's notifications (those `patientNotifications` shows) are unread, and the
   * newest one's id: what an open inbox compares to know whether to fetch again.
   */
  async patientInboxState(
    tenantId: string,
    patientId: string,
    now: number,
  ): Promise<{ total: number; unread: number; newest: string | null; acknowledged: number }> {
    const r = await this.db
      .selectFrom('notifications as n')
      .select((eb) => [
        eb.fn.count<number>('n.id').as('total'),
        eb.fn.max('n.id').as('newest'),
        eb.fn.count<number>('n.acknowledged_at').as('acknowledged'),
        eb.fn
          .sum<number>(
            eb
              .case()
              .when(
                eb.exists(
                  eb
                    .selectFrom('deliveries as d')
                    .select('d.id')
                    .whereRef('d.notification_id', '=', 'n.id')
                    .where('d.read_at', 'is not', null),
                ),
              )
              .then(0)
              .else(1)
              .end(),
          )
          .as('unread'),
      ])
      .$call(shownTo(tenantId, patientId, now))
      .executeTakeFirst();
    return {
      total: Number(r?.total ?? 0),
      unread: Number(r?.unread ?? 0),
      newest: (r?.newest as string | null | undefined) ?? null,
      acknowledged: Number(r?.acknowledged ?? 0),
    };
  }

  /**
   * PostgreSQL only: NOTIFYs `payload` (ids only) on the nodes' feed channel from inside this
   * transaction, so that every node (this one too) hears it once the transaction commits, and none
   * if it rolls back.
   */
  async notifyEveryNode(payload: string): Promise<void> {
    await sql`select pg_notify(${FEED_CHANNEL}, ${`${EVERY_NODE} ${payload}`})`.execute(this.db);
  }

  /**
   * Marks every delivery of a notification read that is not yet: those that reached the patient
   * become `read` (as a portal read does); the others keep their status (a worker may hold one) and
   * only get `read_at`. Returns the ids marked.
   */
  async markNotificationRead(notificationId: string, now: number): Promise<string[]> {
    const rows = await this.db
      .updateTable('deliveries')
      .set({
        status: sql<string>`case when status in ('sent', 'delivered') then 'read' else status end`,
        read_at: now,
        updated_at: now,
      })
      .where('notification_id', '=', notificationId)
      .where('read_at', 'is', null)
      .returning('id')
      .execute();
    return rows.map((r) => r.id);
  }
}
