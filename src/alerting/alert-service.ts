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
import { ALERT_OWN_TARGET, BUILT_IN_POLICY, stepsFor, type PolicyBody } from './escalation-policy.js';
import { EscalationRunner } from './escalation-policy-runner.js';
import { EscalationPolicyService } from './escalation-policy-service.js';
import { TimerWorker } from './alert-timers.js';
import { alertView, eventView, parseAlertCursor, type AlertDetailView, type AlertView } from './alert-views.js';
import {
  TOLD_KINDS,
  declined,
  hasRelationship,
  isClinical,
  mayAct,
  maySeeClinical,
  wasTold,
  type AlertPerson,
} from './alert-access.js';

/** Who reads an alert: a signed-in person (details and patientId per `maySeeClinical`), or a system. */
export interface AlertViewer {
  userId?: string;
  sessionId?: string;
  roles?: readonly string[];
}

/** The newest timeline entries `get` returns (a long-open alert's timeline is not read whole). */
export const TIMELINE_MAX = 500;

const PRIORITY_RANK: Record<string, number> = { low: 0, medium: 1, high: 2 };
const personOf = (v: AlertViewer): AlertPerson | undefined =>
  v.userId && v.roles ? { userId: v.userId, roles: v.roles, sessionId: v.sessionId } : undefined;

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
      // The count lives on the alert; the timeline records only the first fold (a flapping device
      // must not grow it without bound). Every fold is still audited.
      if (count === 2) await this.runner.event(tx, open, 'folded', ctx.actor, now, { count });
      await audit(tx, ctx, now, {
        action: 'alert.folded',
        targetType: 'alert',
        targetId: open.id,
        patientRef: this.runner.pref(open),
        details: { count },
      });
      const sends =
        PRIORITY_RANK[input.priority]! > PRIORITY_RANK[open.priority]!
          ? await this.raisePriority(tx, ctx, open, input.priority, now)
          : [];
      return { result: await remember({ alertId: open.id, created: false, count }), sends };
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

  /**
   * A fold with a higher priority than the open alert raises it (audited, on the timeline). An
   * acknowledged alert does not escalate again, so whoever acknowledged it (else the current step's
   * targets) is told again now on the new priority's channels; an alert still escalating simply
   * goes on under the new priority's steps.
   */
  private async raisePriority(
    tx: StoreTx,
    ctx: RequestContext,
    a: AlertRow,
    priority: string,
    now: Date,
  ): Promise<PlannedSend[]> {
    const from = a.priority;
    await tx.alerts.update(ctx.tenantId, a.id, { priority, updated_at: now.getTime() });
    a.priority = priority;
    const sends: PlannedSend[] = [];
    let told: string[] = [];
    if (a.state === 'acknowledged') {
      const steps = stepsFor(JSON.parse(a.policy_json) as PolicyBody, priority as never);
      const step = Math.min(Math.max(a.step, 0), steps.length - 1);
      const ackTarget = a.acknowledged_by && !a.acknowledged_by.includes(':') ? `user:${a.acknowledged_by}` : null;
      const targets = ackTarget
        ? [ackTarget]
        : steps[step]!.targets.map((t) => (t === ALERT_OWN_TARGET ? a.target : t));
      let { recipients } = await this.runner.resolve(tx, ctx.tenantId, targets, now);
      if (!recipients.length && ackTarget) {
        const own = steps[step]!.targets.map((t) => (t === ALERT_OWN_TARGET ? a.target : t));
        ({ recipients } = await this.runner.resolve(tx, ctx.tenantId, own, now));
      }
      if (recipients.length)
        ({ told } = await this.runner.notify(
          tx,
          ctx,
          a,
          step,
          a.repeat,
          recipients,
          steps[step]!.channels,
          now,
          sends,
        ));
    }
    await this.runner.event(tx, a, 'priority_raised', ctx.actor, now, {
      from,
      to: priority,
      step: a.step,
      recipients: told,
    });
    await audit(tx, ctx, now, {
      action: 'alert.priority_raised',
      targetType: 'alert',
      targetId: a.id,
      patientRef: this.runner.pref(a),
      details: { from, to: priority, renotified: told.length },
    });
    return sends;
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
   * One response in one transaction with its audit entry. Who may answer:
   * - `person` (a signed-in person answering as themselves): `mayAct` (told of the alert, the
   *   patient relationship, or a clinician for an alert without a patient), else 404 SP_ALERT_NOT_FOUND;
   * - `onlyRecipient` (a paging gateway answering for someone), and any answer arriving over paging
   *   or MQTT: `by.userId` must have been told of the alert, else 403 SP_ALERT_NOT_RECIPIENT;
   * - an SMS reply proves by its reply code that the person was told.
   * A decline applies only when its person was told of the current step and has not declined it
   * yet; otherwise it is a no-op answered with the current state (double taps, retries, resent SMS).
   */
  async respond(
    ctx: RequestContext,
    alertId: string,
    action: 'acknowledge' | 'decline' | 'resolve' | 'forward',
    by: { userId?: string; via: ResponseVia | 'device' },
    o: { target?: string; onlyRecipient?: boolean; person?: AlertPerson } = {},
  ): Promise<AlertView> {
    const { store, clock } = this.core;
    const r = await store.transaction(async (tx) => {
      const now = clock();
      const a = await tx.alerts.getForUpdate(ctx.tenantId, alertId);
      if (!a) throw new AppError('SP_ALERT_NOT_FOUND');
      // Only the entries that say who was told and who declined: never the whole timeline.
      const events = await tx.alerts.events(ctx.tenantId, a.id, { kinds: TOLD_KINDS });
      if (o.person && !(await mayAct(tx, a, o.person, events, now.getTime()))) throw new AppError('SP_ALERT_NOT_FOUND');
      const gateway = o.onlyRecipient || by.via === 'paging' || by.via === 'mqtt';
      if (gateway && !(by.userId && wasTold(events, by.userId))) throw new AppError('SP_ALERT_NOT_RECIPIENT');
      const showPatient = await maySeeClinical(tx, a, o.person, events, now.getTime());
      const closed = a.state === 'resolved' || a.state === 'expired';
      if (closed) {
        if (action === 'resolve') return { a, sends: [] as PlannedSend[], showPatient };
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
        if (action === 'acknowledge' && a.state === 'acknowledged') return { a, sends, showPatient };
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
        if (a.state === 'acknowledged') return { a, sends, showPatient };
        const u = by.userId;
        if (!u || !wasTold(events, u, a.step) || declined(events, u, a.step)) return { a, sends, showPatient };
        await done('declined', { step: a.step });
        await tx.alerts.cancelTimers(a.id);
        sends.push(...(await this.runner.runInTx(tx, ctx, a, a.step + 1, 0, now.getTime(), now)));
      } else {
        await this.runner.checkTarget(tx, ctx.tenantId, o.target!);
        const { recipients } = await this.runner.resolve(tx, ctx.tenantId, [o.target!], now);
        const policy = JSON.parse(a.policy_json) as PolicyBody;
        const steps = stepsFor(policy, a.priority as never);
        const channels = steps[Math.min(Math.max(a.step, 0), steps.length - 1)]!.channels;
        const step = Math.max(a.step, 0);
        const { reached, told } = recipients.length
          ? await this.runner.notify(tx, ctx, a, step, a.repeat, recipients, channels, now, sends)
          : { reached: 0, told: [] as string[] };
        await done('forwarded', { target: o.target, step, recipients: told, named: recipients.length, reached });
      }
      return { a, sends, showPatient };
    });
    await store.durable();
    this.dispatch(r.sends);
    return alertView(r.a, r.showPatient);
  }

  /**
   * Alerts, newest first. `patientId` is shown only to a clinician with the patient relationship
   * (care team, live break-glass grant); a recipient without it sees the id on the alert itself.
   */
  async list(
    ctx: RequestContext,
    o: { state?: AlertState; priority?: string; open?: boolean; limit: number; cursor?: string },
    viewer: AlertViewer = {},
  ): Promise<{ items: AlertView[]; nextCursor: string | null }> {
    const read = this.core.store.read;
    const rows = await read.alerts.list(
      ctx.tenantId,
      { state: o.state, priority: o.priority, open: o.open, before: parseAlertCursor(o.cursor) },
      o.limit + 1,
    );
    const page = rows.slice(0, o.limit);
    const last = page[page.length - 1];
    const person = personOf(viewer);
    const related = new Map<string, boolean>();
    if (person && isClinical(person.roles)) {
      const now = this.core.clock().getTime();
      for (const a of page)
        if (a.patient_id && !related.has(a.patient_id))
          related.set(a.patient_id, await hasRelationship(read, a, person, now));
    }
    return {
      items: page.map((a) => alertView(a, !!a.patient_id && related.get(a.patient_id) === true)),
      nextCursor: rows.length > o.limit && last ? `${last.created_at}.${last.id}` : null,
    };
  }

  /**
   * One alert with its newest `TIMELINE_MAX` timeline entries. `details` and `patientId` only for a
   * person with the patient relationship or a clinician who was told of it (`maySeeClinical`); the
   * details read is audited in the same transaction.
   */
  async get(ctx: RequestContext, id: string, viewer: AlertViewer): Promise<AlertDetailView> {
    const { store, cipher, clock } = this.core;
    const out = await store.transaction(async (tx) => {
      const a = await tx.alerts.get(ctx.tenantId, id);
      if (!a) throw new AppError('SP_ALERT_NOT_FOUND');
      const told = await tx.alerts.events(ctx.tenantId, id, { kinds: TOLD_KINDS });
      const person = personOf(viewer);
      const clinical = await maySeeClinical(tx, a, person, told, clock().getTime());
      const events = await tx.alerts.events(ctx.tenantId, id, { last: TIMELINE_MAX });
      const view: AlertDetailView = { ...alertView(a, clinical), timeline: events.map(eventView) };
      if (a.details_ct && person && clinical) {
        const key = a.patient_id
          ? await patientDataKey(this.core, tx, ctx.tenantId, a.patient_id)
          : await patientDataKey(this.core, tx, ctx.tenantId, `alerts:${ctx.tenantId}`);
        if (key) {
          view.details = cipher.decrypt(
            key,
            { tenantId: ctx.tenantId, table: 'alerts', rowId: a.id, field: 'details' },
            Buffer.from(a.details_ct),
          );
          await this.runner.markRead(tx, ctx.tenantId, a.id, person.userId, clock());
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
