import type { Kysely } from 'kysely';

/**
 * Crypto-shredding (right to erasure). One row per erasure of a patient: the record that the patient
 * existed and was erased (ids and times only, never PHI) and the state of the key-encryption-key
 * rotation that completes it. `shredding` is 'pending' from the erasure's commit until the tenant
 * KEK has been rotated and the old version destroyed ('complete'); a node that starts and finds a
 * pending row resumes that rotation, so a crash in between leaves no erasure half done.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('erasures')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('patient_id', 'text', (c) => c.notNull())
    .addColumn('patient_ref', 'text', (c) => c.notNull())
    .addColumn('erased_at', 'bigint', (c) => c.notNull())
    .addColumn('shredding', 'text', (c) => c.notNull())
    .addColumn('completed_at', 'bigint')
    .execute();
  await db.schema.createIndex('erasures_patient').on('erasures').columns(['tenant_id', 'patient_id']).execute();
  await db.schema.createIndex('erasures_shredding').on('erasures').columns(['shredding']).execute();
}
