import type { CoreDeps, RequestContext } from '../core/context.js';
import { audit, idempotencyKeyRef, patientDataKey, requestFingerprint } from '../core/context.js';
import { AppError } from '../core/errors.js';
import type { StoreTx } from '../store/store.js';
import type { AlertRow } from '../store/repositories/alert-repository.js';
import {
  OPEN_ALERT_STATES,
  parseTarget,
  type AlertResponder,
  type AlertState,
  type AlertTrigger,
  type AlertNotifier,
  type TargetResolver,
  type PlannedSend,
  type Responder,
  type ResponseVia,
  type TriggerInput,
  type TriggerResult,
} from './alert-types.js';
import { checkSummary, patientMarkersInTx } from './alert-summary.js';
import { BUILT_IN_POLICY, stepsFor, type PolicyBody } from './escalation-policy.js';
import { EscalationRunner } from './escalation-policy-runner.js';
import { EscalationPolicyService } from './escalation-policy-service.js';
import { TimerWorker } from './alert-timers.js';
import {
  alertView,
  eventView,
  isRecipient,
  parseAlertCursor,
  type AlertDetailView,
  type AlertView,
} from './alert-views.js';

/** Who reads an alert: details are shown to its recipients and to people with the patient relationship. */
export interface AlertViewer {
  userId?: string;
  sessionId?: string;
}

/**
 * Clinical alerts: trigger (with dedup folding), responses and reads. Every change and its audit
 * entry commit in one transaction; nudges are handed to their channels only once it is durable.
 */
export class AlertService implements AlertTrigger, AlertResponder {
  constructor(
    private readonly core: CoreDeps,
    private readonly runner: EscalationRunner,
    private readonly dispatch: (sends: readonly PlannedSend[]) => void,
  ) {}

  trigger(ctx: RequestContext, input: TriggerInput): Promise<TriggerResult> {
    return this.triggerOnce(ctx, input).then((r) => r.result);
  }

  /** `POST /v1/alerts`: like `trigger`, with an Idempotency-Key (same key and body: the first answer). */
  async triggerIdempotent(ctx: RequestContext, input: TriggerInput, key?: string): Promise<TriggerResult> {
    return (await this.triggerOnce(ctx, input, key)).result;
  }

  private async triggerOnce(
    ctx: RequestContext,
    input: TriggerInput,
    key?: string,
  ): Promise<{ result: TriggerResult; sends: PlannedSend[] }> {
    parseTarget(input.target);
    checkSummary(input.summary);
    const { store } = this.core;
    let out: { result: TriggerResult; sends: PlannedSend[] };
    try {
      out = await store.transaction((tx) => this.triggerInTx(tx, ctx, input, key));
    } catch (e) {
      // Two triggers at once on PostgreSQL that raced for one row (the open alert of a dedup key, the
      // tenant's first alert key, an Idempotency-Key): run again, the loser then finds the winner's row.
      if (!isUniqueViolation(e)) throw e;
      out = await store.transaction((tx) => this.triggerInTx(tx, ctx, input, key));
    }
    await store.durable();
    this.dispatch(out.sends);
    return out;
  }

  private async triggerInTx(
    tx: StoreTx,
    ctx: RequestContext,
    input: TriggerInput,
    key?: string,
  ): Promise<{ result: TriggerResult; sends: PlannedSend[] }> {
    const { cipher, clock, newId } = this.core;
    const keyRef = key ? idempotencyKeyRef(this.core, ctx.tenantId, key) : undefined;
    const hash = requestFingerprint(this.core, ctx.tenantId, 'alerts.trigger', input);
    if (keyRef) {
      const prior = await tx.idempotency.get(ctx.tenantId, keyRef);
      if (prior) {
        if (prior.request_hash !== hash) throw new AppError('SP_IDEMPOTENCY_KEY_REUSED');
        return { result: JSON.parse(prior.response) as TriggerResult, sends: [] };
      }
    }
    const now = clock();
    let sealKey: Buffer;
    if (input.patientId) {
      const p = await patientMarkersInTx(this.core, tx, ctx.tenantId, input.patientId);
      if (!p) throw new AppError('SP_PATIENT_NOT_FOUND');
      checkSummary(input.summary, p.markers);
      sealKey = p.key;
    } else sealKey = await this.tenantKey(tx, ctx.tenantId, now.getTime());
    await this.runner.checkTarget(tx, ctx.tenantId, input.target);
    const policy = await this.policyFor(tx, ctx.tenantId, input.policyId);
    const dedup = input.dedupKey ? cipher.blindIndex(ctx.tenantId, 'alert.dedup', input.dedupKey) : null;
    const remember = async (result: TriggerResult) => {
      if (keyRef)
        await tx.idempotency.insertMany([
          {
            tenant_id: ctx.tenantId,
            key: keyRef,
            request_hash: hash,
            status_code: result.created ? 201 : 200,
            response: JSON.stringify(result),
            created_at: now.getTime(),
          },
        ]);
      return result;
    };

    const open = dedup ? await tx.alerts.findOpenByDedup(ctx.tenantId, dedup) : undefined;
    if (open) {
      const count = open.count + 1;
      await tx.alerts.update(ctx.tenantId, open.id, {
        count,
        last_triggered_at: now.getTime(),
        updated_at: now.getTime(),
      });
      await this.runner.event(tx, open, 'folded', ctx.actor, now, { count });
      await audit(tx, ctx, now, {
        action: 'alert.folded',
        targetType: 'alert',
        targetId: open.id,
        patientRef: this.runner.pref(open),
        details: { count },
      });
      return { result: await remember({ alertId: open.id, created: false, count }), sends: [] };
    }

    const id = newId();
    const row: AlertRow = {
      id,
      tenant_id: ctx.tenantId,
      priority: input.priority,
      target: input.target,
      patient_id: input.patientId ?? null,
      summary: input.summary,
      details_ct:
        input.details === undefined
          ? null
          : cipher.encrypt(
              sealKey,
              { tenantId: ctx.tenantId, table: 'alerts', rowId: id, field: 'details' },
              input.details,
            ),
      source: input.source ?? null,
      dedup_bidx: dedup,
      open_dedup: dedup,
      policy_id: policy.id,
      policy_json: JSON.stringify(policy.body),
      state: 'triggered',
      step: -1,
      repeat: 0,
      count: 1,
      created_by: ctx.actor,
      created_at: now.getTime(),
      last_triggered_at: now.getTime(),
      updated_at: now.getTime(),
      acknowledged_at: null,
      acknowledged_by: null,
      closed_at: null,
      closed_by: null,
    };
    await tx.alerts.insert(row);
    await this.runner.event(tx, row, 'triggered', ctx.actor, now, { priority: row.priority, policyId: policy.id });
    await audit(tx, ctx, now, {
      action: 'alert.triggered',
      targetType: 'alert',
      targetId: id,
      patientRef: this.runner.pref(row),
      details: { priority: row.priority, policy: policy.id ?? 'built-in', dedup: dedup !== null },
    });
    const sends = await this.runner.runInTx(tx, ctx, row, 0, 0, now.getTime(), now);
    return { result: await remember({ alertId: id, created: true, count: 1 }), sends };
  }

  /** The tenant's key for alerts without a patient (`alerts:<tenant>`), created on first use. */
  private async tenantKey(tx: StoreTx, tenantId: string, now: number): Promise<Buffer> {
    const keyId = `alerts:${tenantId}`;
    const existing = await patientDataKey(this.core, tx, tenantId, keyId);
    if (existing) return existing;
    const dk = await this.core.cipher.newDataKey(tenantId, keyId);
    await tx.dataKeys.insert({
      tenant_id: tenantId,
      patient_id: keyId,
      key_id: dk.wrapped.keyId,
      wrapped: dk.wrapped.wrapped,
      created_at: now,
    });
    return dk.key;
  }

  private async policyFor(
    tx: StoreTx,
    tenantId: string,
    policyId?: string,
  ): Promise<{ id: string | null; body: PolicyBody }> {
    const row = policyId ? await tx.alerts.getPolicy(tenantId, policyId) : await tx.alerts.defaultPolicy(tenantId);
    if (policyId && !row) throw new AppError('SP_ALERT_POLICY_NOT_FOUND');
    return row ? { id: row.id, body: JSON.parse(row.body) as PolicyBody } : { id: null, body: BUILT_IN_POLICY };
  }

  acknowledge(ctx: RequestContext, alertId: string, by: Responder): Promise<void> {
    return this.respond(ctx, alertId, 'acknowledge', by).then(() => undefined);
  }

  decline(ctx: RequestContext, alertId: string, by: Responder): Promise<void> {
    return this.respond(ctx, alertId, 'decline', by).then(() => undefined);
  }

  resolve(ctx: RequestContext, alertId: string, by: { userId?: string; via: ResponseVia | 'device' }): Promise<void> {
    return this.respond(ctx, alertId, 'resolve', by).then(() => undefined);
  }

  forward(ctx: RequestContext, alertId: string, by: Responder, target: string): Promise<AlertView> {
    parseTarget(target);
    return this.respond(ctx, alertId, 'forward', by, { target });
  }

  /**
   * One response in one transaction with its audit entry. `onlyRecipient`: the responder must be a
   * person the alert was sent to (an API key answering for someone), else 403 SP_ALERT_NOT_RECIPIENT.
   */
  async respond(
    ctx: RequestContext,
    alertId: string,
    action: 'acknowledge' | 'decline' | 'resolve' | 'forward',
    by: { userId?: string; via: ResponseVia | 'device' },
    o: { target?: string; onlyRecipient?: boolean } = {},
  ): Promise<AlertView> {
    const { store, clock } = this.core;
    const r = await store.transaction(async (tx) => {
      const now = clock();
      const a = await tx.alerts.getForUpdate(ctx.tenantId, alertId);
      if (!a) throw new AppError('SP_ALERT_NOT_FOUND');
      if (o.onlyRecipient && !(by.userId && isRecipient(await tx.alerts.events(ctx.tenantId, a.id), by.userId)))
        throw new AppError('SP_ALERT_NOT_RECIPIENT');
      const closed = a.state === 'resolved' || a.state === 'expired';
      if (closed) {
        if (action === 'resolve') return { a, sends: [] as PlannedSend[] };
        throw new AppError('SP_ALERT_CLOSED');
      }
      const who = { userId: by.userId ?? null, via: by.via };
      const done = async (kind: string, details: Record<string, unknown> = {}) => {
        await this.runner.event(tx, a, kind, ctx.actor, now, { ...who, ...details });
        await audit(tx, ctx, now, {
          action: `alert.${kind}`,
          targetType: 'alert',
          targetId: a.id,
          patientRef: this.runner.pref(a),
          details: { ...who, ...details },
        });
      };
      const sends: PlannedSend[] = [];
      if (action === 'acknowledge' || action === 'resolve') {
        if (action === 'acknowledge' && a.state === 'acknowledged') return { a, sends };
        const patch =
          action === 'acknowledge'
            ? { state: 'acknowledged', acknowledged_at: now.getTime(), acknowledged_by: by.userId ?? ctx.actor }
            : { state: 'resolved', closed_at: now.getTime(), closed_by: by.userId ?? ctx.actor, open_dedup: null };
        await tx.alerts.update(ctx.tenantId, a.id, { ...patch, updated_at: now.getTime() });
        Object.assign(a, patch);
        await tx.alerts.cancelTimers(a.id);
        await this.runner.cancelNudges(tx, ctx.tenantId, a.id, now);
        await done(action === 'acknowledge' ? 'acknowledged' : 'resolved');
      } else if (action === 'decline') {
        if (a.state === 'acknowledged') return { a, sends };
        await done('declined', { step: a.step });
        await tx.alerts.cancelTimers(a.id);
        sends.push(...(await this.runner.runInTx(tx, ctx, a, a.step + 1, 0, now.getTime(), now)));
      } else {
        await this.runner.checkTarget(tx, ctx.tenantId, o.target!);
        const { recipients } = await this.runner.resolve(tx, ctx.tenantId, [o.target!], now);
        const policy = JSON.parse(a.policy_json) as PolicyBody;
        const steps = stepsFor(policy, a.priority as never);
        const channels = steps[Math.min(Math.max(a.step, 0), steps.length - 1)]!.channels;
        const reached = recipients.length
          ? await this.runner.notify(tx, ctx, a, Math.max(a.step, 0), a.repeat, recipients, channels, now, sends)
          : 0;
        await done('forwarded', { target: o.target, recipients: recipients.map((p) => p.userId), reached });
      }
      return { a, sends };
    });
    await store.durable();
    this.dispatch(r.sends);
    return alertView(r.a);
  }

  async list(
    ctx: RequestContext,
    o: { state?: AlertState; priority?: string; open?: boolean; limit: number; cursor?: string },
  ): Promise<{ items: AlertView[]; nextCursor: string | null }> {
    const rows = await this.core.store.read.alerts.list(
      ctx.tenantId,
      { state: o.state, priority: o.priority, open: o.open, before: parseAlertCursor(o.cursor) },
      o.limit + 1,
    );
    const page = rows.slice(0, o.limit);
    const last = page[page.length - 1];
    return {
      items: page.map(alertView),
      nextCursor: rows.length > o.limit && last ? `${last.created_at}.${last.id}` : null,
    };
  }

  /**
   * One alert with its timeline. Its details are decrypted only for a recipient or a person with the
   * patient relationship (care team, live break-glass grant), and that read is audited first.
   */
  async get(ctx: RequestContext, id: string, viewer: AlertViewer): Promise<AlertDetailView> {
    const { store, cipher, clock } = this.core;
    const out = await store.transaction(async (tx) => {
      const a = await tx.alerts.get(ctx.tenantId, id);
      if (!a) throw new AppError('SP_ALERT_NOT_FOUND');
      const events = await tx.alerts.events(ctx.tenantId, id);
      const view: AlertDetailView = { ...alertView(a), timeline: events.map(eventView) };
      if (a.details_ct && viewer.userId && (await this.maySeeDetails(tx, a, events, viewer))) {
        const key = a.patient_id
          ? await patientDataKey(this.core, tx, ctx.tenantId, a.patient_id)
          : await patientDataKey(this.core, tx, ctx.tenantId, `alerts:${ctx.tenantId}`);
        if (key) {
          view.details = cipher.decrypt(
            key,
            { tenantId: ctx.tenantId, table: 'alerts', rowId: a.id, field: 'details' },
            Buffer.from(a.details_ct),
          );
          await this.runner.markRead(tx, ctx.tenantId, a.id, viewer.userId, clock());
          await audit(tx, ctx, clock(), {
            action: 'alert.details_read',
            targetType: 'alert',
            targetId: a.id,
            patientRef: this.runner.pref(a),
          });
        }
      }
      return view;
    });
    await store.durable();
    return out;
  }

  private async maySeeDetails(
    tx: StoreTx,
    a: AlertRow,
    events: Parameters<typeof isRecipient>[0],
    v: AlertViewer,
  ): Promise<boolean> {
    if (!v.userId) return false;
    if (isRecipient(events, v.userId)) return true;
    if (!a.patient_id) return false;
    if (await tx.access.isCareTeamMember(a.tenant_id, a.patient_id, v.userId)) return true;
    return v.sessionId
      ? !!(await tx.access.liveGrant(a.tenant_id, v.userId, v.sessionId, a.patient_id, this.core.clock().getTime()))
      : false;
  }
}

export const isOpen = (state: string) => (OPEN_ALERT_STATES as readonly string[]).includes(state);

function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === '23505' || /UNIQUE constraint failed/i.test(err?.message ?? '');
}

/** The alert core of one node: the service, the policies, the runner and the timer worker, wired. */
export function buildAlerting(
  core: CoreDeps,
  ports: { resolver: TargetResolver; notifier: AlertNotifier },
  o: { owner: string; batchSize?: number; maxSleepMs?: number; onError?: (e: unknown) => void },
): { alerts: AlertService; escalationPolicies: EscalationPolicyService; alertTimers: TimerWorker } {
  let worker: TimerWorker | null = null;
  const dispatch = (sends: readonly PlannedSend[]) => {
    if (sends.length) ports.notifier.dispatch(sends);
  };
  const runner = new EscalationRunner({
    core,
    ...ports,
    owner: o.owner,
    onTimer: (dueAt) => worker?.wake(dueAt),
  });
  worker = new TimerWorker(
    core.store,
    runner,
    dispatch,
    { batchSize: o.batchSize ?? 50, maxSleepMs: o.maxSleepMs ?? 250, clock: core.clock },
    o.onError,
  );
  return {
    alerts: new AlertService(core, runner, dispatch),
    escalationPolicies: new EscalationPolicyService(core, ports.resolver),
    alertTimers: worker,
  };
}
