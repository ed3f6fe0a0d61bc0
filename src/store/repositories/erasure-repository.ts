import { sql as raw, type Insertable, type Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';

export type ErasureRow = Selectable<Database['erasures']>;

/**
 * Erasure (crypto-shredding): its records and the statements that empty a patient's rows. Every
 * statement is scoped to one tenant and patient. Their order inside the erasure transaction
 * matters on PostgreSQL: cancelling the deliveries first takes their row locks, so a worker creating
 * a portal link for one of them concurrently either commits before (and its link is then seen and
 * burned by the later statements) or fails its lease check afterwards.
 */
export interface ErasureRepository {
  insert(row: Insertable<Database['erasures']>): Promise<void>;
  /** The most recent erasure of this patient id, if any. */
  latest(tenantId: string, patientId: string): Promise<ErasureRow | undefined>;
  /** Erasures whose key rotation (the shredding proper) has not completed, oldest first. */
  listPending(): Promise<ErasureRow[]>;
  /** Marks the given pending erasures of the tenant complete; returns the ids it changed. */
  complete(tenantId: string, ids: string[], now: number): Promise<string[]>;
  /** Cancels the patient's pending deliveries (a worker holding one loses its lease); returns them. */
  cancelPatientDeliveries(
    tenantId: string,
    patientId: string,
    now: number,
    code: string,
  ): Promise<{ id: string; notification_id: string }[]>;
  /** Empties the content of the patient's notifications and deliveries, keeping the rows as tombstones. */
  stripPatientContent(
    tenantId: string,
    patientId: string,
    cancelledNotifications: string[],
    now: number,
  ): Promise<{ notifications: string[]; deliveries: string[] }>;
  /** Burns the patient's portal links (kept as tombstones) and deletes their sessions; returns how many links. */
  burnPatientLinks(tenantId: string, patientId: string, now: number): Promise<number>;
  /** Deletes the patient's appointments (their payload is PHI). */
  deleteAppointments(tenantId: string, patientId: string): Promise<number>;
  /** Deletes contact points, the patient row and, last, the wrapped data key. */
  deletePatientAndKey(tenantId: string, patientId: string): Promise<{ contactPoints: number; dataKeys: number }>;
  /** SQLite only: overwrite the pages this transaction frees with zeros (secure_delete). */
  sqliteSecureDelete(): Promise<void>;
}

export class SqlErasureRepository implements ErasureRepository {
  constructor(private readonly sql: Sql) {}

  async insert(row: Insertable<Database['erasures']>): Promise<void> {
    await this.sql.db.insertInto('erasures').values(row).execute();
  }

  /** The most recent erasure of this patient id, if any. */
  async latest(tenantId: string, patientId: string) {
    return this.sql.db
      .selectFrom('erasures')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .orderBy('erased_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  async listPending() {
    return this.sql.db
      .selectFrom('erasures')
      .selectAll()
      .where('shredding', '=', 'pending')
      .orderBy('erased_at')
      .execute();
  }

  /** Marks the given pending erasures of the tenant complete (one rotation covers all erasures committed before it began). */
  async complete(tenantId: string, ids: string[], now: number): Promise<string[]> {
    if (!ids.length) return [];
    const rows = await this.sql.db
      .updateTable('erasures')
      .set({ shredding: 'complete', completed_at: now })
      .where('tenant_id', '=', tenantId)
      .where('shredding', '=', 'pending')
      .where('id', 'in', ids)
      .returning('id')
      .execute();
    return rows.map((r) => r.id);
  }

  /** Cancels the patient's pending deliveries (a worker holding one loses its lease); returns their ids. */
  async cancelPatientDeliveries(
    tenantId: string,
    patientId: string,
    now: number,
    code: string,
  ): Promise<{ id: string; notification_id: string }[]> {
    return this.sql.db
      .updateTable('deliveries')
      .set({
        status: 'cancelled',
        cancelled_at: now,
        updated_at: now,
        lease_owner: null,
        lease_until: null,
        last_error_code: code,
      })
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .where('status', 'in', ['scheduled', 'queued', 'sending'])
      .returning(['id', 'notification_id'])
      .execute();
  }

  /**
   * Empties the content of the patient's notifications and deliveries, keeping the rows as
   * tombstones (ids, type, times, statuses). A zero-length `data_ct` marks an erased notification.
   */
  async stripPatientContent(
    tenantId: string,
    patientId: string,
    cancelledNotifications: string[],
    now: number,
  ): Promise<{ notifications: string[]; deliveries: string[] }> {
    const empty = new Uint8Array(0);
    const notifications = await this.sql.db
      .updateTable('notifications')
      .set({ data_ct: empty })
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .returning('id')
      .execute();
    for (let i = 0; i < cancelledNotifications.length; i += 500) {
      await this.sql.db
        .updateTable('notifications')
        .set({ cancelled_at: now })
        .where('id', 'in', cancelledNotifications.slice(i, i + 500))
        .where('cancelled_at', 'is', null)
        .execute();
    }
    const deliveries = await this.sql.db
      .updateTable('deliveries')
      .set({ link_ct: null })
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .returning('id')
      .execute();
    return { notifications: notifications.map((r) => r.id), deliveries: deliveries.map((r) => r.id) };
  }

  /**
   * Burns the patient's portal links (kept as tombstones: a token hash and ids, so the portal can
   * say "no longer available") and deletes their sessions. Returns how many links were burned.
   */
  async burnPatientLinks(tenantId: string, patientId: string, now: number): Promise<number> {
    const links = this.sql.db
      .selectFrom('access_links')
      .select('token_hash')
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId);
    await this.sql.db.deleteFrom('portal_sessions').where('link_hash', 'in', links).execute();
    const r = await this.sql.db
      .updateTable('access_links')
      .set((eb) => ({ burned_at: eb.fn.coalesce('burned_at', eb.val(now)), otp_hash: null, otp_expires_at: null }))
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Deletes the patient's appointments (their payload is PHI; reminders keep `appointment_id` as a plain reference). */
  async deleteAppointments(tenantId: string, patientId: string): Promise<number> {
    const r = await this.sql.db
      .deleteFrom('appointments')
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Deletes contact points (ciphertext and blind indexes), the patient row and, last, the wrapped data key. */
  async deletePatientAndKey(tenantId: string, patientId: string): Promise<{ contactPoints: number; dataKeys: number }> {
    const c = await this.sql.db
      .deleteFrom('contact_points')
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .executeTakeFirst();
    await this.sql.db.deleteFrom('patients').where('tenant_id', '=', tenantId).where('id', '=', patientId).execute();
    const k = await this.sql.db
      .deleteFrom('data_keys')
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .executeTakeFirst();
    return { contactPoints: Number(c.numDeletedRows), dataKeys: Number(k.numDeletedRows) };
  }

  /**
   * SQLite only (the caller checks the backend): turns on secure_delete for this connection, so the
   * cells and pages the erasure frees are overwritten with zeros instead of lingering in free space.
   */
  async sqliteSecureDelete(): Promise<void> {
    await raw`pragma secure_delete = on`.execute(this.sql.db);
  }
}
