import type { RequestContext } from '../../core/context.js';
import { audit, patientRef } from '../../core/context.js';
import { AppError, isAppError, type ErrorCode } from '../../core/errors.js';
import { DEFAULT_TENANT } from '../../core/domain.js';
import type { StoreTx } from '../../store/store.js';
import type { Hl7MessageSummary } from '../../store/rows.js';

type Hl7MessageInsert = Parameters<StoreTx['hl7Messages']['insert']>[0];
import { Hl7ParseError, parseHl7, splitBatch, type Hl7Message } from '../hl7/message.js';
import { buildAck, type AckCode, type AckError } from '../hl7/ack.js';
import { ackCodeFor, parseFailureCode, type Outcome } from './ack-policy.js';
import { patientBidx, type Applied, type ApplyDeps, type ApplyScope } from './apply-context.js';
import { Hl7ApplyError } from './apply-error.js';
import { Hl7SenderService, senderView, type SenderView } from './hl7-senders.js';
import { chooseIdentifier } from './patient-mapping.js';
import { isLoopbackHost } from '../../config/loopback.js';
import type { PatientIdentifier } from '../../core/domain.js';
import { applyAdt } from './adt.js';
import { SIU_EVENTS, applySiu } from './siu.js';
import { applyOru } from './oru.js';

/** Who delivered a message: the MLLP peer (TLS client certificate), or an operator's import. */
export interface Hl7Origin {
  remoteAddress?: string;
  tls?: boolean;
  clientCertSha256?: string;
  /** `sealpost hl7 import`: the operator vouches for the file; no certificate binding applies. */
  actor?: string;
  /** `sealpost hl7 import`: the operator's tenant (only its senders are candidates). */
  tenantId?: string;
}

export interface ReceiveResult {
  /** The ACK to send; '' when the sender asked for none (enhanced mode, MSH-15/16 NE). */
  ack: string;
  /** The MSA-1 code of `ack`, or null when none is sent. */
  code: AckCode | null;
  /** The message's MSH-10 ('' when it could not be read; never stored in clear). */
  controlId: string;
  /** The stored message's id (absent when nothing was stored). */
  messageId?: string;
  /** applied | ignored | error | duplicate | rejected */
  status: string;
}

export interface Hl7MessageView {
  id: string;
  senderId: string;
  type: string;
  controlId: string;
  status: string;
  ackCode: string;
  errorCode: string | null;
  hl7ErrorCode: string | null;
  segment: string | null;
  sequence: number | null;
  field: number | null;
  receivedAt: string;
  updatedAt: string;
}

const VERSIONS = /^2\.[3-8](\.\d+)?$/;
/** MSH-10 is at most 199 characters (v2.5+); longer is SP_HL7_MALFORMED (ERR MSH-10). */
const CONTROL_ID_MAX = 199;
/** A refusal before a sender is known is audited at most once per peer and code in this window. */
const REFUSAL_WINDOW_MS = 60_000;
const REFUSAL_KEYS_MAX = 10_000;

/** MSH-9 as audited and stored: `TYPE^TRG` when both are three capitals or digits, else `invalid` (never caller text). */
export function typeLabel(msg: { type: string; trigger: string }): string {
  return /^[A-Z0-9]{3}$/.test(msg.type) && /^[A-Z0-9]{3}$/.test(msg.trigger) ? `${msg.type}^${msg.trigger}` : 'invalid';
}
const ORU_EVENTS = new Set(['R01']);

const iso = (ms: number) => new Date(Number(ms)).toISOString();

export function messageView(m: Hl7MessageSummary): Hl7MessageView {
  return {
    id: m.id,
    senderId: m.sender_id,
    type: m.message_type,
    controlId: m.control_id,
    status: m.status,
    ackCode: m.ack_code,
    errorCode: m.error_code,
    hl7ErrorCode: m.error_hl7_code,
    segment: m.error_segment,
    sequence: m.error_sequence,
    field: m.error_field,
    receivedAt: iso(m.received_at),
    updatedAt: iso(m.updated_at),
  };
}

/** A rejection before anything is stored (unknown sender, unsupported type…): AR/CR with this ERR. */
class Rejection extends Error {
  constructor(
    readonly error: AckError,
    /** The sender's tenant when the sender is known (the refusal is audited there). */
    readonly tenantId?: string,
    /** Refused before the sender is trusted (unknown, certificate): audited at most once a minute per peer. */
    readonly beforeSender = false,
  ) {
    super(error.code);
  }
}

/**
 * What HL7 v2 messages do in Sealpost. For each message: parse, find its registered sender, recognise
 * a message sent again (same sender, same MSH-10: acknowledged again, never re-applied), then in ONE
 * store transaction seal and store the raw text, apply its effects through the core services'
 * `...InTx` methods and audit, wait until that is durable, and only then return the ACK.
 * A message that parses but cannot be applied is stored in the error queue (status `error`) in a
 * transaction of its own, after the failed one rolled back: it changes nothing else.
 * A database failure rejects (no ACK): the MLLP listener closes the connection and the sender resends.
 */
export class Hl7Service {
  readonly senders: Hl7SenderService;
  /** Refusals before a sender is known, per peer address and code: when the next audit may happen. */
  private readonly refusals = new Map<string, { until: number; suppressed: number }>();

  constructor(private readonly deps: ApplyDeps) {
    this.senders = new Hl7SenderService(deps.core);
  }

  /** The handler of the MLLP listener (api/mllp-server.ts): one message in, its ACK ('' for none) out. */
  async handle(payload: Buffer, peer: { remoteAddress: string; tls: boolean; clientCertSha256?: string }) {
    return (await this.receive(payload.toString('utf8'), peer)).ack;
  }

  /** `sealpost hl7 import`: a file's messages (a batch or one message) applied in order. */
  async importText(text: string, actor: string, tenantId: string = DEFAULT_TENANT): Promise<ReceiveResult[]> {
    const out: ReceiveResult[] = [];
    for (const m of splitBatch(text)) out.push(await this.receive(m, { actor, tenantId }));
    return out;
  }

  async receive(raw: string, origin: Hl7Origin): Promise<ReceiveResult> {
    const { core } = this.deps;
    const now = core.clock();
    const ackControlId = core.newId();
    let msg: Hl7Message;
    try {
      msg = parseHl7(raw);
      if (!msg.controlId.trim())
        throw new Hl7ParseError('MSH-10 is empty', { segment: 'MSH', sequence: 1, field: 10, hl7Code: '101' });
      if (msg.controlId.length > CONTROL_ID_MAX)
        throw new Hl7ParseError('MSH-10 is too long', { segment: 'MSH', sequence: 1, field: 10, hl7Code: '102' });
    } catch (e) {
      if (!(e instanceof Hl7ParseError)) throw e;
      const error: AckError = {
        code: e.hl7Code === '101' ? 'SP_HL7_MISSING_FIELD' : 'SP_HL7_MALFORMED',
        hl7Code: e.hl7Code,
        segment: e.segment,
        sequence: e.sequence,
        field: e.field,
      };
      const [accept, application] = salvageAckTypes(raw);
      const code = parseFailureCode(accept, application);
      await this.auditRefusal(DEFAULT_TENANT, origin, now, { code: error.code, hl7Code: error.hl7Code });
      return {
        ack: code ? buildAck(null, raw, code, { controlId: ackControlId, now, error }) : '',
        code,
        controlId: '',
        status: 'rejected',
      };
    }
    const ack = (outcome: Outcome, error?: AckError) => {
      const code = ackCodeFor(msg.acceptAckType, msg.applicationAckType, outcome);
      return { code, ack: code ? buildAck(msg, raw, code, { controlId: ackControlId, now, error }) : '' };
    };

    // Everything up to the ACK runs in one transaction (sender, duplicate check, effects, the sealed
    // message, audit): no read outside it, so concurrent connections share group commits.
    let sender: SenderView | null = null;
    let messageId = '';
    let row: Omit<Hl7MessageInsert, 'status' | 'ack_code' | 'patient_id' | 'raw_ct'> | null = null;
    let ctx: RequestContext | null = null;
    let patientIdentifier: PatientIdentifier | null = null;
    try {
      const done = await core.store.transaction(async (tx) => {
        const s = await this.admit(tx, msg, origin);
        sender = s;
        const c: RequestContext = {
          tenantId: s.tenantId,
          actor: origin.actor ?? `hl7-sender:${s.id}`,
          sourceIp: origin.remoteAddress,
        };
        ctx = c;
        const controlHash = core.cipher.blindIndex(s.tenantId, 'hl7.control-id', msg.controlId);
        const prior = await tx.hl7Messages.findByControlId(s.id, controlHash);
        if (prior) {
          await this.auditMessage(tx, c, now, 'hl7.message.duplicate', prior.id, null, {
            status: prior.status,
            ackCode: prior.ack_code,
          });
          return { prior };
        }
        messageId = core.newId();
        const identifier = msg.segment('PID') ? chooseIdentifier(msg.segment('PID')!, 3, s) : null;
        patientIdentifier = identifier;
        const r = {
          id: messageId,
          tenant_id: s.tenantId,
          sender_id: s.id,
          // MSH-10 and MSH-9 are caller text: a keyed hash (duplicate detection) and a checked label only.
          control_id: controlHash,
          message_type: typeLabel(msg),
          patient_bidx: identifier ? patientBidx(core, s.tenantId, identifier) : null,
          received_at: now.getTime(),
          updated_at: now.getTime(),
        };
        row = r;
        const result = await this.apply({ tx, ctx: c, msg, sender: s, messageId, now });
        // Ignored events too: the message belongs to its patient when its PID resolves (erasure forgets it).
        result.patientId ??= await this.knownPatient(tx, s.tenantId, identifier);
        await tx.hl7Messages.insert({
          ...r,
          status: result.status,
          ack_code: 'AA',
          patient_id: result.patientId,
          raw_ct: await this.seal(tx, s.tenantId, messageId, raw, now),
        });
        // One entry per message: received and what came of it.
        await this.auditMessage(tx, c, now, `hl7.message.${result.status}`, messageId, result.patientId, {
          ...result.details,
          senderId: s.id,
          type: r.message_type,
          ackCode: 'AA',
        });
        return { result };
      });
      await core.store.durable();
      if (done.prior) return this.duplicateAck(msg, done.prior, ack);
      core.wake();
      return { ...ack('AA'), controlId: msg.controlId, messageId, status: done.result!.status };
    } catch (e) {
      if (e instanceof Rejection) {
        const details = { code: e.error.code, hl7Code: e.error.hl7Code, type: typeLabel(msg) };
        if (e.beforeSender) await this.auditRefusal(e.tenantId ?? DEFAULT_TENANT, origin, now, details);
        else await this.auditOutside(e.tenantId!, origin, now, 'hl7.message.rejected', details);
        return { ...ack('AR', e.error), controlId: msg.controlId, status: 'rejected' };
      }
      const failure = applyFailure(e);
      const s = sender as SenderView | null;
      const r = row as Omit<Hl7MessageInsert, 'status' | 'ack_code' | 'patient_id' | 'raw_ct'> | null;
      const c = ctx as RequestContext | null;
      if (!failure || !s || !r || !c) throw e;
      // The failed transaction rolled back; the message alone goes to the error queue.
      const identifier = patientIdentifier as PatientIdentifier | null;
      await core.store.transaction(async (tx) => {
        await tx.hl7Messages.insert({
          ...r,
          status: 'error',
          ack_code: 'AE',
          ...errorColumns(failure),
          // The patient when the identifier resolves (erasure forgets the message with them).
          patient_id: await this.knownPatient(tx, s.tenantId, identifier),
          raw_ct: await this.seal(tx, s.tenantId, messageId, raw, now),
        });
        await this.auditMessage(tx, c, now, 'hl7.message.error_queued', messageId, null, {
          senderId: s.id,
          type: r.message_type,
          code: failure.code,
          hl7Code: failure.hl7Code,
          ackCode: 'AE',
        });
      });
      await core.store.durable();
      return { ...ack('AE', failure), controlId: msg.controlId, messageId, status: 'error' };
    }
  }

  /** Sender, certificate, version and type checks: every refusal is AR/CR and stores nothing. */
  private async admit(tx: StoreTx, msg: Hl7Message, origin: Hl7Origin): Promise<SenderView> {
    const imported = origin.actor !== undefined;
    const cert = origin.tls ? origin.clientCertSha256 : undefined;
    const sender = await this.senders.route(
      tx,
      msg.sendingApplication,
      msg.sendingFacility,
      imported ? { importTenantId: origin.tenantId ?? DEFAULT_TENANT } : { clientCertSha256: cert },
    );
    if (!sender)
      throw new Rejection(
        { code: 'SP_HL7_UNKNOWN_SENDER', hl7Code: '103', segment: 'MSH', sequence: 1, field: 3 },
        undefined,
        true,
      );
    // A sender registered without a certificate is an engine on this host: only a loopback peer (or an
    // operator's import) may speak for it. A bound one was routed by its certificate already.
    if (!imported && sender.certSha256 === null && !isLoopbackHost(origin.remoteAddress ?? ''))
      throw new Rejection(
        { code: 'SP_HL7_SENDER_CERT_MISMATCH', hl7Code: '207', segment: 'MSH', sequence: 1, field: 3 },
        sender.tenantId,
        true,
      );
    if (!VERSIONS.test(msg.version))
      throw new Rejection(
        {
          code: 'SP_HL7_UNSUPPORTED_VERSION',
          hl7Code: '203',
          segment: 'MSH',
          sequence: 1,
          field: 12,
        },
        sender.tenantId,
      );
    const supported =
      msg.type === 'ADT' ||
      (msg.type === 'SIU' && SIU_EVENTS.has(msg.trigger)) ||
      (msg.type === 'ORU' && ORU_EVENTS.has(msg.trigger));
    if (!supported) {
      const known = ['ADT', 'SIU', 'ORU'].includes(msg.type);
      throw new Rejection(
        {
          code: known ? 'SP_HL7_UNSUPPORTED_EVENT' : 'SP_HL7_UNSUPPORTED_TYPE',
          hl7Code: known ? '201' : '200',
          segment: 'MSH',
          sequence: 1,
          field: 9,
        },
        sender.tenantId,
      );
    }
    return sender;
  }

  private apply(s: ApplyScope): Promise<Applied> {
    switch (s.msg.type) {
      case 'ADT':
        return applyAdt(this.deps, s);
      case 'SIU':
        return applySiu(this.deps, s);
      default:
        return applyOru(this.deps, s);
    }
  }

  /** Sent again: the first outcome is acknowledged again (in this message's mode), nothing re-applied. */
  private duplicateAck(
    msg: Hl7Message,
    prior: Hl7MessageSummary,
    ack: (o: Outcome, e?: AckError) => { code: AckCode | null; ack: string },
  ): ReceiveResult {
    const error: AckError | undefined =
      prior.ack_code === 'AE' && prior.error_code
        ? {
            code: prior.error_code,
            hl7Code: prior.error_hl7_code ?? '207',
            segment: prior.error_segment ?? undefined,
            sequence: prior.error_sequence ?? undefined,
            field: prior.error_field ?? undefined,
          }
        : undefined;
    return {
      ...ack(prior.ack_code as Outcome, error),
      controlId: msg.controlId,
      messageId: prior.id,
      status: 'duplicate',
    };
  }

  /** The raw message under a data key of its own (`data_keys` row `hl7:<id>`, re-wrapped by KEK rotation). */
  private async seal(tx: StoreTx, tenantId: string, messageId: string, raw: string, now: Date): Promise<Buffer> {
    const { cipher } = this.deps.core;
    const dk = await cipher.newDataKey(tenantId, `hl7:${messageId}`);
    await tx.dataKeys.insert({
      tenant_id: tenantId,
      patient_id: `hl7:${messageId}`,
      key_id: dk.wrapped.keyId,
      wrapped: dk.wrapped.wrapped,
      created_at: now.getTime(),
    });
    return cipher.encrypt(dk.key, { tenantId, table: 'hl7_messages', rowId: messageId, field: 'raw' }, raw);
  }

  private async unseal(tx: StoreTx, tenantId: string, m: { id: string; raw_ct: Uint8Array | null }): Promise<string> {
    const { cipher } = this.deps.core;
    const wrapped = await tx.dataKeys.get(tenantId, `hl7:${m.id}`);
    // Erasure of the patient forgot it: there is nothing left to replay.
    if (!m.raw_ct || !wrapped) throw new AppError('SP_PATIENT_ERASED');
    const key = await cipher.dataKey(tenantId, `hl7:${m.id}`, {
      keyId: wrapped.key_id,
      wrapped: Buffer.from(wrapped.wrapped),
    });
    return cipher.decrypt(key, { tenantId, table: 'hl7_messages', rowId: m.id, field: 'raw' }, m.raw_ct);
  }

  private auditMessage(
    tx: StoreTx,
    ctx: RequestContext,
    now: Date,
    action: string,
    messageId: string,
    patientId: string | null,
    details: Record<string, string | number | boolean | string[] | null>,
  ) {
    return audit(tx, ctx, now, {
      action,
      targetType: 'hl7_message',
      targetId: messageId,
      patientRef: patientId ? patientRef(this.deps.core, ctx.tenantId, patientId) : null,
      details,
    });
  }

  /** A refusal is audited too (codes and the peer's address only), in a transaction of its own. */
  private async auditOutside(
    tenantId: string,
    origin: Hl7Origin,
    now: Date,
    action: string,
    details: Record<string, string>,
  ) {
    const { store } = this.deps.core;
    const ctx = { tenantId, actor: origin.actor ?? 'hl7-peer', sourceIp: origin.remoteAddress };
    await store.transaction((tx) => audit(tx, ctx, now, { action, outcome: 'failure', details }));
    await store.durable();
  }

  /** The patient an identifier names in the tenant, when it is known and not erased. */
  private async knownPatient(tx: StoreTx, tenantId: string, id: PatientIdentifier | null): Promise<string | null> {
    if (!id) return null;
    const found = await this.deps.patients.findByIdentifierInTx(tx, tenantId, id);
    return found && !found.erased ? found.patientId : null;
  }

  /**
   * A refusal before a sender is known (unparsable, unknown sender, certificate mismatch): anyone who
   * can connect causes one, so at most one audit entry (and one durable wait) per peer address and code
   * per minute; the entry counts the refusals not audited since the previous one (`suppressed`).
   */
  private async auditRefusal(
    tenantId: string,
    origin: Hl7Origin,
    now: Date,
    details: Record<string, string>,
  ): Promise<void> {
    const key = `${origin.remoteAddress ?? origin.actor ?? ''}|${details.code}`;
    const at = now.getTime();
    const seen = this.refusals.get(key);
    if (seen && at < seen.until) {
      seen.suppressed++;
      return;
    }
    if (this.refusals.size >= REFUSAL_KEYS_MAX)
      for (const [k, v] of this.refusals) if (at >= v.until && v.suppressed === 0) this.refusals.delete(k);
    if (this.refusals.size >= REFUSAL_KEYS_MAX) this.refusals.clear();
    this.refusals.set(key, { until: at + REFUSAL_WINDOW_MS, suppressed: 0 });
    await this.auditOutside(tenantId, origin, now, 'hl7.message.rejected', {
      ...details,
      ...(seen?.suppressed ? { suppressed: String(seen.suppressed) } : {}),
    });
  }

  // The error queue -----------------------------------------------------------------------------

  async listErrors(
    ctx: RequestContext,
    o: { limit?: number; cursor?: string; status?: string } = {},
  ): Promise<{ items: Hl7MessageView[]; nextCursor: string | null }> {
    const limit = Math.min(Math.max(o.limit ?? 50, 1), 200);
    let after: { receivedAt: number; id: string } | undefined;
    if (o.cursor) {
      const [at, id] = Buffer.from(o.cursor, 'base64url').toString('utf8').split('|');
      if (!id || !/^\d+$/.test(at)) throw new AppError('SP_REQ_VALIDATION', 'cursor');
      after = { receivedAt: Number(at), id };
    }
    const rows = await this.deps.core.store.read.hl7Messages.list(ctx.tenantId, o.status ?? 'error', limit + 1, after);
    const items = rows.slice(0, limit).map(messageView);
    const last = rows.length > limit ? rows[limit - 1] : null;
    return {
      items,
      nextCursor: last ? Buffer.from(`${Number(last.received_at)}|${last.id}`).toString('base64url') : null,
    };
  }

  async getMessage(ctx: RequestContext, id: string): Promise<Hl7MessageView> {
    const m = await this.deps.core.store.read.hl7Messages.get(ctx.tenantId, id);
    if (!m) throw new AppError('SP_HL7_MESSAGE_NOT_FOUND');
    return messageView(m);
  }

  /**
   * Re-applies a queued message (after the cause was fixed: the patient registered…). Order rule: a
   * message is replayed only when no older message of the same sender about the same patient (or with
   * no patient identifier) is still queued (SP_HL7_REPLAY_ORDER names them), so effects apply in the
   * order the sender sent them. Success → `replayed`; failure → stays `error` with the new reason.
   */
  async replay(ctx: RequestContext, id: string): Promise<Hl7MessageView> {
    const { core } = this.deps;
    const now = core.clock();
    const m = await core.store.read.hl7Messages.get(ctx.tenantId, id);
    if (!m) throw new AppError('SP_HL7_MESSAGE_NOT_FOUND');
    if (m.status !== 'error') throw new AppError('SP_HL7_NOT_QUEUED');
    const older = await core.store.read.hl7Messages.olderErrors(ctx.tenantId, m);
    if (older.length) throw new AppError('SP_HL7_REPLAY_ORDER', older.map((o) => o.id).join(', '));
    const sender = await core.store.read.hl7Senders.get(ctx.tenantId, m.sender_id);
    if (!sender) throw new AppError('SP_HL7_SENDER_NOT_FOUND');
    try {
      await core.store.transaction(async (tx) => {
        const current = await tx.hl7Messages.get(ctx.tenantId, id);
        if (current?.status !== 'error') throw new AppError('SP_HL7_NOT_QUEUED');
        const msg = parseHl7(await this.unseal(tx, ctx.tenantId, current));
        const result = await this.apply({ tx, ctx, msg, sender: senderView(sender), messageId: id, now });
        await tx.hl7Messages.update(ctx.tenantId, id, {
          status: 'replayed',
          // A resend of this control id is now acknowledged AA: it was applied.
          ack_code: 'AA',
          patient_id: result.patientId,
          ...errorColumns(null),
          updated_at: now.getTime(),
        });
        await this.auditMessage(tx, ctx, now, 'hl7.message.replayed', id, result.patientId, result.details);
      });
    } catch (e) {
      const failure = applyFailure(e);
      if (!failure || (isAppError(e) && (e.code === 'SP_HL7_NOT_QUEUED' || e.code === 'SP_PATIENT_ERASED'))) throw e;
      await core.store.transaction(async (tx) => {
        await tx.hl7Messages.update(ctx.tenantId, id, { ...errorColumns(failure), updated_at: now.getTime() });
        await this.auditMessage(tx, ctx, now, 'hl7.message.replay_failed', id, null, {
          code: failure.code,
          hl7Code: failure.hl7Code,
        });
      });
    }
    await core.store.durable();
    core.wake();
    return this.getMessage(ctx, id);
  }

  /** Gives up on a queued message: `discarded`, and its raw text is forgotten (sealed content deleted). */
  async discard(ctx: RequestContext, id: string): Promise<Hl7MessageView> {
    const { core } = this.deps;
    const now = core.clock();
    await core.store.transaction(async (tx) => {
      const m = await tx.hl7Messages.get(ctx.tenantId, id);
      if (!m) throw new AppError('SP_HL7_MESSAGE_NOT_FOUND');
      if (m.status !== 'error') throw new AppError('SP_HL7_NOT_QUEUED');
      await tx.hl7Messages.update(ctx.tenantId, id, { status: 'discarded', raw_ct: null, updated_at: now.getTime() });
      await this.auditMessage(tx, ctx, now, 'hl7.message.discarded', id, null, { code: m.error_code });
    });
    await core.store.durable();
    return this.getMessage(ctx, id);
  }
}

/** The ERR content of an apply failure, or null when `e` is not one (a bug, the database: rethrown). */
function applyFailure(e: unknown): AckError | null {
  if (e instanceof Hl7ApplyError)
    return {
      code: e.code,
      hl7Code: e.hl7Code,
      segment: e.where.segment,
      sequence: e.where.sequence,
      field: e.where.field,
    };
  if (e instanceof Hl7ParseError)
    return { code: 'SP_HL7_MALFORMED', hl7Code: e.hl7Code, segment: e.segment, sequence: e.sequence, field: e.field };
  if (isAppError(e) && e.code !== 'SP_STORE_UNAVAILABLE')
    return { code: e.code, hl7Code: '207', ...CORE_FIELDS[e.code] };
  return null;
}

/** Where core's validation errors come from in a message. */
const CORE_FIELDS: Partial<Record<ErrorCode, { segment: string; field?: number }>> = {
  SP_PATIENT_INVALID_BIRTH_DATE: { segment: 'PID', field: 7 },
  SP_PATIENT_INVALID_PHONE: { segment: 'PID', field: 13 },
  SP_PATIENT_INVALID_EMAIL: { segment: 'PID', field: 13 },
  SP_PATIENT_ERASED: { segment: 'PID', field: 3 },
  SP_PATIENT_MERGED: { segment: 'PID', field: 3 },
  SP_APPOINTMENT_INVALID_TIME: { segment: 'SCH' },
  // The patient has no contact point to remind: PID-13/PID-14 (or a REST/FHIR update) must give one.
  SP_NOTIFICATION_NO_CHANNEL: { segment: 'PID', field: 13 },
};

function errorColumns(f: AckError | null) {
  return {
    error_code: f?.code ?? null,
    error_hl7_code: f?.hl7Code ?? null,
    error_segment: f?.segment ?? null,
    error_sequence: f?.sequence ?? null,
    error_field: f?.field ?? null,
  };
}

/** MSH-15 and MSH-16 read leniently from a message that did not parse (to answer in its mode). */
function salvageAckTypes(raw: string): [string, string] {
  const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  const line = text.trimStart().split(/\r\n|\r|\n/, 1)[0] ?? '';
  if (!line.startsWith('MSH') || line.length < 8) return ['', ''];
  const fields = line.split(line.charAt(3));
  const component = fields[1]?.charAt(0) || '^';
  const at = (n: number) => (fields[n - 1] ?? '').split(component)[0].trim().slice(0, 2);
  return [at(15), at(16)];
}
