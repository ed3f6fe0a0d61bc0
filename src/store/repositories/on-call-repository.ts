import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { PortOf } from './port-of.js';

export type ScheduleRow = Selectable<Database['on_call_schedules']>;
export type OverrideRow = Selectable<Database['on_call_overrides']>;
export type GroupRow = Selectable<Database['staff_groups']>;
export type UnitRoleRow = Selectable<Database['unit_roles']>;

/**
 * The directory of clinical alerting: on-call schedules and their overrides, staff groups and unit
 * role assignments (migration 017). Rows only: src/alerting/schedules and src/alerting/directory hold
 * the rules. Every read is scoped by tenant; bigint columns come back as strings on PostgreSQL
 * (callers wrap them in `Number`).
 */
export type OnCallRepository = PortOf<SqlOnCallRepository>;

export class SqlOnCallRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insertSchedule(row: Insertable<Database['on_call_schedules']>): Promise<void> {
    await this.db.insertInto('on_call_schedules').values(row).execute();
  }

  async schedule(tenantId: string, id: string): Promise<ScheduleRow | undefined> {
    return this.db
      .selectFrom('on_call_schedules')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** Schedules of a tenant after `afterId` in id order (ids are UUIDv7: creation order). */
  async listSchedules(tenantId: string, afterId: string, limit: number): Promise<ScheduleRow[]> {
    return this.db
      .selectFrom('on_call_schedules')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  /** Replaces name, zone and layers; false when the schedule does not exist in the tenant. */
  async updateSchedule(
    tenantId: string,
    id: string,
    set: Pick<ScheduleRow, 'name' | 'time_zone' | 'layers' | 'updated_at'>,
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('on_call_schedules')
      .set(set)
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Deletes a schedule and its overrides; false when it did not exist. */
  async deleteSchedule(tenantId: string, id: string): Promise<boolean> {
    await this.db
      .deleteFrom('on_call_overrides')
      .where('tenant_id', '=', tenantId)
      .where('schedule_id', '=', id)
      .execute();
    const r = await this.db
      .deleteFrom('on_call_schedules')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async insertOverrides(rows: readonly Insertable<Database['on_call_overrides']>[]): Promise<void> {
    if (rows.length > 0)
      await this.db
        .insertInto('on_call_overrides')
        .values([...rows])
        .execute();
  }

  /** Overrides of a schedule that overlap [from, to), oldest first (created_at, then id). */
  async overridesBetween(tenantId: string, scheduleId: string, from: number, to: number): Promise<OverrideRow[]> {
    return this.db
      .selectFrom('on_call_overrides')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('schedule_id', '=', scheduleId)
      .where('start_at', '<', to)
      .where('end_at', '>', from)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  /** The override `id` and, when it is half of a swap, its other half. */
  async overrideWithSwap(tenantId: string, scheduleId: string, id: string): Promise<OverrideRow[]> {
    const first = await this.db
      .selectFrom('on_call_overrides')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('schedule_id', '=', scheduleId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!first) return [];
    if (first.swap_id == null) return [first];
    return this.db
      .selectFrom('on_call_overrides')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('swap_id', '=', first.swap_id)
      .orderBy('id')
      .execute();
  }

  async deleteOverrides(tenantId: string, ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const r = await this.db
      .deleteFrom('on_call_overrides')
      .where('tenant_id', '=', tenantId)
      .where('id', 'in', [...ids])
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async insertGroup(row: Insertable<Database['staff_groups']>): Promise<void> {
    await this.db.insertInto('staff_groups').values(row).execute();
  }

  async group(tenantId: string, id: string): Promise<GroupRow | undefined> {
    return this.db
      .selectFrom('staff_groups')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async listGroups(tenantId: string, afterId: string, limit: number): Promise<GroupRow[]> {
    return this.db
      .selectFrom('staff_groups')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  async updateGroup(
    tenantId: string,
    id: string,
    set: Pick<GroupRow, 'name' | 'members' | 'updated_at'>,
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('staff_groups')
      .set(set)
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteGroup(tenantId: string, id: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('staff_groups')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async unitRole(tenantId: string, unit: string, role: string): Promise<UnitRoleRow | undefined> {
    return this.db
      .selectFrom('unit_roles')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('unit', '=', unit)
      .where('role', '=', role)
      .executeTakeFirst();
  }

  /** Every role assignment of a tenant, by unit then role. */
  async listUnitRoles(tenantId: string): Promise<UnitRoleRow[]> {
    return this.db
      .selectFrom('unit_roles')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('unit')
      .orderBy('role')
      .execute();
  }

  /** Inserts or replaces the assignment of `role` in `unit`; true when it was new. */
  async putUnitRole(row: UnitRoleRow): Promise<boolean> {
    const existed = await this.unitRole(row.tenant_id, row.unit, row.role);
    if (existed) {
      await this.db
        .updateTable('unit_roles')
        .set({
          user_ids: row.user_ids,
          schedule_id: row.schedule_id,
          updated_by: row.updated_by,
          updated_at: row.updated_at,
        })
        .where('tenant_id', '=', row.tenant_id)
        .where('unit', '=', row.unit)
        .where('role', '=', row.role)
        .execute();
      return false;
    }
    await this.db.insertInto('unit_roles').values(row).execute();
    return true;
  }

  async deleteUnitRole(tenantId: string, unit: string, role: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('unit_roles')
      .where('tenant_id', '=', tenantId)
      .where('unit', '=', unit)
      .where('role', '=', role)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Which of `ids` are users of the tenant, with their status (one query). */
  async userStatuses(tenantId: string, ids: readonly string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('users')
      .select(['id', 'status'])
      .where('tenant_id', '=', tenantId)
      .where('id', 'in', [...new Set(ids)])
      .execute();
    return new Map(rows.map((r) => [r.id, r.status]));
  }
}
