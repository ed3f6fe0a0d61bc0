import type { CoreDeps, RequestContext } from '../../core/context.js';
import { audit } from '../../core/context.js';
import { AppError } from '../../core/errors.js';
import type { StoreTx } from '../../store/store.js';
import type { GroupRow, UnitRoleRow } from '../../store/repositories/on-call-repository.js';
import { requireUsers } from './users.js';

export interface GroupInput {
  name: string;
  memberIds: string[];
}
export interface GroupView extends GroupInput {
  id: string;
  createdAt: string;
  updatedAt: string;
}
export interface UnitRoleInput {
  userIds?: string[];
  scheduleId?: string | null;
}
export interface UnitRoleView {
  unit: string;
  role: string;
  userIds: string[];
  scheduleId: string | null;
  updatedBy: string;
  updatedAt: string;
}

const iso = (ms: number | string) => new Date(Number(ms)).toISOString();

/**
 * Staff groups (`group:<id>`) and unit role assignments (`<role>@<unit>`): who an alert addressed
 * to them reaches. Every write is checked in full (users of this tenant, an existing schedule)
 * before anything is written and audited in the same transaction (ids only).
 */
export class GroupService {
  constructor(private readonly deps: CoreDeps) {}

  private async write<T>(fn: (tx: StoreTx, now: Date) => Promise<T>): Promise<T> {
    const { store, clock } = this.deps;
    const out = await store.transaction((tx) => fn(tx, clock()));
    await store.durable();
    return out;
  }

  async create(ctx: RequestContext, input: GroupInput): Promise<GroupView> {
    return this.write(async (tx, now) => {
      await requireUsers(tx, ctx.tenantId, input.memberIds);
      const row: GroupRow = {
        id: this.deps.newId(),
        tenant_id: ctx.tenantId,
        name: input.name,
        members: JSON.stringify([...new Set(input.memberIds)]),
        created_by: ctx.actor,
        created_at: now.getTime(),
        updated_at: now.getTime(),
      };
      await tx.onCall.insertGroup(row);
      await audit(tx, ctx, now, { action: 'group.created', targetType: 'group', targetId: row.id });
      return groupView(row);
    });
  }

  async update(ctx: RequestContext, id: string, input: GroupInput): Promise<GroupView> {
    return this.write(async (tx, now) => {
      const row = await tx.onCall.group(ctx.tenantId, id);
      if (!row) throw new AppError('SP_GROUP_NOT_FOUND');
      await requireUsers(tx, ctx.tenantId, input.memberIds);
      const set = {
        name: input.name,
        members: JSON.stringify([...new Set(input.memberIds)]),
        updated_at: now.getTime(),
      };
      await tx.onCall.updateGroup(ctx.tenantId, id, set);
      await audit(tx, ctx, now, { action: 'group.updated', targetType: 'group', targetId: id });
      return groupView({ ...row, ...set });
    });
  }

  async remove(ctx: RequestContext, id: string): Promise<void> {
    await this.write(async (tx, now) => {
      if (!(await tx.onCall.deleteGroup(ctx.tenantId, id))) throw new AppError('SP_GROUP_NOT_FOUND');
      await audit(tx, ctx, now, { action: 'group.deleted', targetType: 'group', targetId: id });
    });
  }

  async get(ctx: RequestContext, id: string): Promise<GroupView> {
    const row = await this.deps.store.read.onCall.group(ctx.tenantId, id);
    if (!row) throw new AppError('SP_GROUP_NOT_FOUND');
    return groupView(row);
  }

  async list(
    ctx: RequestContext,
    limit: number,
    cursor?: string,
  ): Promise<{ items: GroupView[]; nextCursor: string | null }> {
    const rows = await this.deps.store.read.onCall.listGroups(ctx.tenantId, cursor ?? '', limit + 1);
    const items = rows.slice(0, limit).map(groupView);
    return { items, nextCursor: rows.length > limit ? items.at(-1)!.id : null };
  }

  /** Assigns `role` in `unit` (replacing any earlier assignment); `created` when it was new. */
  async putUnitRole(
    ctx: RequestContext,
    unit: string,
    role: string,
    input: UnitRoleInput,
  ): Promise<{ created: boolean; view: UnitRoleView }> {
    const userIds = [...new Set(input.userIds ?? [])];
    const scheduleId = input.scheduleId ?? null;
    if (userIds.length === 0 && scheduleId === null)
      throw new AppError('SP_UNIT_ROLE_INVALID', 'userIds or scheduleId');
    return this.write(async (tx, now) => {
      await requireUsers(tx, ctx.tenantId, userIds);
      if (scheduleId !== null && !(await tx.onCall.schedule(ctx.tenantId, scheduleId)))
        throw new AppError('SP_UNIT_ROLE_INVALID', 'scheduleId');
      const row: UnitRoleRow = {
        tenant_id: ctx.tenantId,
        unit,
        role,
        user_ids: JSON.stringify(userIds),
        schedule_id: scheduleId,
        updated_by: ctx.actor,
        updated_at: now.getTime(),
      };
      const created = await tx.onCall.putUnitRole(row);
      await audit(tx, ctx, now, {
        action: 'unit_role.assigned',
        targetType: 'unit_role',
        targetId: `${role}@${unit}`,
        details: { users: userIds.length, schedule: scheduleId },
      });
      return { created, view: unitRoleView(row) };
    });
  }

  async getUnitRole(ctx: RequestContext, unit: string, role: string): Promise<UnitRoleView> {
    const row = await this.deps.store.read.onCall.unitRole(ctx.tenantId, unit, role);
    if (!row) throw new AppError('SP_UNIT_ROLE_NOT_FOUND');
    return unitRoleView(row);
  }

  /** Every role assignment of the tenant (no PHI: units, roles, user and schedule ids). */
  async listUnitRoles(ctx: RequestContext): Promise<UnitRoleView[]> {
    return (await this.deps.store.read.onCall.listUnitRoles(ctx.tenantId)).map(unitRoleView);
  }

  async removeUnitRole(ctx: RequestContext, unit: string, role: string): Promise<void> {
    await this.write(async (tx, now) => {
      if (!(await tx.onCall.deleteUnitRole(ctx.tenantId, unit, role))) throw new AppError('SP_UNIT_ROLE_NOT_FOUND');
      await audit(tx, ctx, now, { action: 'unit_role.removed', targetType: 'unit_role', targetId: `${role}@${unit}` });
    });
  }
}

function groupView(r: GroupRow): GroupView {
  return {
    id: r.id,
    name: r.name,
    memberIds: JSON.parse(r.members) as string[],
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function unitRoleView(r: UnitRoleRow): UnitRoleView {
  return {
    unit: r.unit,
    role: r.role,
    userIds: JSON.parse(r.user_ids) as string[],
    scheduleId: r.schedule_id,
    updatedBy: r.updated_by,
    updatedAt: iso(r.updated_at),
  };
}
