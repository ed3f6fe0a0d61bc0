import type { CoreDeps } from '../../core/context.js';
import { fullJitterBackoff } from '../../queue/backoff.js';
import { OutboundAddressPolicy, isAddressRefusal } from '../../channels/outbound-address.js';
import { CERTIFICATE_ERROR, outboundDispatcher } from '../../channels/outbound-tls.js';
import type { StoreTx } from '../../store/store.js';
import type { FhirSubscriptionRow } from '../../store/repositories/fhir-subscription-repository.js';
import { notificationBundle, type NotificationEvent, type StatusFacts } from './subscription-notifications.js';
import { ownerRefusal, unseal } from './subscription-service.js';
import type { PayloadContent, SealedSubscription } from './subscription.js';

/**
 * Reads a focus resource as the FHIR API would answer it (Communication = a delivery, Appointment),
 * for `full-resource` payloads; null when it does not read (unknown, erased). Provided by the
 * composition root from the resources' mapping modules.
 */
export type FocusReader = (
  tenantId: string,
  type: string,
  id: string,
  /** The subscription the read is for (the audit actor of an audited read is `subscription:<id>`). */
  subscriptionId: string,
) => Promise<object | null>;

export interface RestHookWorkerOptions {
  /** This node's name in leases. */
  owner: string;
  pollMs: number;
  leaseMs: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  /** Deadline of one POST when the subscription sets no backport-timeout. */
  timeoutMs: number;
  /** Consecutive failed notifications after which an active subscription goes to `error`. */
  maxFailures: number;
  /** Subscriptions leased per poll. */
  batchSize: number;
  allowedHosts: readonly string[];
  insecureSkipTlsVerify: boolean;
  ca?: string;
}

/** How often subscriptions whose `end` has passed are turned off (events for them stop at `end` anyway). */
const END_CHECK_MS = 10_000;

type Outcome = { ok: true } | { ok: false; code: string; retryable: boolean };

/**
 * The rest-hook sender: leases subscriptions that have work (a handshake, undelivered events, a
 * heartbeat due), POSTs one notification Bundle per subscription and records the result under the
 * lease. One lease per subscription: its events leave in order, at most `max-count` per Bundle, and
 * two nodes never send the same event at once. A failure is retried with full-jitter backoff
 * (queue/backoff.ts); after `maxFailures` in a row the subscription goes to `error`. A handshake
 * that fails puts it in `error` at once (the client asked for it a moment ago; it may ask again).
 * Before every send the subscription's owner is judged again (subscription-service.ts
 * `ownerRefusal`): when it may no longer have the feed, the subscription goes to `off` with error
 * code SP_FHIR_SUBSCRIPTION_AUTHORITY_LOST, nothing is sent, and `subscription.authority_lost` is
 * audited.
 */
export class RestHookWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  private again = false;
  private nextEndCheck = 0;
  private readonly policy: OutboundAddressPolicy;
  private readonly dispatcher: ReturnType<typeof outboundDispatcher>;

  constructor(
    private readonly deps: CoreDeps,
    private readonly base: string,
    private readonly o: RestHookWorkerOptions,
    private readonly focus: FocusReader | null = null,
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {
    this.policy = new OutboundAddressPolicy(o.allowedHosts);
    this.dispatcher = outboundDispatcher({ insecureSkipTlsVerify: o.insecureSkipTlsVerify, ca: o.ca }, this.policy);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Something may be due now (a new subscription, an event committed). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    await this.dispatcher?.close();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.tick()
        .then((n) => n)
        .catch((e) => {
          this.onError(e);
          return 0;
        })
        .then((n) => {
          this.running = null;
          const more = this.again || n >= this.o.batchSize;
          this.again = false;
          this.schedule(more ? 0 : this.o.pollMs);
        });
    }, ms);
    this.timer.unref?.();
  }

  /** One round: ends expired subscriptions, leases those with work, sends. Returns how many were leased. */
  async tick(): Promise<number> {
    const { store, clock } = this.deps;
    const now = clock().getTime();
    // Idle polls only read: ending expired subscriptions and leasing are writes, done when needed.
    if (now >= this.nextEndCheck) {
      this.nextEndCheck = now + END_CHECK_MS;
      await store.read.fhirSubscriptions.endExpired(now);
    }
    if (!(await store.read.fhirSubscriptions.anyDue(now))) return 0;
    const rows = await store.transaction((tx) =>
      tx.fhirSubscriptions.claimDue(this.o.owner, now, now + this.leaseMs(), this.o.batchSize),
    );
    await Promise.all(rows.map((r) => this.process(r).catch((e) => this.onError(e))));
    return rows.length;
  }

  /**
   * A lease outlives the longest POST it covers (backport-timeout is at most 60 s, the default the
   * channel timeout): another node takes a subscription over only when its sender is surely gone.
   */
  private leaseMs(): number {
    return Math.max(this.o.leaseMs, Math.max(60_000, this.o.timeoutMs) + 10_000);
  }

  private async process(row: FhirSubscriptionRow): Promise<void> {
    const { store, clock } = this.deps;
    const sealed = await unseal(this.deps, store.read, row);
    if (!sealed) {
      await this.finish(row, { status: 'error', error_code: 'SP_FHIR_SUBSCRIPTION_NOT_FOUND' }, 'subscription.error');
      return;
    }
    // It acts with its owner's authority, judged now: a revoked key, a disabled user or a narrowed
    // permission turns it off before anything leaves (handshake, events, heartbeat alike).
    const refusal = await ownerRefusal(this.deps, store.read, row, sealed);
    if (refusal) {
      await this.finish(
        row,
        { status: 'off', error_code: 'SP_FHIR_SUBSCRIPTION_AUTHORITY_LOST' },
        'subscription.authority_lost',
        undefined,
        'SP_FHIR_SUBSCRIPTION_AUTHORITY_LOST',
        { reason: refusal, owner: row.created_by },
      );
      return;
    }
    const facts: StatusFacts = {
      base: this.base,
      subscriptionId: row.id,
      topic: row.topic,
      status: row.status,
      eventsSinceStart: row.events_since_start,
    };
    const content = row.payload_content as PayloadContent;
    if (row.status === 'requested') {
      const r = await this.post(row, sealed, notificationBundle({ ...facts }, 'handshake', [], content, clock()));
      const now = clock().getTime();
      if (r.ok) {
        await this.finish(
          row,
          { status: 'active', failures: 0, error_code: null, last_sent_at: now, next_attempt_at: now },
          'subscription.activated',
        );
        this.wake(); // events may already be waiting
      } else
        await this.finish(
          row,
          { status: 'error', error_code: r.code, failures: row.failures + 1 },
          'subscription.handshake_failed',
          undefined,
          r.code,
        );
      return;
    }
    if (row.events_since_start > row.events_sent) {
      const events = await store.read.fhirSubscriptions.pendingEvents(row.id, row.events_sent, row.max_count);
      if (!events.length) {
        // Nothing left to send below the counter (deleted with an erasure): catch up.
        await this.finish(row, { events_sent: row.events_since_start }, null);
        return;
      }
      const last = events[events.length - 1]!;
      const list: NotificationEvent[] = events.map((e) => ({
        eventNumber: e.event_number,
        at: e.at,
        focus: { type: e.focus_type, id: e.focus_id },
        context: JSON.parse(e.context) as string[],
      }));
      const resources = content === 'full-resource' ? await this.focusResources(row, list) : undefined;
      const bundle = notificationBundle(
        { ...facts, eventsSinceStart: last.event_number },
        'event-notification',
        list,
        content,
        clock(),
        resources,
      );
      const r = await this.post(row, sealed, bundle);
      const now = clock().getTime();
      if (r.ok)
        await this.finish(
          row,
          { events_sent: last.event_number, failures: 0, error_code: null, last_sent_at: now, next_attempt_at: now },
          'subscription.notified',
          last.event_number,
          undefined,
          { events: events.length, through: last.event_number },
        );
      else await this.failed(row, r);
      return;
    }
    // Nothing to send but a heartbeat is due.
    const r = await this.post(row, sealed, notificationBundle(facts, 'heartbeat', [], content, clock()));
    const now = clock().getTime();
    if (r.ok) await this.finish(row, { failures: 0, error_code: null, last_sent_at: now, next_attempt_at: now }, null);
    else await this.failed(row, r);
  }

  private async failed(row: FhirSubscriptionRow, r: Extract<Outcome, { ok: false }>): Promise<void> {
    const failures = row.failures + 1;
    const now = this.deps.clock().getTime();
    if (failures >= this.o.maxFailures || !r.retryable) {
      await this.finish(
        row,
        { status: 'error', error_code: r.code, failures },
        'subscription.error',
        undefined,
        r.code,
      );
      return;
    }
    const retryAt = now + fullJitterBackoff(failures, this.o.backoffBaseMs, this.o.backoffCapMs);
    await this.finish(
      row,
      { failures, error_code: r.code, next_attempt_at: retryAt },
      'subscription.attempt_failed',
      undefined,
      r.code,
      { attempt: failures, retryAt: new Date(retryAt).toISOString() },
    );
  }

  /** Writes the outcome under the lease (and releases it); audits when `action` is given and the lease held. */
  private async finish(
    row: FhirSubscriptionRow,
    set: Parameters<StoreTx['fhirSubscriptions']['finish']>[2],
    action: string | null,
    sentThrough?: number,
    code?: string,
    details: Record<string, string | number> = {},
  ): Promise<void> {
    const { store, clock } = this.deps;
    const at = clock();
    await store.transaction(async (tx) => {
      // A status the API set meanwhile (off, or requested again) wins over the worker's.
      const current = await tx.fhirSubscriptions.get(row.tenant_id, row.id);
      if (!current) return;
      const next = { ...set, updated_at: at.getTime() };
      if (set.status !== undefined && current.status !== row.status) delete next.status;
      const held = await tx.fhirSubscriptions.finish(row.id, this.o.owner, next, sentThrough);
      if (!held || !action) return;
      await tx.audit.append({
        tenantId: row.tenant_id,
        actor: `system:subscriptions:${this.o.owner}`,
        at,
        action,
        outcome: code ? 'failure' : 'success',
        targetType: 'subscription',
        targetId: row.id,
        details: { ...(code ? { errorCode: code } : {}), ...details },
      });
    });
    await store.durable();
  }

  private async focusResources(row: FhirSubscriptionRow, events: NotificationEvent[]): Promise<Map<string, object>> {
    const out = new Map<string, object>();
    if (!this.focus) return out;
    for (const e of events) {
      const ref = `${e.focus.type}/${e.focus.id}`;
      if (!e.focus.id || out.has(ref)) continue;
      const r = await this.focus(row.tenant_id, e.focus.type, e.focus.id, row.id).catch(() => null);
      if (r) out.set(ref, r);
    }
    return out;
  }

  /** POSTs a Bundle as application/fhir+json with the subscription's headers; 2xx is success. */
  private async post(row: FhirSubscriptionRow, sealed: SealedSubscription, bundle: object): Promise<Outcome> {
    let url: URL;
    try {
      url = new URL(sealed.endpoint);
      this.policy.assertUrl(url);
    } catch {
      return { ok: false, code: 'SP_CHANNEL_ADDRESS_REFUSED', retryable: false };
    }
    const headers: Record<string, string> = {};
    for (const h of sealed.headers) {
      const colon = h.indexOf(':');
      headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
    }
    headers['Content-Type'] = 'application/fhir+json';
    const timeoutMs = row.timeout_seconds != null ? row.timeout_seconds * 1000 : this.o.timeoutMs;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify(bundle),
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
        dispatcher: this.dispatcher,
      } as RequestInit);
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true };
      // 4xx other than 408/429 will not get better by itself, but a subscriber's endpoint may be
      // redeployed: every non-2xx is retried until maxFailures.
      return { ok: false, code: 'SP_CHANNEL_SEND_FAILED', retryable: true };
    } catch (e) {
      if (isAddressRefusal(e)) return { ok: false, code: 'SP_CHANNEL_ADDRESS_REFUSED', retryable: false };
      const name = (e as { name?: string } | null)?.name;
      if (name === 'TimeoutError' || name === 'AbortError')
        return { ok: false, code: 'SP_CHANNEL_TIMEOUT', retryable: true };
      for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth += 1) {
        const c = (cur as { code?: unknown }).code;
        if (typeof c === 'string' && CERTIFICATE_ERROR.test(c))
          return { ok: false, code: 'SP_CHANNEL_TLS_REJECTED', retryable: true };
      }
      return { ok: false, code: 'SP_CHANNEL_SEND_FAILED', retryable: true };
    }
  }
}
