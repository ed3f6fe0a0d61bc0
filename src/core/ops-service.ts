import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientRef } from './context.js';
import { AppError } from './errors.js';
import { announce, deliveryEvents } from './events.js';
import { CHANNEL_KINDS, type ChannelKind } from './domain.js';
import type { DeliveryRow } from '../store/repositories/delivery-repository.js';

export type OpsWindow = 'hour' | 'day' | 'week';

/** Each window's bucket size and count: 12 × 5 minutes, 24 × 1 hour, 28 × 6 hours. */
export const WINDOWS: Record<OpsWindow, { bucketMs: number; buckets: number }> = {
  hour: { bucketMs: 5 * 60_000, buckets: 12 },
  day: { bucketMs: 3_600_000, buckets: 24 },
  week: { bucketMs: 6 * 3_600_000, buckets: 28 },
};

const OK = new Set(['sent', 'delivered', 'read']);
const FAILED = new Set(['failed', 'dead']);
const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(Number(ms)).toISOString());

export interface Count {
  status: string;
  channel: string;
  n: number;
}

export interface ProviderHealth {
  channel: ChannelKind;
  /** The adapter's provider name (`twilio`, `smtp`, `http`, `live`, `dev-outbox`). */
  provider: string;
  /** Whether the channel calls a real provider or writes to the development outbox. */
  mode: 'live' | 'dev-outbox';
  /** Over the last hour: deliveries that reached sent/delivered/read, and those that failed or died. */
  succeeded: number;
  failed: number;
  topErrorCode: string | null;
  /** `idle`: nothing in the hour; `ok`: no failure; `degraded`: some; `failing`: failures and no success. */
  health: 'idle' | 'ok' | 'degraded' | 'failing';
}

export interface DeliveryStats {
  window: OpsWindow;
  from: string;
  to: string;
  bucketSeconds: number;
  buckets: { start: string; counts: Count[] }[];
  totals: Count[];
  failures: { code: string | null; channel: string; status: string; n: number }[];
  queue: {
    due: number;
    scheduled: number;
    sending: number;
    /** When the longest-waiting due delivery became due, and how long ago (seconds; 0 when none waits). */
    oldestDueAt: string | null;
    lagSeconds: number;
    byChannel: { channel: string; due: number; scheduled: number; sending: number }[];
  };
  providers: ProviderHealth[];
  generatedAt: string;
}

export interface DeadLetter {
  id: string;
  notificationId: string;
  channel: string;
  provider: string | null;
  errorCode: string | null;
  attempts: number;
  createdAt: string;
  diedAt: string;
}

/**
 * The operations overview of a tenant's deliveries, PHI-free (ids, statuses, channels, error codes,
 * counts), and the dead letters: deliveries with no channel left, which an administrator may send
 * again (retry: queued now, attempts counted afresh) or close (cancel). Both changes are audited in
 * their own transaction and only apply to a delivery that is still dead.
 */
export class OpsService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly providers: Partial<Record<string, { provider: string }>>,
  ) {}

  async stats(ctx: RequestContext, window: OpsWindow): Promise<DeliveryStats> {
    const read = this.deps.store.read.deliveries;
    const now = this.deps.clock().getTime();
    const { bucketMs, buckets } = WINDOWS[window];
    // Bucket edges on whole multiples of the bucket size: the same buckets on every refresh.
    const to = Math.floor(now / bucketMs) * bucketMs + bucketMs;
    const from = to - buckets * bucketMs;
    const hourAgo = now - 3_600_000;
    const [activity, failures, depth, lastHour, hourFailures] = await Promise.all([
      read.activity(ctx.tenantId, from, to, bucketMs),
      read.failureCodes(ctx.tenantId, from, to),
      read.queueDepth(ctx.tenantId, now),
      read.activity(ctx.tenantId, hourAgo, now + 1, 3_600_001),
      read.failureCodes(ctx.tenantId, hourAgo, now + 1),
    ]);
    const series = Array.from({ length: buckets }, (_, i) => ({
      start: iso(from + i * bucketMs)!,
      counts: [] as Count[],
    }));
    const totals = new Map<string, Count>();
    for (const r of activity) {
      series[r.bucket]?.counts.push({ status: r.status, channel: r.channel, n: r.n });
      const k = `${r.status}/${r.channel}`;
      const t = totals.get(k) ?? { status: r.status, channel: r.channel, n: 0 };
      t.n += r.n;
      totals.set(k, t);
    }
    const byChannel = new Map<string, { channel: string; due: number; scheduled: number; sending: number }>();
    let oldestDue: number | null = null;
    for (const r of depth) {
      const c = byChannel.get(r.channel) ?? { channel: r.channel, due: 0, scheduled: 0, sending: 0 };
      c[r.state as 'due' | 'scheduled' | 'sending'] += r.n;
      byChannel.set(r.channel, c);
      if (r.state === 'due') oldestDue = oldestDue === null ? r.oldest : Math.min(oldestDue, r.oldest);
    }
    const sum = (k: 'due' | 'scheduled' | 'sending') => [...byChannel.values()].reduce((a, c) => a + c[k], 0);
    return {
      window,
      from: iso(from)!,
      to: iso(to)!,
      bucketSeconds: bucketMs / 1000,
      buckets: series,
      totals: [...totals.values()],
      failures: failures.sort((a, b) => b.n - a.n),
      queue: {
        due: sum('due'),
        scheduled: sum('scheduled'),
        sending: sum('sending'),
        oldestDueAt: iso(oldestDue),
        lagSeconds: oldestDue === null ? 0 : Math.max(0, Math.round((now - oldestDue) / 1000)),
        byChannel: [...byChannel.values()],
      },
      providers: this.health(lastHour, hourFailures),
      generatedAt: iso(now)!,
    };
  }

  private health(
    lastHour: { status: string; channel: string; n: number }[],
    failures: { code: string | null; channel: string; n: number }[],
  ): ProviderHealth[] {
    const modes = this.deps.config.channels;
    return CHANNEL_KINDS.map((channel) => {
      const rows = lastHour.filter((r) => r.channel === channel);
      const succeeded = rows.filter((r) => OK.has(r.status)).reduce((a, r) => a + r.n, 0);
      const failed = rows.filter((r) => FAILED.has(r.status)).reduce((a, r) => a + r.n, 0);
      const top = failures.filter((f) => f.channel === channel).sort((a, b) => b.n - a.n)[0];
      const mode = modes[channel] === 'dev-outbox' ? 'dev-outbox' : 'live';
      return {
        channel,
        provider: this.providers[channel]?.provider ?? modes[channel],
        mode,
        succeeded,
        failed,
        topErrorCode: top?.code ?? null,
        health: !succeeded && !failed ? 'idle' : !failed ? 'ok' : succeeded ? 'degraded' : 'failing',
      };
    });
  }

  async deadLetters(
    ctx: RequestContext,
    o: { limit: number; cursor?: string },
  ): Promise<{ items: DeadLetter[]; nextCursor: string | null }> {
    const rows = await this.deps.store.read.deliveries.listDead(ctx.tenantId, parseCursor(o.cursor), o.limit + 1);
    const page = rows.slice(0, o.limit);
    const last = page[page.length - 1];
    return {
      items: page.map(deadLetter),
      nextCursor: rows.length > o.limit && last ? `${Number(last.updated_at)}_${last.id}` : null,
    };
  }

  /** Sends a dead letter again: queued now on its own channel, with its attempts counted afresh. */
  retry(ctx: RequestContext, id: string): Promise<{ id: string; status: string }> {
    return this.change(ctx, id, 'retry');
  }

  /** Closes a dead letter: cancelled, never sent again. */
  cancel(ctx: RequestContext, id: string): Promise<{ id: string; status: string }> {
    return this.change(ctx, id, 'cancel');
  }

  private async change(ctx: RequestContext, id: string, what: 'retry' | 'cancel') {
    const { store } = this.deps;
    const now = this.deps.clock();
    const at = now.getTime();
    const status = await store.transaction(async (tx) => {
      const d = await tx.deliveries.get(id);
      if (!d || d.tenant_id !== ctx.tenantId) throw new AppError('SP_DELIVERY_NOT_FOUND');
      if (d.status !== 'dead') throw new AppError('SP_DELIVERY_NOT_DEAD');
      const n = await tx.notifications.get(ctx.tenantId, d.notification_id);
      if (!n || n.data_ct.length === 0) throw new AppError('SP_PATIENT_ERASED');
      if (what === 'retry' && n.cancelled_at != null) throw new AppError('SP_DELIVERY_NOT_RETRYABLE');
      const set =
        what === 'retry'
          ? { status: 'queued', run_at: at, attempts: 0, last_error_code: null, failed_at: null, updated_at: at }
          : { status: 'cancelled', cancelled_at: at, updated_at: at };
      if (!(await tx.deliveries.updateDead(ctx.tenantId, id, set))) throw new AppError('SP_DELIVERY_NOT_DEAD');
      await audit(tx, ctx, now, {
        action: what === 'retry' ? 'delivery.retried' : 'delivery.dead_letter_cancelled',
        targetType: 'delivery',
        targetId: id,
        patientRef: patientRef(this.deps, ctx.tenantId, d.patient_id),
        details: { notificationId: d.notification_id, channel: d.channel, previousErrorCode: d.last_error_code },
      });
      if (what === 'cancel') await announce(this.deps, tx, deliveryEvents(n, [id], 'cancelled', at));
      return set.status;
    });
    await store.durable();
    if (status === 'queued') this.deps.wake();
    return { id, status };
  }
}

function deadLetter(d: DeliveryRow): DeadLetter {
  return {
    id: d.id,
    notificationId: d.notification_id,
    channel: d.channel,
    provider: d.provider,
    errorCode: d.last_error_code,
    attempts: Number(d.attempts),
    createdAt: iso(d.created_at)!,
    diedAt: iso(d.failed_at ?? d.updated_at)!,
  };
}

function parseCursor(c: string | undefined): { updatedAt: number; id: string } | undefined {
  if (c === undefined) return undefined;
  const m = /^(\d{1,15})_([A-Za-z0-9-]{1,64})$/.exec(c);
  if (!m) throw new AppError('SP_REQ_VALIDATION', 'cursor');
  return { updatedAt: Number(m[1]), id: m[2]! };
}
