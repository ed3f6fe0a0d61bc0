import type { Store } from '../store/store.js';
import type { AlertNotificationRow } from '../store/repositories/alert-notification-repository.js';
import type { Channel, OutboundMessage } from '../channels/channel.js';
import { toChannelError } from '../channels/channel.js';
import type { Language } from '../core/domain.js';
import { audit, type RequestContext } from '../core/context.js';
import { fullJitterBackoff } from '../queue/backoff.js';
import { renderNudge } from './alert-nudge.js';
import type { AlertChannel, AlertPriority } from './alert-types.js';

export interface AlertDispatcherOptions {
  /** This node's name in leases. */
  owner: string;
  organisationName: string;
  publicUrl: string;
  /** How long a send may take before another node's sweep may send the row again. */
  leaseMs: number;
  /** How often the sweep looks for expired leases. */
  pollMs: number;
  /** Attempts per nudge, the first included (a nudge is worth little once its step has passed). */
  maxAttempts: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  timeoutMs: number;
  /** Sends in flight at once per batch. */
  concurrency: number;
}

const SYSTEM: Omit<RequestContext, 'tenantId'> = { actor: 'system:alerting' };

/**
 * Hands alert nudges to their channels. A nudge row arrives leased to this node (planned in the
 * alert's transaction, `dispatch` right after its commit) or through the sweep, which leases rows
 * whose lease expired (a node died mid-send, or a retry came due): at least once, with the row id as
 * the provider's idempotency key. Every outcome is written under the lease with its audit entry.
 */
export class AlertDispatcher {
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = true;

  constructor(
    private readonly store: Store,
    private readonly channels: Partial<Record<AlertChannel, Channel>>,
    private readonly o: AlertDispatcherOptions,
    private readonly clock: () => Date,
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {}

  /** Whether a channel is configured for `kind` (paging needs its gateway). */
  has(kind: AlertChannel): boolean {
    return this.channels[kind] !== undefined;
  }

  /** Sends rows this node holds the lease of; never throws (outcomes are on the rows). */
  send(rows: readonly AlertNotificationRow[]): Promise<void> {
    const p = this.sendAll(rows).catch((e: unknown) => this.onError(e));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const tick = () => {
      if (this.stopped) return;
      this.sweeping ??= this.sweep()
        .then(() => undefined)
        .catch((e: unknown) => this.onError(e))
        .finally(() => {
          this.sweeping = null;
        });
      this.timer = setTimeout(tick, this.o.pollMs);
      this.timer.unref();
    };
    tick();
  }

  /** Stops the sweep and waits for sends in flight (their rows are then written). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.sweeping;
    await Promise.allSettled([...this.inFlight]);
  }

  /**
   * One sweep: fails rows out of attempts, leases rows whose lease expired and sends them. Resolves
   * with how many it sent (tests and the CLI call it directly).
   */
  async sweep(): Promise<number> {
    const now = this.clock().getTime();
    await this.store.read.alertNotifications.failExhausted(now, this.o.maxAttempts);
    const rows = await this.store.read.alertNotifications.claimExpired(
      this.o.owner,
      now,
      now + this.o.leaseMs,
      50,
      this.o.maxAttempts,
    );
    if (rows.length) await this.sendAll(rows);
    return rows.length;
  }

  /**
   * A provider's receipt for a message (Twilio status callback): the nudge becomes delivered, or
   * failed when the provider reports a late failure. False when no alert nudge has that id.
   */
  async providerStatus(provider: string, messageId: string, status: 'sent' | 'delivered' | 'failed'): Promise<boolean> {
    const row = await this.store.read.alertNotifications.byProviderMessage(provider, messageId);
    if (!row) return false;
    if (status === 'sent') return true;
    const at = this.clock();
    await this.store.transaction(async (tx) => {
      const changed =
        status === 'delivered'
          ? await tx.alertNotifications.markDelivered(row.id, at.getTime())
          : await tx.alertNotifications.markFailed(row.id, 'SP_CHANNEL_SEND_FAILED');
      if (changed)
        await audit(tx, { ...SYSTEM, tenantId: row.tenant_id }, at, {
          action: status === 'delivered' ? 'alert.notification_delivered' : 'alert.notification_failed',
          targetType: 'alert_notification',
          targetId: row.id,
          details: { alertId: row.alert_id, userId: row.user_id, channel: row.channel, provider },
        });
    });
    await this.store.durable();
    return true;
  }

  private async sendAll(rows: readonly AlertNotificationRow[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < rows.length) {
        const row = rows[next++]!;
        await this.sendOne(row).catch((e: unknown) => this.onError(e));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency, rows.length) }, worker));
  }

  private async sendOne(row: AlertNotificationRow): Promise<void> {
    const channel = this.channels[row.channel as AlertChannel];
    if (!channel || !row.address) return this.finish(row, { status: 'failed', reason: 'channel_not_configured' });
    const nudge = renderNudge(row.channel as AlertChannel, {
      alertId: row.alert_id,
      notificationId: row.id,
      priority: row.priority as AlertPriority,
      summary: row.summary,
      language: row.language as Language,
      organisationName: this.o.organisationName,
      publicUrl: this.o.publicUrl,
      replyCode: row.reply_code,
    });
    const message: OutboundMessage = {
      deliveryId: row.id,
      notificationId: row.alert_id,
      tenantId: row.tenant_id,
      channel: channel.kind,
      to: row.address,
      subject: nudge.subject,
      text: nudge.text,
      link: nudge.link,
    };
    try {
      const r = await channel.send(message, AbortSignal.timeout(this.o.timeoutMs));
      const now = this.clock().getTime();
      await this.finish(row, {
        status: r.status,
        provider: channel.provider,
        providerMessageId: r.providerMessageId ?? null,
        sentAt: now,
        deliveredAt: r.status === 'delivered' ? now : null,
      });
    } catch (e) {
      const ce = toChannelError(e, channel.provider);
      if (ce.retryable && row.attempts < this.o.maxAttempts) {
        const delay = fullJitterBackoff(row.attempts, this.o.backoffBaseMs, this.o.backoffCapMs);
        await this.finish(row, { status: 'queued', reason: ce.code, retryAt: this.clock().getTime() + delay });
      } else await this.finish(row, { status: 'failed', reason: ce.code });
    }
  }

  /** Writes an outcome under this node's lease, with its audit entry; a lost lease writes nothing. */
  private async finish(
    row: AlertNotificationRow,
    o: Parameters<Store['read']['alertNotifications']['finish']>[2],
  ): Promise<void> {
    const at = this.clock();
    await this.store.transaction(async (tx) => {
      if (!(await tx.alertNotifications.finish(row.id, this.o.owner, o))) return;
      await audit(tx, { ...SYSTEM, tenantId: row.tenant_id }, at, {
        action: o.status === 'queued' ? 'alert.notification_retry' : `alert.notification_${o.status}`,
        outcome: o.status === 'failed' ? 'failure' : 'success',
        targetType: 'alert_notification',
        targetId: row.id,
        details: {
          alertId: row.alert_id,
          userId: row.user_id,
          channel: row.channel,
          attempt: row.attempts,
          ...(o.reason ? { code: o.reason } : {}),
        },
      });
    });
    await this.store.durable();
  }
}
