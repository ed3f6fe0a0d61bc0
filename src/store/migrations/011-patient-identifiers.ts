import type { Kysely } from 'kysely';
import { blob } from './column-types.js';

/**
 * Patient identifiers (MRNs and the like from HL7 PID-3 or FHIR `Patient.identifier`) and merges.
 *
 * `system` (an assigning authority, URI or OID) is not PHI and stays clear; `value_ct` is sealed under
 * the patient's data key; `lookup_bidx` is a keyed blind index of system and value, unique per tenant
 * so two patients cannot hold the same identifier. Erasure empties `value_ct` and keeps the row as a
 * tombstone (`erased_at`, a reference-key index in `lookup_bidx`), so a later message about the
 * erased person is recognised instead of re-creating them.
 *
 * `patients.merged_into`: a patient retired by a merge (HL7 A40) names its survivor; the row stays so
 * that its id answers "merged" rather than "unknown".
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('patient_identifiers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('patient_id', 'text', (c) => c.notNull())
    .addColumn('system', 'text', (c) => c.notNull())
    .addColumn('value_ct', blob(db))
    .addColumn('lookup_bidx', 'text', (c) => c.notNull())
    .addColumn('rank', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('erased_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('patient_identifiers_lookup')
    .on('patient_identifiers')
    .columns(['tenant_id', 'lookup_bidx'])
    .unique()
    .execute();
  await db.schema
    .createIndex('patient_identifiers_patient')
    .on('patient_identifiers')
    .columns(['tenant_id', 'patient_id'])
    .execute();
  await db.schema.alterTable('patients').addColumn('merged_into', 'text').execute();
  await db.schema.alterTable('patients').addColumn('merged_at', 'bigint').execute();
}
