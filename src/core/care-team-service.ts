import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientRef } from './context.js';
import { AppError } from './errors.js';
import { CLINICAL_ROLES } from './domain.js';

export interface CareTeamMember {
  userId: string;
  /** Audit actor of whoever added them (`user:<id>`, `api-key:<id>`, `client:<id>`). */
  addedBy: string;
  addedAt: string;
}

/**
 * Care teams: which physicians and nurses may see a patient's content (auth/patient-access.ts).
 * Assigned by an administrator or an integration holding `careteam.manage`; every change is audited
 * in its own transaction (ids only). Users and patients of another tenant are not found.
 */
export class CareTeamService {
  constructor(private readonly deps: CoreDeps) {}

  /**
   * Adds a user to a patient's care team; `added` is false when they already were on it (nothing
   * written). 404 SP_PATIENT_NOT_FOUND / SP_USER_NOT_FOUND for ids this tenant does not hold; 400
   * SP_CARETEAM_INVALID_MEMBER for a disabled user or one without a clinical role.
   */
  async add(
    ctx: RequestContext,
    patientId: string,
    userId: string,
  ): Promise<{ added: boolean; member: CareTeamMember }> {
    const { store, clock } = this.deps;
    const result = await store.transaction(async (tx) => {
      const access = tx.access;
      if (!(await access.patientExists(ctx.tenantId, patientId))) throw new AppError('SP_PATIENT_NOT_FOUND');
      const user = await access.userForAccess(ctx.tenantId, userId);
      if (!user) throw new AppError('SP_USER_NOT_FOUND');
      const roles = user.roles.split(' ');
      if (user.status === 'disabled' || !roles.some((r) => (CLINICAL_ROLES as readonly string[]).includes(r)))
        throw new AppError('SP_CARETEAM_INVALID_MEMBER');
      const now = clock();
      const added = await access.addCareTeamMember({
        tenant_id: ctx.tenantId,
        patient_id: patientId,
        user_id: userId,
        added_by: ctx.actor,
        created_at: now.getTime(),
      });
      if (added) {
        const ref = patientRef(this.deps, ctx.tenantId, patientId);
        await audit(tx, ctx, now, {
          action: 'care_team.member_added',
          targetType: 'user',
          targetId: userId,
          patientRef: ref,
        });
      }
      const row = (await access.listCareTeam(ctx.tenantId, patientId)).find((r) => r.user_id === userId)!;
      return { added, member: view(row) };
    });
    await store.durable();
    return result;
  }

  /** Removes a user from a patient's care team; false when they were not on it (nothing written). */
  async remove(ctx: RequestContext, patientId: string, userId: string): Promise<boolean> {
    const { store, clock } = this.deps;
    const removed = await store.transaction(async (tx) => {
      // No patient check: an erased patient's team can still be cleaned up.
      if (!(await tx.access.userForAccess(ctx.tenantId, userId))) throw new AppError('SP_USER_NOT_FOUND');
      const gone = await tx.access.removeCareTeamMember(ctx.tenantId, patientId, userId);
      if (gone)
        await audit(tx, ctx, clock(), {
          action: 'care_team.member_removed',
          targetType: 'user',
          targetId: userId,
          patientRef: patientRef(this.deps, ctx.tenantId, patientId),
        });
      return gone;
    });
    await store.durable();
    return removed;
  }

  /** The patient's care team, oldest member first (ids and times, no PHI). */
  async list(ctx: RequestContext, patientId: string): Promise<CareTeamMember[]> {
    const access = this.deps.store.read.access;
    if (!(await access.patientExists(ctx.tenantId, patientId))) throw new AppError('SP_PATIENT_NOT_FOUND');
    return (await access.listCareTeam(ctx.tenantId, patientId)).map(view);
  }
}

function view(r: { user_id: string; added_by: string; created_at: number }): CareTeamMember {
  return { userId: r.user_id, addedBy: r.added_by, addedAt: new Date(Number(r.created_at)).toISOString() };
}
