import type { Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { insertRows, placeholders, selectIn, shaped, stmt } from '../sql.js';
import { columns } from './columns.js';

export type PreferenceRow = Selectable<Database['patient_preferences']>;
export type DeliverySendRow = Selectable<Database['delivery_sends']>;

const PREFERENCE_COLUMNS = columns('patient_preferences', [
  'tenant_id',
  'patient_id',
  'channels',
  'language',
  'quiet_start',
  'quiet_end',
  'no_text_after',
  'updated_at',
]);
const SEND_COLUMNS = columns('delivery_sends', [
  'tenant_id',
  'delivery_id',
  'patient_id',
  'channel',
  'notification_id',
  'content_key',
  'at',
  'digest_of',
]);

/** Patients' delivery preferences (one row per patient; nothing PHI). */
export interface PreferenceRepository {
  get(tenantId: string, patientId: string): Promise<PreferenceRow | undefined>;
  /** The rows of the tenant's patients among `patientIds`, in one query (the worker's read per claimed batch). */
  getMany(tenantId: string, patientIds: readonly string[]): Promise<PreferenceRow[]>;
  /** Stores the row, replacing the patient's earlier one. */
  put(row: PreferenceRow): Promise<void>;
  /** Removes the patient's row (erasure); resolves with how many rows went. */
  deleteForPatient(tenantId: string, patientId: string): Promise<number>;
}

/**
 * The ledger of routine deliveries let go out, which the frequency caps count and deduplication
 * compares. Written in the claim's transaction; `lockPatients` makes check-then-write exact across
 * nodes on PostgreSQL (SQLite has one writer, whose transactions never overlap).
 */
export interface SendLedgerRepository {
  /**
   * Takes a transaction-scoped lock per (tenant, patient) in a fixed order, so that two claims for the
   * same patient on different nodes read and write the ledger one after the other. No-op on SQLite.
   */
  lockPatients(tenantId: string, patientIds: readonly string[]): Promise<void>;
  /** The tenant's rows of `patientIds` at or after `since`. */
  listSince(tenantId: string, patientIds: readonly string[], since: number): Promise<DeliverySendRow[]>;
  /** Appends rows; a delivery already in the ledger (a retry) keeps its first row. */
  insertMany(rows: readonly DeliverySendRow[]): Promise<void>;
  /** Removes the rows of `patientIds` older than `before` (past every window); resolves with how many. */
  prune(tenantId: string, patientIds: readonly string[], before: number): Promise<number>;
  /** Removes the patient's rows (erasure). */
  deleteForPatient(tenantId: string, patientId: string): Promise<number>;
  /**
   * Removes the rows of `deliveryIds` (deliveries whose send did not go out: failed, dead,
   * suppressed, cancelled, deferred, or dropped before sending); resolves with how many.
   */
  deleteDeliveries(tenantId: string, deliveryIds: readonly string[]): Promise<number>;
  /**
   * The notifications that went inside `leadDeliveryId`'s digest nudge (their deliveries: provider
   * `digest`, the lead's id as message id), oldest first: what its portal link shows besides its own.
   */
  digestMembers(tenantId: string, leadDeliveryId: string): Promise<string[]>;
  /**
   * Scheduled routine deliveries of `patientIds` due after `after` and at most at `until` (what a
   * routine delivery due now may wait for, to go out in one digest with them).
   */
  dueSoon(tenantId: string, patientIds: readonly string[], after: number, until: number): Promise<DueSoonRow[]>;
}

export interface DueSoonRow {
  id: string;
  patient_id: string;
  channel: string;
  run_at: number;
}

const GET = stmt('select * from patient_preferences where tenant_id = ? and patient_id = ?');
const DELETE_PREFS = stmt('delete from patient_preferences where tenant_id = ? and patient_id = ?');
const PUT_TAIL =
  'on conflict (tenant_id, patient_id) do update set channels = excluded.channels, language = excluded.language, ' +
  'quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, no_text_after = excluded.no_text_after, ' +
  'updated_at = excluded.updated_at';
// Class 25 of the two-key advisory lock space (one key per patient); sorted, so two claims never deadlock.
const LOCK = stmt(
  'select 1',
  'select count(pg_advisory_xact_lock(25, hashtext(k))) as n from (select unnest(?::text[]) as k order by k) s',
);
const DELETE_SENDS = stmt('delete from delivery_sends where tenant_id = ? and patient_id = ?');
const DELETE_SEND = stmt('delete from delivery_sends where tenant_id = ? and delivery_id = ?');
const DIGEST_MEMBERS = stmt(
  "select notification_id from deliveries where provider = 'digest' and provider_message_id = ? and tenant_id = ? order by created_at, id",
);

export class SqlPreferenceRepository implements PreferenceRepository {
  constructor(private readonly sql: Sql) {}

  get(tenantId: string, patientId: string): Promise<PreferenceRow | undefined> {
    return this.sql.get<PreferenceRow>(GET, [tenantId, patientId]);
  }

  getMany(tenantId: string, patientIds: readonly string[]): Promise<PreferenceRow[]> {
    return selectIn<PreferenceRow>(
      this.sql,
      'select * from patient_preferences where tenant_id = ? and',
      'patient_id',
      patientIds,
      [tenantId],
    );
  }

  async put(row: PreferenceRow): Promise<void> {
    await insertRows(this.sql, 'patient_preferences', PREFERENCE_COLUMNS, [row], PUT_TAIL);
  }

  deleteForPatient(tenantId: string, patientId: string): Promise<number> {
    return this.sql.run(DELETE_PREFS, [tenantId, patientId]);
  }
}

export class SqlSendLedgerRepository implements SendLedgerRepository {
  constructor(private readonly sql: Sql) {}

  async lockPatients(tenantId: string, patientIds: readonly string[]): Promise<void> {
    if (this.sql.backend !== 'postgres' || !patientIds.length) return;
    await this.sql.all(LOCK, [[...new Set(patientIds)].map((p) => `${tenantId}/${p}`).sort()]);
  }

  async listSince(tenantId: string, patientIds: readonly string[], since: number): Promise<DeliverySendRow[]> {
    const rows = await selectIn<DeliverySendRow>(
      this.sql,
      'select * from delivery_sends where tenant_id = ? and at >= ? and',
      'patient_id',
      patientIds,
      [tenantId, since],
    );
    return rows.map((r) => ({ ...r, at: Number(r.at) }));
  }

  async insertMany(rows: readonly DeliverySendRow[]): Promise<void> {
    await insertRows(this.sql, 'delivery_sends', SEND_COLUMNS, rows, 'on conflict (tenant_id, delivery_id) do nothing');
  }

  async prune(tenantId: string, patientIds: readonly string[], before: number): Promise<number> {
    if (!patientIds.length) return 0;
    if (this.sql.backend === 'postgres') return this.sql.run(PRUNE_ANY, [tenantId, before, [...patientIds]]);
    // SQLite: one statement per 200 patients (a claimed batch is one).
    let n = 0;
    for (let i = 0; i < patientIds.length; i += 200) {
      const part = patientIds.slice(i, i + 200);
      const s = shaped('prune delivery_sends', part.length, (k) =>
        stmt(`delete from delivery_sends where tenant_id = ? and at < ? and patient_id in ${placeholders(k)}`),
      );
      n += await this.sql.run(s, [tenantId, before, ...part]);
    }
    return n;
  }

  deleteForPatient(tenantId: string, patientId: string): Promise<number> {
    return this.sql.run(DELETE_SENDS, [tenantId, patientId]);
  }

  async deleteDeliveries(tenantId: string, deliveryIds: readonly string[]): Promise<number> {
    let n = 0;
    for (const id of new Set(deliveryIds)) n += await this.sql.run(DELETE_SEND, [tenantId, id]);
    return n;
  }

  async dueSoon(tenantId: string, patientIds: readonly string[], after: number, until: number): Promise<DueSoonRow[]> {
    const rows = await selectIn<DueSoonRow>(
      this.sql,
      "select id, patient_id, channel, run_at from deliveries where status = 'scheduled' and run_at > ? and run_at <= ? and tenant_id = ? and priority = 'routine' and",
      'patient_id',
      patientIds,
      [after, until, tenantId],
    );
    return rows.map((r) => ({ ...r, run_at: Number(r.run_at) }));
  }

  async digestMembers(tenantId: string, leadDeliveryId: string): Promise<string[]> {
    const rows = await this.sql.all<{ notification_id: string }>(DIGEST_MEMBERS, [leadDeliveryId, tenantId]);
    return [...new Set(rows.map((r) => r.notification_id))];
  }
}

const PRUNE_ANY = stmt('select 1', 'delete from delivery_sends where tenant_id = ? and at < ? and patient_id = any(?)');
