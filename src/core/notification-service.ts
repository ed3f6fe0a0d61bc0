import type { CoreDeps, RequestContext } from './context.js';
import { announce, deliveryEvents } from './events.js';
import { audit, idempotencyKeyRef, patientRef, requestFingerprint } from './context.js';
import { AppError } from './errors.js';
import {
  NOTIFICATION_TYPES,
  PURPOSE_OF,
  isUrgent,
  type ChannelKind,
  type DeliveryStatus,
  type NotificationType,
  type Priority,
} from './domain.js';
import { deferPastQuietHours } from './time-policy.js';
import { consentAllows } from './consent-service.js';
import { inPreferredOrder } from './patient-preferences.js';
import type { StoreTx } from '../store/store.js';
import type {
  DeliveryRow,
  IdempotencyRow,
  NotificationRow,
  NotificationSignatureRow,
  SendingContext,
} from '../store/rows.js';
import { SignerService, type DetachedSignature } from './signer-service.js';
import { signedHeaderDigest } from '../audit/proof-anchor.js';

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
  body: {
    id: string;
    status: string;
    deliveries: { id: string; channel: ChannelKind; status: DeliveryStatus; runAt: string }[];
  };
}

/** What `build` makes for one notification; written together with the rest of its batch. */
interface Built {
  notification: NotificationRow;
  deliveries: DeliveryRow[];
  signature: NotificationSignatureRow | null;
  audit: { ctx: RequestContext; at: Date; event: Parameters<typeof audit>[3] };
}

interface NewRows {
  notifications: NotificationRow[];
  deliveries: DeliveryRow[];
  signatures: NotificationSignatureRow[];
  idempotency: IdempotencyRow[];
  audit: Built['audit'][];
}

const newRows = (): NewRows => ({ notifications: [], deliveries: [], signatures: [], idempotency: [], audit: [] });

function add(rows: NewRows, b: Built): void {
  rows.notifications.push(b.notification);
  rows.deliveries.push(...b.deliveries);
  if (b.signature) rows.signatures.push(b.signature);
  rows.audit.push(b.audit);
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
   * Rows are built item by item, then written with one multi-row statement per table.
   */
  async createMany(
    ctx: RequestContext,
    items: { input: CreateNotificationInput; idempotencyKey?: string }[],
  ): Promise<CreatedAnswer[]> {
    const { store } = this.deps;
    // Signed requests are checked for replays against the stored signatures: they write their rows
    // at once, in their own savepoint. Every other create only reads until it hands its rows over.
    const batchable = !items.some((x) => x.input.signature);
    // Idempotency keys are looked up and stored as keyed hashes: one HMAC per distinct key.
    const refs = new Map<string, string>();
    for (const { idempotencyKey: k } of items)
      if (k && !refs.has(k)) refs.set(k, idempotencyKeyRef(this.deps, ctx.tenantId, k));
    const answers = await store.transaction(
      async (tx) => {
        const keys = [...refs.values()];
        // One request (the common case) reads its idempotency record, patient, key and contact points
        // in one query; a batch reads all its records at once, then each item's patient.
        const one =
          items.length === 1
            ? await tx.patients.getForSending(ctx.tenantId, items[0].input.patientId, keys[0] ?? null)
            : undefined;
        const prior = new Map(
          (one ? (one.idempotency ? [one.idempotency] : []) : await tx.idempotency.getMany(ctx.tenantId, keys)).map(
            (r) => [r.key, r],
          ),
        );
        for (const k of keys) {
          const pending = tx.atCommit.findIdempotency(ctx.tenantId, k);
          if (pending && !prior.has(k)) prior.set(k, pending);
        }
        const out: CreatedAnswer[] = [];
        const rows = newRows();
        const now = this.now();
        for (const [i, item] of items.entries()) {
          try {
            const ref = item.idempotencyKey ? refs.get(item.idempotencyKey) : undefined;
            out.push(await this.createOne(tx, ctx, item.input, ref, prior, rows, now, one));
          } catch (e) {
            if (items.length > 1 && e instanceof AppError)
              throw new AppError(e.code, `items[${i}]${e.detail ? `: ${e.detail}` : ''}`);
            throw e;
          }
        }
        await this.write(tx, rows, batchable);
        return out;
      },
      { batchable },
    );
    await store.durable();
    if (answers.some((a) => a.body.deliveries.some((d) => d.status === 'queued'))) this.deps.wake();
    // Open inboxes of these patients look again (a notification due now is already theirs to read).
    this.deps.inbox?.changed(
      ctx.tenantId,
      items.map((x) => x.input.patientId),
    );
    return answers;
  }

  private async createOne(
    tx: StoreTx,
    ctx: RequestContext,
    input: CreateNotificationInput,
    /** The keyed hash of the item's Idempotency-Key (`idempotencyKeyRef`), if it has one. */
    keyRef: string | undefined,
    prior: Map<string, IdempotencyRow>,
    rows: NewRows,
    now: Date,
    read?: SendingContext,
  ): Promise<CreatedAnswer> {
    const requestHash = requestFingerprint(this.deps, ctx.tenantId, 'notifications.create', input);
    const replay = keyRef ? prior.get(keyRef) : undefined;
    if (replay) {
      if (replay.request_hash !== requestHash) throw new AppError('SP_IDEMPOTENCY_KEY_REUSED');
      return { status: replay.status_code, body: JSON.parse(replay.response) } as CreatedAnswer;
    }
    const created = await this.build(tx, ctx, input, null, now, read);
    if (
      created.signature?.sender_request_bidx &&
      rows.signatures.some((r) => r.sender_request_bidx === created.signature!.sender_request_bidx)
    ) {
      throw new AppError('SP_SIGNATURE_REPLAYED');
    }
    add(rows, created);
    const body = {
      id: created.notification.id,
      status: aggregateStatus(created.notification, created.deliveries, now),
      deliveries: created.deliveries.map((d) => ({
        id: d.id,
        channel: d.channel as ChannelKind,
        status: viewStatus(d, now),
        runAt: iso(d.run_at)!,
      })),
    };
    if (keyRef) {
      const record = {
        tenant_id: ctx.tenantId,
        key: keyRef,
        request_hash: requestHash,
        status_code: 202,
        response: JSON.stringify(body),
        created_at: now.getTime(),
      };
      // A later item of the same batch under the same key replays this answer (or is refused).
      prior.set(keyRef, record);
      rows.idempotency.push(record);
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
    const created = await this.build(tx, ctx, input, appointmentId, this.now());
    const rows = newRows();
    add(rows, created);
    await this.write(tx, rows, false);
    return created;
  }

  /**
   * Writes what `build` made: one statement per table, then the audit entries (written at COMMIT).
   * `handOver` (a batchable command): every row goes to the commit, with those of the other
   * batchable commands in the same transaction.
   */
  private async write(tx: StoreTx, rows: NewRows, handOver: boolean): Promise<void> {
    if (handOver) {
      tx.atCommit.notifications(rows.notifications);
      tx.atCommit.signatures(rows.signatures);
      tx.atCommit.deliveries(rows.deliveries);
      tx.atCommit.idempotency(rows.idempotency);
    } else if (rows.notifications.length) {
      await tx.notifications.insertMany(rows.notifications);
      if (rows.signatures.length) await tx.signers.insertSignatures(rows.signatures);
      await tx.deliveries.insertMany(rows.deliveries);
      if (rows.idempotency.length) await tx.idempotency.insertMany(rows.idempotency);
    }
    for (const a of rows.audit) await audit(tx, a.ctx, a.at, a.event);
  }

  /**
   * Validates one request and makes its rows (reading the patient, contact points and, for a signed
   * request, the signer), writing nothing: the notification sealed under the patient's data key, its
   * notary signature, one delivery job per channel and its audit event.
   */
  private async build(
    tx: StoreTx,
    ctx: RequestContext,
    input: CreateNotificationInput,
    appointmentId: string | null,
    now: Date,
    read?: SendingContext,
  ): Promise<Built> {
    const { cipher, templates, config, newId } = this.deps;
    // A sender's signature is checked before anything else (and so before any write).
    const { signature, ...request } = input;
    const sender = signature ? await this.signatures.verifySender(tx, ctx.tenantId, signature, request) : null;
    if (!NOTIFICATION_TYPES.includes(input.type as NotificationType))
      throw new AppError('SP_NOTIFICATION_UNKNOWN_TYPE', 'type');
    const type = input.type as NotificationType;
    const data = templates.validateData(type, input.data);
    const priority = input.priority ?? 'routine';
    let sendAt = now;
    if (input.sendAt !== undefined) {
      sendAt = new Date(input.sendAt);
      // Callers other than the HTTP API (whose schema checks the format) may pass anything.
      if (Number.isNaN(sendAt.getTime())) throw new AppError('SP_REQ_VALIDATION', 'sendAt is not a date-time');
      // A few seconds of clock skew between the EHR and us is not "the past".
      if (sendAt.getTime() < now.getTime() - 5_000) throw new AppError('SP_NOTIFICATION_SEND_AT_PAST', 'sendAt');
      if (sendAt < now) sendAt = now;
    }
    // Patient, wrapped data key and contact points in one query: this is the hot path of every send.
    const found = read ?? (await tx.patients.getForSending(ctx.tenantId, input.patientId));
    const { patient } = found;
    if (!patient) throw new AppError('SP_PATIENT_NOT_FOUND');
    if (patient.merged_into) throw new AppError('SP_PATIENT_MERGED', `mergedInto: ${patient.merged_into}`);
    const key = await cipher.dataKey(ctx.tenantId, input.patientId, {
      keyId: patient.key_id,
      wrapped: Buffer.from(patient.wrapped),
    });
    // The consent ledger for this notification's purpose: a denied channel is skipped (consent-service.ts).
    const consents = await tx.consents.listForPatient(ctx.tenantId, input.patientId);
    const contacts = found.contacts.filter(
      (c) => c.opted_out_at == null && consentAllows(consents, c.system as ChannelKind, PURPOSE_OF[type]),
    );
    const chosen = input.channels?.length
      ? [...new Set(input.channels)].map((ch) => {
          const c = contacts.find((x) => x.system === ch);
          if (!c)
            throw new AppError('SP_NOTIFICATION_NO_CHANNEL', `no ${ch} contact point the patient consents to for this`);
          return c;
        })
      : // No channel named: the patient's preferred channel for this type first (patient-preferences.ts).
        inPreferredOrder(contacts, await tx.preferences.get(ctx.tenantId, input.patientId), type).slice(0, 1);
    if (!chosen.length) throw new AppError('SP_NOTIFICATION_NO_CHANNEL', 'the patient has no contact point');

    const runAt = isUrgent(priority)
      ? sendAt
      : deferPastQuietHours(sendAt, patient.time_zone, config.policy.quietHours);
    const id = newId();
    const notification: NotificationRow = {
      id,
      tenant_id: ctx.tenantId,
      patient_id: input.patientId,
      type,
      priority,
      data_ct: cipher.encryptJson(
        key,
        { tenantId: ctx.tenantId, table: 'notifications', rowId: id, field: 'data' },
        data,
      ),
      appointment_id: appointmentId,
      send_at: sendAt.getTime(),
      created_at: now.getTime(),
      cancelled_at: null,
      acknowledged_at: null,
    };
    const ref = patientRef(this.deps, ctx.tenantId, input.patientId);
    const notarized = await this.signatures.signatureFor(notification, ref, data, key, sender);
    const deliveries = chosen.map((c, i) =>
      newDeliveryRow(
        newId(),
        notification,
        c.system as ChannelKind,
        c.id,
        i + 1,
        runAt.getTime(),
        now.getTime(),
        config.worker.maxAttempts[c.system as ChannelKind],
      ),
    );
    const event = {
      action: 'notification.created',
      targetType: 'notification',
      targetId: id,
      patientRef: ref,
      details: {
        type,
        priority,
        deliveries: deliveries.map((d) => `${d.id}:${d.channel}`),
        runAt: runAt.toISOString(),
        // Anchors the proof: the log commits to the signed header (a hash; the header holds no PHI).
        ...(notarized ? { signedHash: signedHeaderDigest(notarized.signed) } : {}),
      },
    };
    return { notification, deliveries, signature: notarized, audit: { ctx, at: now, event } };
  }

  async get(ctx: RequestContext, id: string): Promise<NotificationView> {
    const tx = this.deps.store.read;
    const n = await tx.notifications.get(ctx.tenantId, id);
    if (!n) throw new AppError('SP_NOTIFICATION_NOT_FOUND');
    // Crypto-shredding empties the content: its tombstone is not served as if nothing happened.
    if (n.data_ct.length === 0) throw new AppError('SP_PATIENT_ERASED');
    return this.view(n, await tx.deliveries.list(id));
  }

  async cancel(ctx: RequestContext, id: string): Promise<NotificationView> {
    const { store } = this.deps;
    const result = await store.transaction(async (tx) => {
      const n = await tx.notifications.get(ctx.tenantId, id);
      if (!n) throw new AppError('SP_NOTIFICATION_NOT_FOUND');
      const now = this.now().getTime();
      const cancelled = await tx.deliveries.cancelPending(id, now);
      if (!cancelled.length && n.cancelled_at == null) throw new AppError('SP_NOTIFICATION_NOT_CANCELLABLE');
      // A cancelled retry never went out: it no longer counts for the caps nor deduplication.
      if (cancelled.length) await tx.sendLedger.deleteDeliveries(ctx.tenantId, cancelled);
      if (n.cancelled_at == null) {
        await tx.notifications.update(id, { cancelled_at: now });
        await audit(tx, ctx, this.now(), {
          action: 'notification.cancelled',
          targetType: 'notification',
          targetId: id,
          patientRef: patientRef(this.deps, ctx.tenantId, n.patient_id),
          details: { deliveries: cancelled },
        });
      }
      await announce(this.deps, tx, deliveryEvents(n, cancelled, 'cancelled', now));
      return this.view({ ...n, cancelled_at: n.cancelled_at ?? now }, await tx.deliveries.list(id));
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
export function aggregateStatus(
  n: Pick<NotificationRow, 'cancelled_at' | 'acknowledged_at'>,
  ds: DeliveryRow[],
  now: Date,
): string {
  if (n.acknowledged_at != null) return 'acknowledged';
  if (n.cancelled_at != null && !ds.some((d) => PROGRESS.indexOf(d.status as DeliveryStatus) >= 3)) return 'cancelled';
  let best = -1;
  for (const d of ds) best = Math.max(best, PROGRESS.indexOf(viewStatus(d, now)));
  if (best >= 0) return PROGRESS[best];
  if (ds.every((d) => d.status === 'suppressed')) return 'suppressed';
  if (ds.every((d) => d.status === 'cancelled')) return 'cancelled';
  return ds.some((d) => d.status === 'dead') ? 'dead' : 'failed';
}
