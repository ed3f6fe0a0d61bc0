import type {
  AlertChannel,
  AlertForNotify,
  AlertNotifier,
  PlannedRecipient,
  PlannedSend,
  ResolvedTarget,
  Target,
  TargetResolver,
} from '../../src/alerting/alert-types.js';
import { AppError } from '../../src/core/errors.js';
import type { StoreTx } from '../../src/store/store.js';

/**
 * Small stand-ins for the directory and the notifier, for unit and contract tests of the alert core
 * only (e2e tests use the real ones): `user:<id>` names that user unless the id starts with `gone`
 * (unknown) or `off` (inactive); `schedule:gap` names nobody (`no_one_on_call`); `group:<id>` names
 * `<id>-1` and `<id>-2`.
 */
export class FakeResolver implements TargetResolver {
  async resolveInTx(_tx: StoreTx, _tenantId: string, t: Target): Promise<ResolvedTarget> {
    if (t.kind === 'user')
      return t.userId.startsWith('off') ? { userIds: [], empty: 'user_inactive' } : { userIds: [t.userId] };
    if (t.kind === 'schedule' && t.scheduleId === 'gap') return { userIds: [], empty: 'no_one_on_call' };
    if (t.kind === 'group') return { userIds: [`${t.groupId}-1`, `${t.groupId}-2`] };
    return { userIds: [], empty: 'no_role_holder' };
  }

  async checkInTx(_tx: StoreTx, _tenantId: string, t: Target): Promise<void> {
    if (t.kind === 'user' && t.userId.startsWith('gone')) throw new AppError('SP_ALERT_TARGET_NOT_FOUND');
  }
}

export interface PlannedCall {
  alertId: string;
  step: number;
  repeat: number;
  users: string[];
  channels: readonly AlertChannel[];
  bypassQuiet: boolean;
}

/** Records what it was asked to plan; people whose id starts with `mute` cannot be reached. */
export class FakeNotifier implements AlertNotifier {
  planned: PlannedCall[] = [];
  cancelled: string[] = [];
  dispatched: PlannedSend[] = [];

  async planInTx(
    _tx: StoreTx,
    _ctx: unknown,
    a: AlertForNotify,
    recipients: readonly PlannedRecipient[],
    channels: readonly AlertChannel[],
    _at: Date,
    bypassQuiet: boolean,
  ): Promise<{ sends: PlannedSend[]; reached: number; told: string[] }> {
    const users = recipients.map((r) => r.userId);
    this.planned.push({ alertId: a.id, step: a.step, repeat: a.repeat, users, channels, bypassQuiet });
    const reached = users.filter((u) => !u.startsWith('mute'));
    return {
      sends: reached.map((u) => ({
        notificationId: `${a.id}/${a.step}/${a.repeat}/${u}`,
        tenantId: a.tenantId,
        channel: channels[0]!,
      })),
      reached: reached.length,
      told: reached,
    };
  }

  dispatch(sends: readonly PlannedSend[]): void {
    this.dispatched.push(...sends);
  }

  async cancelPendingInTx(_tx: StoreTx, _tenantId: string, alertId: string): Promise<void> {
    this.cancelled.push(alertId);
  }
}
