import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { selectIn, stmt } from '../sql.js';

export type PatientRow = Selectable<Database['patients']>;

/** A patient with what sending to them needs: language, zone and the wrapped data key. */
export interface PatientWithKey {
  id: string;
  language: string;
  time_zone: string;
  key_id: string;
  wrapped: Uint8Array;
}

/** Patients (names and birth dates are ciphertext under the patient's data key). */
export interface PatientRepository {
  get(tenantId: string, id: string): Promise<PatientRow | undefined>;
  insert(row: Insertable<Database['patients']>): Promise<void>;
  update(tenantId: string, id: string, set: Updateable<Database['patients']>): Promise<void>;
  /**
   * The tenant's patients among `ids` that have a data key, with that key, in one query (the hot
   * path of every send). Unknown ids are left out; order is unspecified.
   */
  getWithKeys(tenantId: string, ids: readonly string[]): Promise<PatientWithKey[]>;
}

const GET = stmt('select * from patients where tenant_id = ? and id = ?');
const WITH_KEYS =
  'select p.id, p.language, p.time_zone, k.key_id, k.wrapped from patients p join data_keys k on k.tenant_id = p.tenant_id and k.patient_id = p.id where p.tenant_id = ? and';

export class SqlPatientRepository implements PatientRepository {
  constructor(private readonly sql: Sql) {}

  get(tenantId: string, id: string): Promise<PatientRow | undefined> {
    return this.sql.get<PatientRow>(GET, [tenantId, id]);
  }

  async insert(row: Insertable<Database['patients']>): Promise<void> {
    await this.sql.db.insertInto('patients').values(row).execute();
  }

  async update(tenantId: string, id: string, set: Updateable<Database['patients']>): Promise<void> {
    await this.sql.db.updateTable('patients').set(set).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
  }

  getWithKeys(tenantId: string, ids: readonly string[]): Promise<PatientWithKey[]> {
    return selectIn<PatientWithKey>(this.sql, WITH_KEYS, 'p.id', ids, [tenantId]);
  }
}
