import type { Store, StoreTx } from '../store/store.js';
import type { EventWebhookRow } from '../store/repositories/patient-reply-repository.js';
import { fullJitterBackoff } from '../queue/backoff.js';
import { ChannelError } from '../channels/channel.js';
import type { EventWebhookEnvelope } from '../channels/webhook/event-webhook-sender.js';

/** What the worker sends with (channels/webhook/event-webhook-sender.ts in production). */
export interface EventWebhookTransport {
  send(event: EventWebhookEnvelope, signal?: AbortSignal): Promise<void>;
}

/** An event parked after its last attempt (or a refusal no retry can mend) waits here, undelivered. */
export const PARKED = Number.MAX_SAFE_INTEGER;

/**
 * Queues a tenant event for the EHR's webhook with `tx`, the transaction of the change it reports,
 * so it exists exactly when its change committed. `data` must be ids and codes only (no PHI).
 */
export async function enqueueEventInTx(
  tx: StoreTx,
  e: {
    id: string;
    tenantId: string;
    type: string;
    at: number;
    data: Record<string, string>;
    /** The patient the event is about (stored beside it, never sent): erasing the patient deletes it. */
    patientId?: string;
  },
): Promise<void> {
  const envelope: EventWebhookEnvelope = {
    id: e.id,
    type: e.type,
    tenantId: e.tenantId,
    occurredAt: new Date(e.at).toISOString(),
    data: e.data,
  };
  await tx.patientReplies.enqueueEvent({
    id: e.id,
    tenant_id: e.tenantId,
    type: e.type,
    payload: JSON.stringify(envelope),
    created_at: e.at,
    run_at: e.at,
    attempts: 0,
    lease_owner: null,
    lease_until: null,
    delivered_at: null,
    last_error_code: null,
    patient_id: e.patientId ?? null,
  });
}

export interface EventWebhookWorkerOptions {
  owner: string;
  pollMs: number;
  leaseMs: number;
  batchSize: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffCapMs: number;
}

/**
 * Sends queued events to the EHR's webhook: leases due events (so two nodes never send one at
 * once), POSTs each (the same body and id on every attempt), and records the outcome under the
 * lease: delivered, retried with full-jitter backoff, or parked after `maxAttempts` or a refusal
 * no retry can mend (`last_error_code` says why). A crash between the POST and the record sends the
 * event again once its lease expires: receivers deduplicate by `Sealpost-Event-Id`.
 */
export class EventWebhookWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  private again = false;

  constructor(
    private readonly store: Store,
    private readonly transport: EventWebhookTransport,
    private readonly o: EventWebhookWorkerOptions,
    private readonly clock: () => Date,
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

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
  }

  /** One round: claims due events and sends them; returns how many were claimed. */
  async tick(): Promise<number> {
    const now = this.clock().getTime();
    const rows = await this.store.transaction((tx) =>
      tx.patientReplies.claimEvents(this.o.owner, now, now + this.o.leaseMs, this.o.batchSize),
    );
    await Promise.all(rows.map((r) => this.deliver(r)));
    if (rows.length) await this.store.durable();
    return rows.length;
  }

  private async deliver(r: EventWebhookRow): Promise<void> {
    let set: { delivered_at: number | null; run_at: number; last_error_code: string | null };
    try {
      await this.transport.send(JSON.parse(r.payload) as EventWebhookEnvelope);
      const at = this.clock().getTime();
      set = { delivered_at: at, run_at: r.run_at, last_error_code: null };
    } catch (e) {
      const err = e instanceof ChannelError ? e : new ChannelError('SP_CHANNEL_SEND_FAILED', true, 'event webhook');
      const again = err.retryable && r.attempts < this.o.maxAttempts;
      const at = this.clock().getTime();
      set = {
        delivered_at: null,
        run_at: again ? at + fullJitterBackoff(r.attempts, this.o.backoffBaseMs, this.o.backoffCapMs) : PARKED,
        last_error_code: err.code,
      };
    }
    await this.store.transaction((tx) => tx.patientReplies.finishEvent(r.id, this.o.owner, set));
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.tick()
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
}
