import { sql, type Kysely } from 'kysely';
import { blob } from './column-types.js';

/**
 * Privacy monitoring (audit/privacy/): the alerts the monitor raises from the audit stream, the
 * privacy officers' notes on them, suppression rules, the patients flagged as sensitive, and the
 * monitor's own progress. Nothing here holds PHI: subjects are audit actors (`user:<id>`,
 * `ip:<address>`), evidence is audit indexes, patients are their pseudonymous audit reference.
 * Notes and suppression reasons are free text written about staff; they are sealed under the
 * tenant's `privacy-notes` data key all the same. Scores are kept in tenths (0..1000): no
 * floating-point columns.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('privacy_alerts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('detectors', 'text', (c) => c.notNull())
    .addColumn('score_tenths', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text')
    .addColumn('first_at', 'bigint', (c) => c.notNull())
    .addColumn('last_at', 'bigint', (c) => c.notNull())
    .addColumn('reasons', 'text', (c) => c.notNull())
    .addColumn('evidence', 'text', (c) => c.notNull())
    .addColumn('dedup_key', 'text', (c) => c.notNull())
    .addColumn('assignee', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('privacy_alerts_key')
    .on('privacy_alerts')
    .columns(['tenant_id', 'dedup_key'])
    .unique()
    .execute();
  await db.schema
    .createIndex('privacy_alerts_rank')
    .on('privacy_alerts')
    .columns(['tenant_id', 'status', 'score_tenths'])
    .execute();

  await db.schema
    .createTable('privacy_alert_notes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('alert_id', 'text', (c) => c.notNull().references('privacy_alerts.id'))
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('author', 'text', (c) => c.notNull())
    .addColumn('text_ct', blob(db), (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('privacy_alert_notes_alert')
    .on('privacy_alert_notes')
    .columns(['alert_id', 'at'])
    .execute();

  await db.schema
    .createTable('privacy_suppressions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('detector', 'text')
    .addColumn('subject', 'text')
    .addColumn('reason_ct', blob(db), (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('removed_at', 'bigint')
    // A rule naming neither a detector nor a subject would silence everything.
    .addCheckConstraint('privacy_suppressions_names_something', sql`detector is not null or subject is not null`)
    .execute();
  await db.schema
    .createIndex('privacy_suppressions_tenant')
    .on('privacy_suppressions')
    .columns(['tenant_id', 'expires_at'])
    .execute();

  await db.schema
    .createTable('privacy_sensitive_patients')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('patient_ref', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('set_by', 'text', (c) => c.notNull())
    .addColumn('set_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('privacy_sensitive_patients_pk', ['tenant_id', 'patient_ref'])
    .execute();

  await db.schema
    .createTable('privacy_monitor_state')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('cursor_idx', 'bigint', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'privacy_monitor_state',
    'privacy_sensitive_patients',
    'privacy_suppressions',
    'privacy_alert_notes',
    'privacy_alerts',
  ])
    await db.schema.dropTable(t).execute();
}
