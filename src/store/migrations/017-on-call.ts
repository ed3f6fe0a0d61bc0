import type { Kysely } from 'kysely';

/**
 * The directory of clinical alerting (src/alerting/directory, src/alerting/schedules): who a target
 * names. Nothing here is PHI: names of schedules, groups, units and roles, user ids and times.
 * - `on_call_schedules`: a schedule's zone and its layers of rotations (JSON, validated by the service).
 * - `on_call_overrides`: a user takes a time range of a schedule; a swap is two overrides sharing `swap_id`.
 * - `staff_groups`: named sets of users (JSON array of ids).
 * - `unit_roles`: who holds `<role>@<unit>`: listed users and/or whoever is on call on a schedule.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('on_call_schedules')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('time_zone', 'text', (c) => c.notNull())
    .addColumn('layers', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('on_call_schedules_tenant')
    .on('on_call_schedules')
    .columns(['tenant_id', 'id'])
    .execute();

  await db.schema
    .createTable('on_call_overrides')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('schedule_id', 'text', (c) => c.notNull().references('on_call_schedules.id'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('start_at', 'bigint', (c) => c.notNull())
    .addColumn('end_at', 'bigint', (c) => c.notNull())
    .addColumn('swap_id', 'text')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('on_call_overrides_range')
    .on('on_call_overrides')
    .columns(['tenant_id', 'schedule_id', 'start_at'])
    .execute();

  await db.schema
    .createTable('staff_groups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('members', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('staff_groups_tenant').on('staff_groups').columns(['tenant_id', 'id']).execute();

  await db.schema
    .createTable('unit_roles')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('unit', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('user_ids', 'text', (c) => c.notNull())
    .addColumn('schedule_id', 'text')
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('unit_roles_pk', ['tenant_id', 'unit', 'role'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('unit_roles').execute();
  await db.schema.dropTable('staff_groups').execute();
  await db.schema.dropTable('on_call_overrides').execute();
  await db.schema.dropTable('on_call_schedules').execute();
}
