import type { CoreDeps, RequestContext } from '../core/context.js';
import { audit, patientRef } from '../core/context.js';
import type { StoreTx } from '../store/store.js';
import type { AlertRow, AlertTimerRow } from '../store/repositories/alert-repository.js';
import {
  parseTarget,
  type AlertChannel,
  type AlertNotifier,
  type AlertPriority,
  type PlannedRecipient,
  type PlannedSend,
  type TargetResolver,
} from './alert-types.js';
import { ALERT_OWN_TARGET, nextAfter, stepsFor, type PolicyBody } from './escalation-policy.js';

export interface RunnerDeps {
  core: CoreDeps;
  resolver: TargetResolver;
  notifier: AlertNotifier;
  /** This node's name, recorded on the timers it fires. */
  owner: string;
  /** Told of every timer written on this node (its due time), so the local worker re-arms. */
  onTimer?: (dueAt: number) => void;
}

/** States whose timers still fire (an acknowledged alert stops escalating). */
const ESCALATING = new Set(['triggered', 'notified', 'escalated']);

/**
 * Fires escalation steps inside the caller's transaction: resolves the step's targets now, plans
 * the nudges (AlertNotifier), records the timeline and audit entries, and writes the one timer of
 * what comes next. Every firing first claims its (alert, step, repeat) slot in `alert_timers`, so a
 * step fires exactly once whoever reaches it (the timer worker of any node, a decline, a trigger).
 */
export class EscalationRunner {
  constructor(private readonly d: RunnerDeps) {}

  /** Appends a timeline entry (ids and codes only). */
  async event(tx: StoreTx, a: Pick<AlertRow, 'id' | 'tenant_id'>, kind: string, actor: string, at: Date, data = {}) {
    await tx.alerts.insertEvent({
      id: this.d.core.newId(),
      tenant_id: a.tenant_id,
      alert_id: a.id,
      at: at.getTime(),
      kind,
      actor,
      data: JSON.stringify(data),
    });
  }

  pref(a: Pick<AlertRow, 'tenant_id' | 'patient_id'>): string | undefined {
    return a.patient_id ? patientRef(this.d.core, a.tenant_id, a.patient_id) : undefined;
  }

  /** A due timer (claimed by the worker's transaction): fires it unless it is stale. */
  async fireTimerInTx(tx: StoreTx, t: AlertTimerRow, now: Date): Promise<PlannedSend[]> {
    if (!(await tx.alerts.markFired(t.id, now.getTime(), this.d.owner))) return [];
    const a = await tx.alerts.getForUpdate(t.tenant_id, t.alert_id);
    // Acknowledged, closed, or already past this point (a decline fired a later step): nothing to do.
    if (!a || !ESCALATING.has(a.state) || t.step < a.step || (t.step === a.step && t.repeat <= a.repeat)) return [];
    const ctx: RequestContext = { tenantId: a.tenant_id, actor: 'system:alert-timers' };
    return this.runInTx(tx, ctx, a, t.step, t.repeat, t.due_at, now, true);
  }

  /**
   * Fires (step, repeat) of `a` and whatever follows at once (a step that reaches nobody falls
   * through to the next), then schedules the next timer or expires the alert. `claimed`: the slot
   * of the first firing is already the caller's (a timer the worker marked).
   */
  async runInTx(
    tx: StoreTx,
    ctx: RequestContext,
    a: AlertRow,
    step: number,
    repeat: number,
    dueAt: number,
    now: Date,
    claimed = false,
  ): Promise<PlannedSend[]> {
    const policy = JSON.parse(a.policy_json) as PolicyBody;
    const steps = stepsFor(policy, a.priority as AlertPriority);
    const sends: PlannedSend[] = [];
    let [s, r, due] = [step, repeat, dueAt];
    for (;;) {
      if (s >= steps.length) {
        await this.expireInTx(tx, ctx, a, now);
        return sends;
      }
      const slot = { id: this.d.core.newId(), tenant_id: a.tenant_id, alert_id: a.id, step: s, repeat: r, due_at: due };
      if (!claimed && !(await tx.alerts.claimSlot({ ...slot, fired_at: now.getTime(), fired_by: this.d.owner })))
        return sends; // another transaction fires it
      claimed = false;
      const st = steps[s]!;
      const targets = st.targets.map((t) => (t === ALERT_OWN_TARGET ? a.target : t));
      let { recipients, empty } = await this.resolve(tx, a.tenant_id, targets, now);
      if (!recipients.length) {
        const adminAlert = await this.adminAlert(tx, ctx, a, 'no_one_on_call', now);
        await this.event(tx, a, 'no_one_on_call', ctx.actor, now, { step: s, reason: empty ?? 'empty', adminAlert });
        ({ recipients } = await this.resolve(tx, a.tenant_id, policy.fallbackTargets ?? [], now));
      }
      const { reached, told } = recipients.length
        ? await this.notify(tx, ctx, a, s, r, recipients, st.channels, now, sends)
        : { reached: 0, told: [] };
      const state = s === 0 ? 'notified' : 'escalated';
      await tx.alerts.update(a.tenant_id, a.id, { state, step: s, repeat: r, updated_at: now.getTime() });
      Object.assign(a, { state, step: s, repeat: r });
      await this.event(tx, a, state, ctx.actor, now, {
        step: s,
        repeat: r,
        // Only the people actually told (not suppressed, not unreachable): they are the recipients.
        recipients: told,
        named: recipients.length,
        reached,
      });
      await audit(tx, ctx, now, {
        action: s > 0 && r === 0 ? 'alert.escalated' : 'alert.notified',
        targetType: 'alert',
        targetId: a.id,
        patientRef: this.pref(a),
        details: { step: s, repeat: r, recipients: recipients.length, reached },
      });
      if (reached === 0) {
        // Nobody could be told: the next step fires now rather than after a silent wait.
        [s, r, due] = [s + 1, 0, now.getTime()];
        continue;
      }
      const next = nextAfter(steps, s, r);
      const nextDue = Math.max(due + next.delayMs, now.getTime());
      await tx.alerts.insertTimer({
        id: this.d.core.newId(),
        tenant_id: a.tenant_id,
        alert_id: a.id,
        step: next.step,
        repeat: next.repeat,
        due_at: nextDue,
        fired_at: null,
        fired_by: null,
      });
      this.d.onTimer?.(nextDue);
      return sends;
    }
  }

  /** Plans nudges to `recipients` on `channels`; resolves with how many, and who, will be told. */
  async notify(
    tx: StoreTx,
    ctx: RequestContext,
    a: AlertRow,
    step: number,
    repeat: number,
    recipients: PlannedRecipient[],
    channels: readonly AlertChannel[],
    now: Date,
    sends: PlannedSend[],
  ): Promise<{ reached: number; told: string[] }> {
    const plan = await this.d.notifier.planInTx(
      tx,
      ctx,
      {
        id: a.id,
        tenantId: a.tenant_id,
        priority: a.priority as AlertPriority,
        summary: a.summary,
        step,
        repeat,
        patientRef: this.pref(a),
      },
      recipients,
      channels,
      now,
      a.priority === 'high',
    );
    sends.push(...plan.sends);
    // A notifier that does not say who was told: everyone when all were reached, else nobody (a
    // recipient is a person who may read details, so an unknown stays out).
    const told = plan.told ?? (plan.reached === recipients.length ? recipients.map((p) => p.userId) : []);
    return { reached: plan.reached, told };
  }

  /** 400 SP_ALERT_TARGET_INVALID / 404 SP_ALERT_TARGET_NOT_FOUND unless the target exists in the tenant. */
  async checkTarget(tx: StoreTx, tenantId: string, target: string): Promise<void> {
    await this.d.resolver.checkInTx(tx, tenantId, parseTarget(target));
  }

  /** Cancels the unsent nudges of an alert (acknowledged, resolved). */
  cancelNudges(tx: StoreTx, tenantId: string, alertId: string, at: Date): Promise<void> {
    return this.d.notifier.cancelPendingInTx(tx, tenantId, alertId, at);
  }

  /** Read receipt: the person opened the alert's details; their sent nudges of it become `read`. */
  async markRead(tx: StoreTx, tenantId: string, alertId: string, userId: string, at: Date): Promise<void> {
    await this.d.notifier.markRead?.(tx, tenantId, alertId, userId, at);
  }

  /** The people `targets` name now (first target that named a person wins the attribution). */
  async resolve(
    tx: StoreTx,
    tenantId: string,
    targets: readonly string[],
    at: Date,
  ): Promise<{ recipients: PlannedRecipient[]; empty?: string }> {
    const seen = new Map<string, PlannedRecipient>();
    let empty: string | undefined;
    for (const t of targets) {
      const r = await this.d.resolver.resolveInTx(tx, tenantId, parseTarget(t), at);
      if (!r.userIds.length) empty ??= r.empty;
      for (const userId of r.userIds) if (!seen.has(userId)) seen.set(userId, { userId, target: t });
    }
    return { recipients: [...seen.values()], empty };
  }

  /** The final step passed unanswered: expired (closed), an administrator alert raised. */
  async expireInTx(tx: StoreTx, ctx: RequestContext, a: AlertRow, now: Date): Promise<void> {
    await tx.alerts.update(a.tenant_id, a.id, {
      state: 'expired',
      closed_at: now.getTime(),
      closed_by: ctx.actor,
      open_dedup: null,
      updated_at: now.getTime(),
    });
    a.state = 'expired';
    await tx.alerts.cancelTimers(a.id);
    const adminAlert = await this.adminAlert(tx, ctx, a, 'alert_unanswered', now);
    await this.event(tx, a, 'expired', ctx.actor, now, { adminAlert });
    await audit(tx, ctx, now, {
      action: 'alert.expired',
      targetType: 'alert',
      targetId: a.id,
      patientRef: this.pref(a),
      details: { step: a.step, adminAlert },
    });
  }

  /**
   * A timer of `t`'s alert failed `failures` times in a row: an administrator alert
   * (`alert_timer_failed`), on the timeline and audited. The timer itself is still retried.
   */
  async timerFailedInTx(tx: StoreTx, t: AlertTimerRow, failures: number, now: Date): Promise<void> {
    const ctx: RequestContext = { tenantId: t.tenant_id, actor: 'system:alert-timers' };
    const a = { id: t.alert_id, tenant_id: t.tenant_id };
    const adminAlert = await this.adminAlert(tx, ctx, a, 'alert_timer_failed', now);
    const details = { step: t.step, repeat: t.repeat, failures, adminAlert };
    await this.event(tx, a, 'timer_failed', ctx.actor, now, details);
    await audit(tx, ctx, now, { action: 'alert.timer_failed', targetType: 'alert', targetId: a.id, details });
  }

  async adminAlert(
    tx: StoreTx,
    ctx: RequestContext,
    a: Pick<AlertRow, 'id' | 'tenant_id'>,
    kind: string,
    now: Date,
  ): Promise<string> {
    const id = this.d.core.newId();
    await tx.access.insertAlert({
      id,
      tenant_id: a.tenant_id,
      kind,
      actor: ctx.actor,
      target_type: 'alert',
      target_id: a.id,
      created_at: now.getTime(),
    });
    return id;
  }
}
