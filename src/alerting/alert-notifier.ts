import type { Insertable } from 'kysely';
import type { StoreTx } from '../store/store.js';
import type { Database } from '../store/schema.js';
import type {
  AlertNotificationRow,
  StaffAlertSettingsRow,
} from '../store/repositories/alert-notification-repository.js';
import type { EnvelopeCipher } from '../crypto/envelope-cipher.js';
import { audit, type RequestContext } from '../core/context.js';
import { deferPastQuietHours } from '../core/time-policy.js';
import { parseQuietHours } from '../config/time-settings.js';
import type { AlertDispatcher } from './alert-dispatcher.js';
import type { AlertChannel, AlertForNotify, AlertNotifier, PlannedRecipient, PlannedSend } from './alert-types.js';

export interface AlertNotifierDeps {
  cipher: Pick<EnvelopeCipher, 'blindIndex'>;
  newId: () => string;
  dispatcher: AlertDispatcher;
  /** This node's name in leases (the dispatcher's). */
  owner: string;
  leaseMs: number;
}

/** A reply code stays bound this long after the alert was answered (late replies get "already closed"). */
export const REPLY_GRACE_MS = 3_600_000;
/** A reply code is never bound longer than this (an alert nobody closed does not hold codes forever). */
export const REPLY_MAX_AGE_MS = 86_400_000;

/** The blind index an SMS address is matched by (sender of a reply ↔ address of a nudge). */
export function smsAddressRef(cipher: Pick<EnvelopeCipher, 'blindIndex'>, tenantId: string, phone: string): string {
  return cipher.blindIndex(tenantId, 'staff.sms', phone);
}

/** Whether `s` keeps non-high alerts from the person at `at`, and why. */
export function quietReason(s: StaffAlertSettingsRow | undefined, at: Date): 'do_not_disturb' | 'quiet_hours' | null {
  if (!s) return null;
  if (s.dnd_until !== null && s.dnd_until > at.getTime()) return 'do_not_disturb';
  if (s.quiet_hours && deferPastQuietHours(at, s.time_zone, parseQuietHours(s.quiet_hours)) !== at)
    return 'quiet_hours';
  return null;
}

/**
 * How recipients are told (the `AlertNotifier` of alert-types.ts). Planning writes, inside the
 * alert's transaction, one row per recipient and channel for which the recipient has a contact
 * method (the first of that kind), each audited with ids only; rows that will be sent are leased to
 * this node, so `dispatch` sends them right after the commit from memory, without a query.
 */
export class AlertNotifierService implements AlertNotifier {
  /** Rows planned here and not yet dispatched (dropped when their transaction never committed). */
  private readonly pending = new Map<string, { row: AlertNotificationRow; at: number }>();

  constructor(private readonly d: AlertNotifierDeps) {}

  async planInTx(
    tx: StoreTx,
    ctx: RequestContext,
    alert: AlertForNotify,
    recipients: readonly PlannedRecipient[],
    channels: readonly AlertChannel[],
    at: Date,
    bypassQuiet: boolean,
  ): Promise<{ sends: PlannedSend[]; reached: number; told: string[] }> {
    const now = at.getTime();
    this.prune(now);
    const byUser = new Map<string, PlannedRecipient>();
    for (const r of recipients) if (!byUser.has(r.userId)) byUser.set(r.userId, r);
    const userIds = [...byUser.keys()];
    const repo = tx.alertNotifications;
    const contacts = await repo.contactsOf(alert.tenantId, userIds);
    const settings = new Map((await repo.settingsOf(alert.tenantId, userIds)).map((s) => [s.user_id, s]));
    const wanted = [...new Set(channels)];

    const rows: AlertNotificationRow[] = [];
    const sends: PlannedSend[] = [];
    let reached = 0;
    const toldIds: string[] = [];
    for (const [userId, r] of byUser) {
      const s = settings.get(userId);
      const methods = wanted
        .map((ch) => ({ ch, c: contacts.find((c) => c.user_id === userId && c.kind === ch) }))
        .filter((m): m is { ch: AlertChannel; c: NonNullable<typeof m.c> } => m.c !== undefined);
      const base = {
        tenant_id: alert.tenantId,
        alert_id: alert.id,
        step: alert.step,
        repeat: alert.repeat,
        user_id: userId,
        target: r.target,
        priority: alert.priority,
        summary: alert.summary,
        language: s?.language ?? 'en',
        provider: null,
        provider_message_id: null,
        replies_until: null,
        created_at: now,
        sent_at: null,
        delivered_at: null,
        read_at: null,
      };
      const why = methods.length === 0 ? 'no_contact_method' : bypassQuiet ? null : quietReason(s, at);
      if (why) {
        // One row for the timeline: this person was named but not told, and why.
        const row: AlertNotificationRow = {
          ...base,
          id: this.d.newId(),
          channel: methods[0]?.ch ?? wanted[0] ?? 'sms',
          status: why === 'no_contact_method' ? 'failed' : 'suppressed',
          reason: why,
          address: null,
          address_ref: null,
          reply_code: null,
          lease_owner: null,
          lease_until: null,
          attempts: 0,
        };
        rows.push(row);
        await this.audit(tx, ctx, at, alert, row);
        continue;
      }
      const needsCode = methods.some((m) => m.ch === 'sms' || m.ch === 'paging');
      const code = needsCode ? await this.replyCode(tx, alert, userId, now) : null;
      let told = false;
      for (const { ch, c } of methods) {
        const configured = this.d.dispatcher.has(ch);
        const row: AlertNotificationRow = {
          ...base,
          id: this.d.newId(),
          channel: ch,
          status: configured ? 'sending' : 'failed',
          reason: configured ? null : 'channel_not_configured',
          address: c.value,
          address_ref: ch === 'sms' ? smsAddressRef(this.d.cipher, alert.tenantId, c.value) : null,
          reply_code: ch === 'sms' || ch === 'paging' ? code : null,
          lease_owner: configured ? this.d.owner : null,
          lease_until: configured ? now + this.d.leaseMs : null,
          attempts: configured ? 1 : 0,
        };
        rows.push(row);
        await this.audit(tx, ctx, at, alert, row);
        if (configured) {
          told = true;
          sends.push({ notificationId: row.id, tenantId: alert.tenantId, channel: ch });
          this.pending.set(row.id, { row, at: now });
        }
      }
      if (told) {
        reached += 1;
        toldIds.push(userId);
      }
    }
    await repo.insertMany(rows as Insertable<Database['alert_notifications']>[]);
    return { sends, reached, told: toldIds };
  }

  dispatch(sends: readonly PlannedSend[]): void {
    const rows: AlertNotificationRow[] = [];
    for (const s of sends) {
      const p = this.pending.get(s.notificationId);
      this.pending.delete(s.notificationId);
      // Not planned here (another node, or pruned): its lease expires and the sweep sends it.
      if (p) rows.push(p.row);
    }
    if (rows.length) void this.d.dispatcher.send(rows);
  }

  async cancelPendingInTx(tx: StoreTx, tenantId: string, alertId: string, at: Date): Promise<void> {
    const now = at.getTime();
    const n = await tx.alertNotifications.cancelPending(tenantId, alertId, now, now + REPLY_GRACE_MS);
    if (n > 0)
      await audit(tx, { tenantId, actor: 'system:alerting' }, at, {
        action: 'alert.notifications_cancelled',
        targetType: 'alert',
        targetId: alertId,
        details: { count: n },
      });
  }

  /**
   * The recipient opened the alert's details: their sent or delivered nudges of it become `read`
   * (called by the alert service inside the transaction that audits the read).
   */
  async markRead(tx: StoreTx, tenantId: string, alertId: string, userId: string, at: Date): Promise<number> {
    return tx.alertNotifications.markRead(tenantId, alertId, userId, at.getTime());
  }

  /**
   * The recipient's reply code for this alert: the one it already has, else the smallest code of
   * 1..32 (LOW_REPLY_CODES) none of the recipient's live nudges uses (so "reply 1" names one alert and
   * freed codes are reused), else, with all of those bound, the next number above the highest live
   * code. Three bounded index lookups: the cost does not grow with the recipient's open alerts.
   */
  private async replyCode(tx: StoreTx, alert: AlertForNotify, userId: string, now: number): Promise<number> {
    const repo = tx.alertNotifications;
    const since = now - REPLY_MAX_AGE_MS;
    const own = await repo.ownReplyCode(alert.tenantId, alert.id, userId, since, now);
    if (own !== null) return own;
    const free = await repo.freeLowReplyCode(alert.tenantId, userId, since, now);
    if (free !== null) return free;
    return (await repo.maxLiveReplyCode(alert.tenantId, userId, since, now)) + 1;
  }

  private audit(tx: StoreTx, ctx: RequestContext, at: Date, alert: AlertForNotify, row: AlertNotificationRow) {
    const action =
      row.status === 'suppressed'
        ? 'alert.notification_suppressed'
        : row.reason === 'no_contact_method'
          ? 'alert.notification_unreachable'
          : row.status === 'failed'
            ? 'alert.notification_failed'
            : 'alert.notification_planned';
    return audit(tx, ctx, at, {
      action,
      targetType: 'alert_notification',
      targetId: row.id,
      patientRef: alert.patientRef ?? null,
      details: {
        alertId: alert.id,
        userId: row.user_id,
        channel: row.channel,
        step: alert.step,
        repeat: alert.repeat,
        ...(row.reason ? { reason: row.reason } : {}),
      },
    });
  }

  private prune(now: number): void {
    if (this.pending.size < 1000) return;
    for (const [id, p] of this.pending) if (now - p.at > 60_000) this.pending.delete(id);
  }
}
