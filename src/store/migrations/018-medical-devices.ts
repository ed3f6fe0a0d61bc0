import { sql, type Kysely } from 'kysely';

/**
 * Medical devices that raise alarms over MQTT (src/alerting/devices/):
 * - `medical_devices`: one row per device, keyed by the caller-chosen id (e.g. `mon-4w-12`) within its
 *   tenant. A device proves who it is with its client certificate (`cert_sha256`: SHA-256 of the DER,
 *   lower-case hex; unique among devices not removed, across tenants, so a certificate names one
 *   device). `location` is `<unit>/<bed>` (not PHI); `patient_id` the monitored patient, if any;
 *   `target` an override of where its alarms go. `status` online | offline | unknown, with the alert
 *   an `offline` status raised (`offline_alert_id`), resolved when the device comes back. A removed
 *   device keeps its row (its alarms and audit entries name it); adding its id again re-registers it.
 * - `device_alarms`: one row per alarm id a device ever sent, with the alert it became. MQTT QoS 1
 *   delivers at least once: a repeated alarm id folds here even after its alert was resolved, and
 *   `…/alarms/<alarmId>/cleared` finds the alert to resolve. Ids only, no PHI.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('medical_devices')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('cert_sha256', 'text', (c) => c.notNull())
    .addColumn('location', 'text', (c) => c.notNull())
    .addColumn('patient_id', 'text')
    .addColumn('target', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('offline_alert_id', 'text')
    .addColumn('last_seen_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('removed_at', 'bigint')
    .addPrimaryKeyConstraint('medical_devices_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema
    .createIndex('medical_devices_cert')
    .on('medical_devices')
    .column('cert_sha256')
    .unique()
    .where(sql.ref('removed_at'), 'is', null)
    .execute();

  await db.schema
    .createTable('device_alarms')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('alarm_id', 'text', (c) => c.notNull())
    .addColumn('alert_id', 'text', (c) => c.notNull())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .addColumn('cleared_at', 'bigint')
    .addPrimaryKeyConstraint('device_alarms_pk', ['tenant_id', 'device_id', 'alarm_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('device_alarms').execute();
  await db.schema.dropTable('medical_devices').execute();
}
