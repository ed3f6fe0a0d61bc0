import type { Kysely } from 'kysely';

/**
 * Alarm ids are scoped to a device's registration: `medical_devices.generation` counts the
 * registrations of an id (1 at the first, +1 each time a removed id is registered again), and
 * `device_alarms` is keyed by it, so a replaced monitor registered under its bed's old id starts
 * with no alarm ids of the old one. Existing rows are generation 1. The table is rebuilt because
 * its primary key changes (SQLite cannot alter a primary key).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('medical_devices')
    .addColumn('generation', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();

  await db.schema
    .createTable('device_alarms_019')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('alarm_id', 'text', (c) => c.notNull())
    .addColumn('alert_id', 'text', (c) => c.notNull())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .addColumn('cleared_at', 'bigint')
    .execute();
  await db
    .insertInto('device_alarms_019')
    .columns(['tenant_id', 'device_id', 'alarm_id', 'alert_id', 'received_at', 'cleared_at'])
    .expression(
      db
        .selectFrom('device_alarms')
        .select(['tenant_id', 'device_id', 'alarm_id', 'alert_id', 'received_at', 'cleared_at']),
    )
    .execute();
  await db.schema.dropTable('device_alarms').execute();
  await db.schema
    .createTable('device_alarms')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('generation', 'integer', (c) => c.notNull())
    .addColumn('alarm_id', 'text', (c) => c.notNull())
    .addColumn('alert_id', 'text', (c) => c.notNull())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .addColumn('cleared_at', 'bigint')
    .addPrimaryKeyConstraint('device_alarms_pk', ['tenant_id', 'device_id', 'generation', 'alarm_id'])
    .execute();
  await db
    .insertInto('device_alarms')
    .columns(['tenant_id', 'device_id', 'generation', 'alarm_id', 'alert_id', 'received_at', 'cleared_at'])
    .expression(
      db
        .selectFrom('device_alarms_019')
        .select([
          'tenant_id',
          'device_id',
          (eb) => eb.lit(1).as('generation'),
          'alarm_id',
          'alert_id',
          'received_at',
          'cleared_at',
        ]),
    )
    .execute();
  await db.schema.dropTable('device_alarms_019').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('device_alarms').execute();
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
  await db.schema.alterTable('medical_devices').dropColumn('generation').execute();
}
