import { AppError } from '../../core/errors.js';
import type { StoreTx } from '../../store/store.js';
import type { ResolvedTarget, Target, TargetResolver } from '../alert-types.js';
import type { OnCallNow } from '../schedules/schedule-service.js';
import { reachable } from './users.js';

/** What the directory needs of schedules: who is on call at an instant (schedule-service.ts). */
export interface OnCallReader {
  /** Null when the schedule does not exist in the tenant. */
  onCallInTx(tx: StoreTx, tenantId: string, scheduleId: string, at: number): Promise<OnCallNow | null>;
}

/**
 * The directory: turns a target into people at the instant a step fires, reading inside the
 * caller's transaction, so an escalation sees the roster as of its own commit. Only reachable
 * users are returned (users.ts: active, or locked out of sign-in); a target that names nobody
 * resolves empty with the reason, never throws.
 */
export class Directory implements TargetResolver {
  constructor(private readonly schedules: OnCallReader) {}

  async resolveInTx(tx: StoreTx, tenantId: string, target: Target, at: Date): Promise<ResolvedTarget> {
    switch (target.kind) {
      case 'user': {
        const ids = await reachable(tx, tenantId, [target.userId]);
        return ids.length > 0 ? { userIds: ids } : { userIds: [], empty: 'user_inactive' };
      }
      case 'group': {
        const g = await tx.onCall.group(tenantId, target.groupId);
        const ids = g ? await reachable(tx, tenantId, JSON.parse(g.members) as string[]) : [];
        return ids.length > 0 ? { userIds: ids } : { userIds: [], empty: 'empty_group' };
      }
      case 'schedule': {
        const now = await this.schedules.onCallInTx(tx, tenantId, target.scheduleId, at.getTime());
        const ids = now ? await reachable(tx, tenantId, now.userIds) : [];
        return ids.length > 0 ? { userIds: ids } : { userIds: [], empty: 'no_one_on_call' };
      }
      case 'role': {
        const r = await tx.onCall.unitRole(tenantId, target.unit, target.role);
        if (!r) return { userIds: [], empty: 'no_role_holder' };
        const listed = JSON.parse(r.user_ids) as string[];
        const onCall = r.schedule_id
          ? await this.schedules.onCallInTx(tx, tenantId, r.schedule_id, at.getTime())
          : null;
        const ids = await reachable(tx, tenantId, [...listed, ...(onCall?.userIds ?? [])]);
        if (ids.length > 0) return { userIds: ids };
        // A role that only follows a schedule is empty because of a gap in that schedule.
        return { userIds: [], empty: listed.length === 0 && r.schedule_id ? 'no_one_on_call' : 'no_role_holder' };
      }
      case 'careteam': {
        const team = await tx.access.listCareTeam(tenantId, target.patientId);
        const ids = await reachable(
          tx,
          tenantId,
          team.map((m) => m.user_id),
        );
        return ids.length > 0 ? { userIds: ids } : { userIds: [], empty: 'no_care_team' };
      }
    }
  }

  async checkInTx(tx: StoreTx, tenantId: string, target: Target): Promise<void> {
    let found: boolean;
    switch (target.kind) {
      case 'user':
        found = (await tx.onCall.userStatuses(tenantId, [target.userId])).has(target.userId);
        break;
      case 'group':
        found = (await tx.onCall.group(tenantId, target.groupId)) !== undefined;
        break;
      case 'schedule':
        found = (await tx.onCall.schedule(tenantId, target.scheduleId)) !== undefined;
        break;
      case 'careteam':
        found = await tx.access.patientExists(tenantId, target.patientId);
        break;
      case 'role':
        // Any role in any unit may be named before someone is assigned it (resolves empty until then).
        found = true;
        break;
    }
    if (!found) throw new AppError('SP_ALERT_TARGET_NOT_FOUND');
  }
}
