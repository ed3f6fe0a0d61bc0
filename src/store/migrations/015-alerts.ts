import { sql, type Kysely } from 'kysely';
import { blob } from './column-types.js';

/**
 * Clinical alerts (src/alerting):
 * - `escalation_policies`: ordered steps (JSON), a separate rule set for priority high, fallback
 *   targets; at most one default per tenant (partial unique index).
 * - `alerts`: one row per alert; `summary` is PHI-free by validation, `details_ct` is sealed (under
 *   the patient's data key, else the tenant's `alerts:<tenant>` key); `open_dedup` holds the keyed
 *   hash of the dedup key while the alert is open (unique per tenant), null once it is closed; the
 *   policy in force is copied at trigger time (`policy_json`) so edits never re-route a live alert.
 * - `alert_timers`: the next step or repeat of each open alert, one row per (alert, step, repeat):
 *   firing marks the row (`fired_at`) conditionally, so a step fires once whatever the nodes do.
 * - `alert_events`: the timeline (ids, codes and times only).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('escalation_policies')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('is_default', 'integer', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('escalation_policies_one_default')
    .on('escalation_policies')
    .column('tenant_id')
    .unique()
    .where(sql.ref('is_default'), '=', 1)
    .execute();

  await db.schema
    .createTable('alerts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('priority', 'text', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('patient_id', 'text')
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('details_ct', blob(db))
    .addColumn('source', 'text')
    .addColumn('dedup_bidx', 'text')
    .addColumn('open_dedup', 'text')
    .addColumn('policy_id', 'text')
    .addColumn('policy_json', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('step', 'integer', (c) => c.notNull())
    .addColumn('repeat', 'integer', (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_triggered_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('acknowledged_at', 'bigint')
    .addColumn('acknowledged_by', 'text')
    .addColumn('closed_at', 'bigint')
    .addColumn('closed_by', 'text')
    .execute();
  await db.schema.createIndex('alerts_open_dedup').on('alerts').columns(['tenant_id', 'open_dedup']).unique().execute();
  await db.schema.createIndex('alerts_tenant_created').on('alerts').columns(['tenant_id', 'created_at']).execute();

  await db.schema
    .createTable('alert_timers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('alert_id', 'text', (c) => c.notNull().references('alerts.id'))
    .addColumn('step', 'integer', (c) => c.notNull())
    .addColumn('repeat', 'integer', (c) => c.notNull())
    .addColumn('due_at', 'bigint', (c) => c.notNull())
    .addColumn('fired_at', 'bigint')
    .addColumn('fired_by', 'text')
    .execute();
  await db.schema
    .createIndex('alert_timers_once')
    .on('alert_timers')
    .columns(['alert_id', 'step', 'repeat'])
    .unique()
    .execute();
  await db.schema
    .createIndex('alert_timers_due')
    .on('alert_timers')
    .column('due_at')
    .where(sql.ref('fired_at'), 'is', null)
    .execute();

  await db.schema
    .createTable('alert_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('alert_id', 'text', (c) => c.notNull().references('alerts.id'))
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('alert_events_alert').on('alert_events').columns(['alert_id', 'at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('alert_events').execute();
  await db.schema.dropTable('alert_timers').execute();
  await db.schema.dropTable('alerts').execute();
  await db.schema.dropTable('escalation_policies').execute();
}
