import type { CoreDeps } from './context.js';
import { patientDataKey, patientRef } from './context.js';
import type { Channel } from '../channels/channel.js';
import { ChannelError } from '../channels/channel.js';
import type { ChannelKind, Language, NotificationType } from './domain.js';
import { isUrgent } from './domain.js';
import { deferPastQuietHours } from './time-policy.js';
import { fullJitterBackoff } from './backoff.js';
import { newDeliveryRow } from './notification-service.js';
import { hashToken, randomToken } from '../crypto/tokens.js';
import type { DeliveryRow } from '../store/repositories.js';
import type { StoreTx } from '../store/store.js';

export interface DeliveryOutcome {
  status: 'sent' | 'delivered' | 'retry' | 'failed' | 'dead' | 'deferred' | 'cancelled' | 'suppressed' | 'lost-lease';
  channel: ChannelKind;
}

/**
 * Takes one claimed delivery through policy, rendering and its channel, then records the result.
 * Invariant: nothing PHI leaves through a channel: only the nudge rendering (checked at template load).
 */
export class DeliveryProcessor {
  constructor(
    private readonly deps: CoreDeps,
    private readonly channels: Record<ChannelKind, Channel>,
    private readonly owner: string,
  ) {}

  async process(d: DeliveryRow): Promise<DeliveryOutcome> {
    const { store, cipher, templates, config, clock } = this.deps;
    const channel = d.channel as ChannelKind;
    const now = clock();
    const tx0 = store.read;
    const n = await tx0.getNotification(d.tenant_id, d.notification_id);
    const patient = await tx0.getPatient(d.tenant_id, d.patient_id);
    const key = await patientDataKey(this.deps, tx0, d.tenant_id, d.patient_id);
    const contact = await tx0.getContactPoint(d.contact_point_id);
    if (!n || n.cancelled_at != null) return this.finish(d, 'cancelled', { cancelled_at: now.getTime() }, 'delivery.cancelled');
    if (!patient || !key) return this.finish(d, 'suppressed', {}, 'delivery.suppressed', 'SP_PATIENT_NOT_FOUND');
    if (n.type === 'appointment_reminder' && n.appointment_id) {
      const appt = await tx0.getAppointment(d.tenant_id, n.appointment_id);
      if (!appt || appt.status !== 'booked' || Number(appt.start_at) <= now.getTime()) {
        return this.finish(d, 'suppressed', {}, 'delivery.suppressed', 'SP_APPOINTMENT_NOT_FOUND');
      }
    }
    if (!contact || contact.opted_out_at != null) return this.failOver(d, 'SP_NOTIFICATION_NO_CHANNEL');

    // Quiet hours are re-checked at send time: a retry or a lease recovery may land in the night.
    if (!isUrgent(n.priority as never)) {
      const until = deferPastQuietHours(now, patient.time_zone, config.policy.quietHours);
      if (until.getTime() > now.getTime()) {
        const changed = await store.transaction((tx) =>
          tx.updateDelivery(d.id, { status: 'scheduled', run_at: until.getTime(), attempts: d.attempts - 1, lease_owner: null, lease_until: null, updated_at: now.getTime() }, this.owner),
        );
        return { status: changed ? 'deferred' : 'lost-lease', channel };
      }
    }

    const token = await this.ensureLink(d, key);
    if (!token) return { status: 'lost-lease', channel };
    const to = cipher.decrypt(key, { tenantId: d.tenant_id, table: 'contact_points', rowId: contact.id, field: 'value' }, contact.value_ct);
    const link = `${config.publicUrl}/m/${token}`;
    const nudge = templates.renderNudge(n.type as NotificationType, channel, {
      organisation: config.organisationName,
      link,
      language: patient.language as Language,
      timeZone: patient.time_zone,
      expiresHours: config.portal.linkTtlHours,
    });
    const impl = this.channels[channel];
    try {
      const res = await impl.send(
        { deliveryId: d.id, notificationId: n.id, tenantId: d.tenant_id, channel, to, subject: nudge.subject, text: nudge.text, link },
        AbortSignal.timeout(config.channels.timeoutMs),
      );
      const at = clock().getTime();
      return this.finish(
        d,
        res.status,
        { sent_at: at, delivered_at: res.status === 'delivered' ? at : null, provider: impl.provider, provider_message_id: res.providerMessageId ?? null, last_error_code: null },
        'delivery.sent',
        undefined,
        { provider: impl.provider, attempt: d.attempts },
      );
    } catch (e) {
      const err = e instanceof ChannelError ? e : new ChannelError('SP_CHANNEL_SEND_FAILED', true, 'unexpected channel error', { cause: e });
      if (err.retryable && d.attempts < d.max_attempts) {
        const delay = fullJitterBackoff(d.attempts, config.worker.backoffBaseMs, config.worker.backoffCapMs);
        const runAt = clock().getTime() + delay;
        return this.finish(d, 'retry', { status: 'queued', run_at: runAt, last_error_code: err.code }, 'delivery.attempt_failed', err.code, { attempt: d.attempts, retryAt: new Date(runAt).toISOString() });
      }
      return this.failOver(d, err.code);
    }
  }

  /**
   * Creates the delivery's portal link once, before the first send, and reuses it on every retry so
   * each attempt carries identical content. Stored only as a hash (lookup) plus ciphertext (re-send).
   */
  private async ensureLink(d: DeliveryRow, key: Buffer): Promise<string | null> {
    const { cipher, store, config, clock } = this.deps;
    const ref = { tenantId: d.tenant_id, table: 'deliveries', rowId: d.id, field: 'link' };
    if (d.link_ct) return cipher.decrypt(key, ref, d.link_ct);
    const token = randomToken(32);
    const now = clock().getTime();
    const ok = await store.transaction(async (tx) => {
      const changed = await tx.updateDelivery(d.id, { link_ct: cipher.encrypt(key, ref, token) }, this.owner);
      if (!changed) return false;
      await tx.insertAccessLink({
        token_hash: hashToken(token),
        tenant_id: d.tenant_id,
        notification_id: d.notification_id,
        delivery_id: d.id,
        patient_id: d.patient_id,
        expires_at: now + config.portal.linkTtlHours * 3_600_000,
        failed_attempts: 0,
        burned_at: null,
        used_at: null,
        otp_hash: null,
        otp_expires_at: null,
        created_at: now,
      });
      return true;
    });
    // The link must survive a crash before the nudge that carries it goes out.
    await store.durable();
    return ok ? token : null;
  }

  /**
   * A provider's asynchronous status report (e.g. Twilio status callback). `delivered` moves a sent
   * delivery forward; `failed` after acceptance fails over as a send failure would. Unknown ids and
   * reports that would move a delivery backwards are ignored (callbacks arrive out of order).
   */
  async providerStatus(provider: string, messageId: string, status: 'sent' | 'delivered' | 'failed', errorCode: string | null): Promise<boolean> {
    const { store, clock } = this.deps;
    const d = await store.read.findDeliveryByProviderId(provider, messageId);
    if (!d) return false;
    if (status === 'failed') {
      if (!['sent', 'delivered'].includes(d.status)) return true;
      await this.failOver(d, 'SP_CHANNEL_SEND_FAILED', null);
    } else if (status === 'delivered' && d.status === 'sent') {
      const now = clock().getTime();
      await store.transaction(async (tx) => {
        await tx.updateDelivery(d.id, { status: 'delivered', delivered_at: now, updated_at: now });
        await this.audit(tx, d, 'delivery.delivered', 'success', undefined, { provider });
      });
    }
    await store.durable();
    return true;
  }

  /** This channel is exhausted: hand over to the patient's next contact point by rank, or die. */
  private async failOver(d: DeliveryRow, code: string, owner: string | null = this.owner): Promise<DeliveryOutcome> {
    const { store, clock, config, newId } = this.deps;
    const now = clock().getTime();
    const result = await store.transaction(async (tx) => {
      const siblings = await tx.listDeliveries(d.notification_id);
      const used = new Set(siblings.map((s) => s.contact_point_id));
      const next = (await tx.listContactPoints(d.tenant_id, d.patient_id)).find((c) => !used.has(c.id) && c.opted_out_at == null);
      const status = next ? 'failed' : 'dead';
      const changed = await tx.updateDelivery(d.id, { status, failed_at: now, last_error_code: code, lease_owner: null, lease_until: null, updated_at: now }, owner ?? undefined);
      if (!changed) return 'lost-lease' as const;
      let nextId: string | null = null;
      if (next) {
        const kind = next.system as ChannelKind;
        const nd = newDeliveryRow(newId(), { id: d.notification_id, tenant_id: d.tenant_id, patient_id: d.patient_id, priority: d.priority }, kind, next.id, Math.max(...siblings.map((s) => s.seq)) + 1, now, now, config.worker.maxAttempts[kind]);
        await tx.insertDelivery(nd);
        nextId = nd.id;
      }
      await this.audit(tx, d, next ? 'delivery.failed_over' : 'delivery.dead', 'failure', code, { nextDelivery: nextId, nextChannel: next?.system ?? null });
      return status;
    });
    if (result === 'failed') this.deps.wake();
    return { status: result, channel: d.channel as ChannelKind };
  }

  private async finish(
    d: DeliveryRow,
    status: DeliveryOutcome['status'],
    set: Record<string, unknown>,
    action: string,
    code?: string,
    details: Record<string, string | number | null> = {},
  ): Promise<DeliveryOutcome> {
    const now = this.deps.clock().getTime();
    const stored = status === 'retry' ? 'queued' : status;
    const changed = await this.deps.store.transaction(async (tx) => {
      const n = await tx.updateDelivery(d.id, { status: stored, ...set, lease_owner: null, lease_until: null, updated_at: now }, this.owner);
      if (n) await this.audit(tx, d, action, code ? 'failure' : 'success', code, details);
      return n;
    });
    return { status: changed ? status : 'lost-lease', channel: d.channel as ChannelKind };
  }

  private audit(tx: StoreTx, d: DeliveryRow, action: string, outcome: 'success' | 'failure', code: string | undefined, details: Record<string, string | number | null>) {
    return tx.appendAudit({
      tenantId: d.tenant_id,
      actor: `system:worker:${this.owner}`,
      at: this.deps.clock(),
      action,
      outcome,
      targetType: 'delivery',
      targetId: d.id,
      patientRef: patientRef(this.deps, d.tenant_id, d.patient_id),
      details: { notification: d.notification_id, channel: d.channel, ...(code ? { errorCode: code } : {}), ...details },
    });
  }
}
