import type { Kysely } from 'kysely';

/**
 * Patients' delivery preferences and the send ledger of routine deliveries (frequency caps,
 * deduplication, digests).
 *
 * `patient_preferences`: one row per patient; nothing in it is PHI (channel names per notification
 * type as JSON, a language code, minutes of the local day).
 *
 * `delivery_sends`: one row per routine delivery the worker let go out (written in the claim's own
 * transaction, under a per-patient lock on PostgreSQL), counted for the caps and compared by
 * `content_key` (a keyed hash of type and content, never the content) for deduplication. A delivery
 * that went inside another's digest nudge names it in `digest_of` and is not counted for the caps.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('patient_preferences')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('patient_id', 'text', (c) => c.notNull())
    .addColumn('channels', 'text', (c) => c.notNull())
    .addColumn('language', 'text')
    .addColumn('quiet_start', 'integer')
    .addColumn('quiet_end', 'integer')
    .addColumn('no_text_after', 'integer')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('patient_preferences_pk', ['tenant_id', 'patient_id'])
    .execute();
  await db.schema
    .createTable('delivery_sends')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('delivery_id', 'text', (c) => c.notNull())
    .addColumn('patient_id', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('notification_id', 'text', (c) => c.notNull())
    .addColumn('content_key', 'text', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('digest_of', 'text')
    .addPrimaryKeyConstraint('delivery_sends_pk', ['tenant_id', 'delivery_id'])
    .execute();
  // The worker's read per claimed batch: a patient's sends since the longest window.
  await db.schema
    .createIndex('delivery_sends_patient')
    .on('delivery_sends')
    .columns(['tenant_id', 'patient_id', 'at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('delivery_sends').execute();
  await db.schema.dropTable('patient_preferences').execute();
}
