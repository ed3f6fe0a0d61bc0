import type { Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { insertRows, selectIn, stmt } from '../sql.js';
import { columns } from './columns.js';

export type ConsentRow = Selectable<Database['consents']>;
export type ConsentSettingsRow = Selectable<Database['consent_settings']>;

const CONSENT_COLUMNS = columns('consents', [
  'id',
  'tenant_id',
  'patient_id',
  'channel',
  'purpose',
  'decision',
  'source',
  'recorded_by',
  'recorded_at',
]);

/**
 * The consent ledger: patients' decisions (permit or deny) per channel (`sms`, `email`, …, or `*`
 * for every channel) and purpose (`appointment`, `results`, …, or `*`). Append-only: a later record
 * supersedes an earlier one that it covers (core/consent-service.ts decides which one is in force);
 * nothing here is PHI. Also the tenants' SMS keyword settings, and the send locks of patients
 * (PostgreSQL advisory locks) that order a send against a revocation.
 */
export interface ConsentRepository {
  /** Appends records; ids are new, so this never conflicts. */
  insertMany(rows: readonly ConsentRow[]): Promise<void>;
  get(tenantId: string, id: string): Promise<ConsentRow | undefined>;
  /** A patient's records, oldest first (recorded_at, then id). */
  listForPatient(tenantId: string, patientId: string): Promise<ConsentRow[]>;
  /**
   * Every record of the tenant's patients among `patientIds`, in one query, oldest first per
   * patient (recorded_at, then id): what the delivery worker reads once per claimed batch.
   */
  listForPatients(tenantId: string, patientIds: readonly string[]): Promise<ConsentRow[]>;
  /**
   * The contact points of `system` whose blind index is one of `bidxs` (a number's stored forms):
   * who an inbound keyword from that number speaks for.
   */
  contactsByIndex(
    tenantId: string,
    system: string,
    bidxs: readonly string[],
  ): Promise<{ id: string; patient_id: string; opted_out_at: number | null }[]>;
  /** Erasure: deletes every record of the patient; returns how many. */
  deleteForPatient(tenantId: string, patientId: string): Promise<number>;
  /** The tenant's keyword settings row, if it ever changed them. */
  getSettings(tenantId: string): Promise<ConsentSettingsRow | undefined>;
  /** Creates or replaces the tenant's keyword settings row. */
  putSettings(row: ConsentSettingsRow): Promise<void>;
  /**
   * PostgreSQL: takes the transaction-scoped advisory lock of each key (`tenant/patient`), in
   * sorted order, shared (a send) or exclusive (a revocation); released at commit or rollback.
   * SQLite: does nothing (one node: the store's in-process locks do it, see Store.sendLocked).
   */
  lockPatients(keys: readonly string[], mode: 'shared' | 'exclusive'): Promise<void>;
}

const GET = stmt('select * from consents where tenant_id = ? and id = ?');
const LIST = stmt('select * from consents where tenant_id = ? and patient_id = ? order by recorded_at, id');
const DELETE = stmt('delete from consents where tenant_id = ? and patient_id = ?');
const GET_SETTINGS = stmt('select * from consent_settings where tenant_id = ?');
const PUT_SETTINGS = stmt(
  'insert into consent_settings (tenant_id, settings, updated_by, updated_at) values (?, ?, ?, ?) ' +
    'on conflict (tenant_id) do update set settings = excluded.settings, updated_by = excluded.updated_by, updated_at = excluded.updated_at',
);
// One 64-bit key per patient (a collision only makes two patients wait for each other).
// Every key of a batch in one round trip, taken in key order.
const lockAll = (fn: string) =>
  stmt(
    `select count(${fn}(hashtextextended('sealpost.send/' || k, 0))) as n ` +
      'from (select distinct unnest(?::text[]) as k order by 1) as keys',
  );
const LOCK_SHARED = lockAll('pg_advisory_xact_lock_shared');
const LOCK_EXCLUSIVE = lockAll('pg_advisory_xact_lock');

export class SqlConsentRepository implements ConsentRepository {
  constructor(private readonly sql: Sql) {}

  async insertMany(rows: readonly ConsentRow[]): Promise<void> {
    await insertRows(this.sql, 'consents', CONSENT_COLUMNS, rows);
  }

  get(tenantId: string, id: string): Promise<ConsentRow | undefined> {
    return this.sql.get<ConsentRow>(GET, [tenantId, id]);
  }

  listForPatient(tenantId: string, patientId: string): Promise<ConsentRow[]> {
    return this.sql.all<ConsentRow>(LIST, [tenantId, patientId]);
  }

  async listForPatients(tenantId: string, patientIds: readonly string[]): Promise<ConsentRow[]> {
    const rows = await selectIn<ConsentRow>(
      this.sql,
      'select * from consents where tenant_id = ? and',
      'patient_id',
      patientIds,
      [tenantId],
    );
    return rows.sort(
      (a, b) => Number(a.recorded_at) - Number(b.recorded_at) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
  }

  contactsByIndex(
    tenantId: string,
    system: string,
    bidxs: readonly string[],
  ): Promise<{ id: string; patient_id: string; opted_out_at: number | null }[]> {
    return selectIn(
      this.sql,
      'select id, patient_id, opted_out_at from contact_points where tenant_id = ? and system = ? and',
      'value_bidx',
      bidxs,
      [tenantId, system],
    );
  }

  deleteForPatient(tenantId: string, patientId: string): Promise<number> {
    return this.sql.run(DELETE, [tenantId, patientId]);
  }

  getSettings(tenantId: string): Promise<ConsentSettingsRow | undefined> {
    return this.sql.get<ConsentSettingsRow>(GET_SETTINGS, [tenantId]);
  }

  async putSettings(row: ConsentSettingsRow): Promise<void> {
    await this.sql.run(PUT_SETTINGS, [row.tenant_id, row.settings, row.updated_by, row.updated_at]);
  }

  async lockPatients(keys: readonly string[], mode: 'shared' | 'exclusive'): Promise<void> {
    if (this.sql.backend !== 'postgres') return;
    if (keys.length) await this.sql.all(mode === 'shared' ? LOCK_SHARED : LOCK_EXCLUSIVE, [[...new Set(keys)].sort()]);
  }
}
