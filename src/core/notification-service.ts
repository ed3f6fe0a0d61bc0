import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientRef, requestFingerprint } from './context.js';
import { AppError } from './errors.js';
import {
  NOTIFICATION_TYPES,
  isUrgent,
  type ChannelKind,
  type DeliveryStatus,
  type NotificationType,
  type Priority,
} from './domain.js';
import { deferPastQuietHours } from './time-policy.js';
import type { StoreTx } from '../store/store.js';
import type { DeliveryRow, NotificationRow } from '../store/repositories.js';
import { SignerService, type DetachedSignature } from './signer-service.js';

export interface CreateNotificationInput {
  type: string;
  patientId: string;
  data: unknown;
  channels?: ChannelKind[];
  sendAt?: string;
  priority?: Priority;
  /** A person's detached signature over the RFC 8785 form of this input without `signature`. */
  signature?: DetachedSignature;
}

export interface DeliveryView {
  id: string;
  channel: ChannelKind;
  status: DeliveryStatus;
  runAt: string;
  attempts: number;
  lastErrorCode: string | null;
  createdAt: string;
  updatedAt: string;
  sentAt: string | null;
  deliveredAt: string | null;
  readAt: string | null;
  failedAt: string | null;
  cancelledAt: string | null;
}

export interface NotificationView {
  id: string;
  type: NotificationType;
  priority: Priority;
  status: string;
  patientId: string;
  appointmentId: string | null;
  sendAt: string;
  createdAt: string;
  cancelledAt: string | null;
  acknowledgedAt: string | null;
  deliveries: DeliveryView[];
}

export interface CreatedAnswer {
  status: number;
  body: { id: string; status: string; deliveries: { id: string; channel: ChannelKind; status: DeliveryStatus; runAt: string }[] };
}

const iso = (ms: number | null) => (ms == null ? null : new Date(Number(ms)).toISOString());

/** The order in which a notification's overall status reflects its furthest-progressed delivery. */
const PROGRESS: DeliveryStatus[] = ['scheduled', 'queued', 'sending', 'sent', 'delivered', 'read'];

export class NotificationService {
  private readonly signatures: SignerService;

  constructor(private readonly deps: CoreDeps) {
    this.signatures = new SignerService(deps);
  }

  /**
   * Creates a notification and one delivery job per channel in one transaction with its audit entry
   * and (when given) its idempotency record. A replay of the same key and body returns the first answer.
   */
  async create(ctx: RequestContext, input: CreateNotificationInput, idempotencyKey?: string): Promise<CreatedAnswer> {
    const [answer] = await this.createMany(ctx, [{ input, idempotencyKey }]);
    return answer;
  }

  /**
   * Creates several notifications in one transaction: all of them or, if any item is invalid,
   * none (the error's detail names the item index). Each item may carry its own idempotency key.
   */
  async createMany(ctx: RequestContext, items: { input: CreateNotificationInput; idempotencyKey?: string }[]): Promise<CreatedAnswer[]> {
    const { store } = this.deps;
    const answers = await store.transaction(async (tx) => {
      const out: CreatedAnswer[] = [];
      for (const [i, item] of items.entries()) {
        try {
          out.push(await this.createOne(tx, ctx, item.input, item.idempotencyKey));
        } catch (e) {
          if (items.length > 1 && e instanceof AppError) throw new AppError(e.code, `items[${i}]${e.detail ? `: ${e.detail}` : ''}`);
          throw e;
        }
      }
      return out;
    });
    await store.durable();
    if (answers.some((a) => a.body.deliveries.some((d) => d.status === 'queued'))) this.deps.wake();
    return answers;
  }

  private async createOne(tx: StoreTx, ctx: RequestContext, input: CreateNotificationInput, idempotencyKey?: string): Promise<CreatedAnswer> {
    const requestHash = requestFingerprint(this.deps, ctx.tenantId, 'notifications.create', input);
    if (idempotencyKey) {
      const prior = await tx.getIdempotency(ctx.tenantId, idempotencyKey);
      if (prior) {
        if (prior.request_hash !== requestHash) throw new AppError('SP_IDEMPOTENCY_KEY_REUSED');
        return { status: prior.status_code, body: JSON.parse(prior.response) } as CreatedAnswer;
      }
    }
    const created = await this.createInTx(tx, ctx, input, null);
    const now = this.now();
    const body = {
      id: created.notification.id,
      status: aggregateStatus(created.notification, created.deliveries, now),
      deliveries: created.deliveries.map((d) => ({ id: d.id, channel: d.channel as ChannelKind, status: viewStatus(d, now), runAt: iso(d.run_at)! })),
    };
    if (idempotencyKey) {
      await tx.insertIdempotency({ tenant_id: ctx.tenantId, key: idempotencyKey, request_hash: requestHash, status_code: 202, response: JSON.stringify(body), created_at: now.getTime() });
    }
    return { status: 202, body };
  }

  /** Shared by the API and the appointment scheduler: validates, encrypts and enqueues in `tx`. */
  async createInTx(
    tx: StoreTx,
    ctx: RequestContext,
    input: CreateNotificationInput,
    appointmentId: string | null,
  ): Promise<{ notification: NotificationRow; deliveries: DeliveryRow[] }> {
    const { cipher, templates, config, newId } = this.deps;
    const now = this.now();
    // A sender's signature is checked before anything else (and so before any write).
    const { signature, ...request } = input;
    const sender = signature ? await this.signatures.verifySender(tx, ctx.tenantId, signature, request) : null;
    if (!NOTIFICATION_TYPES.includes(input.type as NotificationType)) throw new AppError('SP_NOTIFICATION_UNKNOWN_TYPE', 'type');
    const type = input.type as NotificationType;
    const data = templates.validateData(type, input.data);
    const priority = input.priority ?? 'routine';
    let sendAt = now;
    if (input.sendAt !== undefined) {
      sendAt = new Date(input.sendAt);
      // A few seconds of clock skew between the EHR and us is not "the past".
      if (sendAt.getTime() < now.getTime() - 5_000) throw new AppError('SP_NOTIFICATION_SEND_AT_PAST', 'sendAt');
      if (sendAt < now) sendAt = now;
    }
    // Patient and wrapped data key in one query: this is the hot path of every send.
    const [patient] = await tx.getPatientsWithKeys(ctx.tenantId, [input.patientId]);
    if (!patient) throw new AppError('SP_PATIENT_NOT_FOUND');
    const key = await cipher.dataKey(ctx.tenantId, input.patientId, { keyId: patient.key_id, wrapped: Buffer.from(patient.wrapped) });
    const contacts = (await tx.listContactPoints(ctx.tenantId, input.patientId)).filter((c) => c.opted_out_at == null);
    const chosen = input.channels?.length
      ? [...new Set(input.channels)].map((ch) => {
          const c = contacts.find((x) => x.system === ch);
          if (!c) throw new AppError('SP_NOTIFICATION_NO_CHANNEL', `no ${ch} contact point`);
          return c;
        })
      : contacts.slice(0, 1);
    if (!chosen.length) throw new AppError('SP_NOTIFICATION_NO_CHANNEL', 'the patient has no contact point');

    const runAt = isUrgent(priority) ? sendAt : deferPastQuietHours(sendAt, patient.time_zone, config.policy.quietHours);
    const id = newId();
    const notification: NotificationRow = {
      id,
      tenant_id: ctx.tenantId,
      patient_id: input.patientId,
      type,
      priority,
      data_ct: cipher.encryptJson(key, { tenantId: ctx.tenantId, table: 'notifications', rowId: id, field: 'data' }, data),
      appointment_id: appointmentId,
      send_at: sendAt.getTime(),
      created_at: now.getTime(),
      cancelled_at: null,
      acknowledged_at: null,
    };
    await tx.insertNotification(notification);
    const ref = patientRef(this.deps, ctx.tenantId, input.patientId);
    await this.signatures.signNotification(tx, notification, ref, data, key, sender);
    const deliveries: DeliveryRow[] = [];
    for (const [i, c] of chosen.entries()) {
      const d = newDeliveryRow(newId(), notification, c.system as ChannelKind, c.id, i + 1, runAt.getTime(), now.getTime(), config.worker.maxAttempts[c.system as ChannelKind]);
      await tx.insertDelivery(d);
      deliveries.push(d);
    }
    await audit(tx, ctx, now, {
      action: 'notification.created',
      targetType: 'notification',
      targetId: id,
      patientRef: ref,
      details: { type, priority, deliveries: deliveries.map((d) => `${d.id}:${d.channel}`), runAt: runAt.toISOString() },
    });
    return { notification, deliveries };
  }

  async get(ctx: RequestContext, id: string): Promise<NotificationView> {
    const tx = this.deps.store.read;
    const n = await tx.getNotification(ctx.tenantId, id);
    if (!n) throw new AppError('SP_NOTIFICATION_NOT_FOUND');
    // Crypto-shredding empties the content: its tombstone is not served as if nothing happened.
    if (n.data_ct.length === 0) throw new AppError('SP_PATIENT_ERASED');
    return this.view(n, await tx.listDeliveries(id));
  }

  async cancel(ctx: RequestContext, id: string): Promise<NotificationView> {
    const { store } = this.deps;
    const result = await store.transaction(async (tx) => {
      const n = await tx.getNotification(ctx.tenantId, id);
      if (!n) throw new AppError('SP_NOTIFICATION_NOT_FOUND');
      const now = this.now().getTime();
      const cancelled = await tx.cancelPendingDeliveries(id, now);
      if (!cancelled.length && n.cancelled_at == null) throw new AppError('SP_NOTIFICATION_NOT_CANCELLABLE');
      if (n.cancelled_at == null) {
        await tx.updateNotification(id, { cancelled_at: now });
        await audit(tx, ctx, this.now(), {
          action: 'notification.cancelled',
          targetType: 'notification',
          targetId: id,
          patientRef: patientRef(this.deps, ctx.tenantId, n.patient_id),
          details: { deliveries: cancelled },
        });
      }
      return this.view({ ...n, cancelled_at: n.cancelled_at ?? now }, await tx.listDeliveries(id));
    });
    await store.durable();
    return result;
  }

  view(n: NotificationRow, deliveries: DeliveryRow[]): NotificationView {
    const now = this.now();
    return {
      id: n.id,
      type: n.type as NotificationType,
      priority: n.priority as Priority,
      status: aggregateStatus(n, deliveries, now),
      patientId: n.patient_id,
      appointmentId: n.appointment_id,
      sendAt: iso(n.send_at)!,
      createdAt: iso(n.created_at)!,
      cancelledAt: iso(n.cancelled_at),
      acknowledgedAt: iso(n.acknowledged_at),
      deliveries: deliveries.map((d) => ({
        id: d.id,
        channel: d.channel as ChannelKind,
        status: viewStatus(d, now),
        runAt: iso(d.run_at)!,
        attempts: d.attempts,
        lastErrorCode: d.last_error_code,
        createdAt: iso(d.created_at)!,
        updatedAt: iso(d.updated_at)!,
        sentAt: iso(d.sent_at),
        deliveredAt: iso(d.delivered_at),
        readAt: iso(d.read_at),
        failedAt: iso(d.failed_at),
        cancelledAt: iso(d.cancelled_at),
      })),
    };
  }

  private now(): Date {
    return this.deps.clock();
  }
}

export function newDeliveryRow(
  id: string,
  n: Pick<NotificationRow, 'id' | 'tenant_id' | 'patient_id' | 'priority'>,
  channel: ChannelKind,
  contactPointId: string,
  seq: number,
  runAt: number,
  now: number,
  maxAttempts: number,
): DeliveryRow {
  return {
    id,
    tenant_id: n.tenant_id,
    notification_id: n.id,
    patient_id: n.patient_id,
    channel,
    contact_point_id: contactPointId,
    seq,
    status: runAt > now ? 'scheduled' : 'queued',
    priority: n.priority,
    run_at: runAt,
    attempts: 0,
    max_attempts: maxAttempts,
    lease_owner: null,
    lease_until: null,
    last_error_code: null,
    provider: null,
    provider_message_id: null,
    link_ct: null,
    created_at: now,
    updated_at: now,
    sent_at: null,
    delivered_at: null,
    read_at: null,
    failed_at: null,
    cancelled_at: null,
  };
}

/** A stored `scheduled` delivery whose time has come is reported as `queued`. */
export function viewStatus(d: Pick<DeliveryRow, 'status' | 'run_at'>, now: Date): DeliveryStatus {
  if (d.status === 'scheduled' && Number(d.run_at) <= now.getTime()) return 'queued';
  return d.status as DeliveryStatus;
}

/** Overall status: cancelled/acknowledged first, else the furthest delivery, else failed/dead. */
export function aggregateStatus(n: Pick<NotificationRow, 'cancelled_at' | 'acknowledged_at'>, ds: DeliveryRow[], now: Date): string {
  if (n.acknowledged_at != null) return 'acknowledged';
  if (n.cancelled_at != null && !ds.some((d) => PROGRESS.indexOf(d.status as DeliveryStatus) >= 3)) return 'cancelled';
  let best = -1;
  for (const d of ds) best = Math.max(best, PROGRESS.indexOf(viewStatus(d, now)));
  if (best >= 0) return PROGRESS[best];
  if (ds.every((d) => d.status === 'suppressed')) return 'suppressed';
  if (ds.every((d) => d.status === 'cancelled')) return 'cancelled';
  return ds.some((d) => d.status === 'dead') ? 'dead' : 'failed';
}
