import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { stmt } from '../sql.js';

export type PatientIdentifierRow = Selectable<Database['patient_identifiers']>;

/**
 * Patient identifiers (MRNs and the like): `system` clear, the value sealed under the patient's data
 * key, found by a keyed blind index (`lookup_bidx`, unique per tenant). An erased patient's
 * identifiers stay as tombstones (`erased_at` set, `value_ct` null) whose index still matches.
 */
export interface PatientIdentifierRepository {
  /** The patient's live identifiers (tombstones left out), by rank, then id. */
  list(tenantId: string, patientId: string): Promise<PatientIdentifierRow[]>;
  /** The tenant's rows (live or tombstones) whose index is one of `bidxs`, any order. */
  findByIndexes(tenantId: string, bidxs: readonly string[]): Promise<PatientIdentifierRow[]>;
  insert(row: Insertable<Database['patient_identifiers']>): Promise<void>;
  update(id: string, set: Updateable<Database['patient_identifiers']>): Promise<void>;
  delete(ids: readonly string[]): Promise<void>;
}

const LIST = stmt(
  'select * from patient_identifiers where tenant_id = ? and patient_id = ? and erased_at is null order by rank, id',
);

export class SqlPatientIdentifierRepository implements PatientIdentifierRepository {
  constructor(private readonly sql: Sql) {}

  list(tenantId: string, patientId: string): Promise<PatientIdentifierRow[]> {
    return this.sql.all<PatientIdentifierRow>(LIST, [tenantId, patientId]);
  }

  async findByIndexes(tenantId: string, bidxs: readonly string[]): Promise<PatientIdentifierRow[]> {
    if (!bidxs.length) return [];
    return this.sql.db
      .selectFrom('patient_identifiers')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('lookup_bidx', 'in', bidxs)
      .execute();
  }

  async insert(row: Insertable<Database['patient_identifiers']>): Promise<void> {
    await this.sql.db.insertInto('patient_identifiers').values(row).execute();
  }

  async update(id: string, set: Updateable<Database['patient_identifiers']>): Promise<void> {
    await this.sql.db.updateTable('patient_identifiers').set(set).where('id', '=', id).execute();
  }

  async delete(ids: readonly string[]): Promise<void> {
    if (ids.length) await this.sql.db.deleteFrom('patient_identifiers').where('id', 'in', ids).execute();
  }
}
