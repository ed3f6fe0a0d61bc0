import type { Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { insertRows, selectIn, stmt } from '../sql.js';
import { columns } from './columns.js';

export type ConsentRow = Selectable<Database['consents']>;

const CONSENT_COLUMNS = columns('consents', [
  'id',
  'tenant_id',
  'patient_id',
  'channel',
  'decision',
  'source',
  'recorded_by',
  'recorded_at',
]);

/**
 * The consent ledger: patients' decisions (permit or deny) per channel (`sms`, `email`, `webhook`)
 * or for every channel (`*`). Append-only: a later record supersedes an earlier one that it covers
 * (core/consent-service.ts decides which one is in force); nothing here is PHI.
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
}

const GET = stmt('select * from consents where tenant_id = ? and id = ?');
const LIST = stmt('select * from consents where tenant_id = ? and patient_id = ? order by recorded_at, id');

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
}
