import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientRef } from './context.js';
import { normaliseContact } from './contact-validation.js';
import { CHANNEL_KINDS, type ChannelKind } from './domain.js';
import { AppError } from './errors.js';
import type { StoreTx } from '../store/store.js';
import type { ConsentRow } from '../store/repositories/consent-repository.js';

/** What a consent record is about: one channel, or every channel (`*`). */
export type ConsentChannel = ChannelKind | '*';
export const CONSENT_CHANNELS: readonly ConsentChannel[] = [...CHANNEL_KINDS, '*'];
export type ConsentDecision = 'permit' | 'deny';
/** Where a record came from: a FHIR Consent, an inbound SMS keyword (STOP/START), the REST API. */
export type ConsentSource = 'fhir' | 'sms_keyword' | 'api';

export interface ConsentInput {
  patientId: string;
  channel: ConsentChannel;
  decision: ConsentDecision;
  source: ConsentSource;
}

/** One record of the ledger as callers see it. `active`: no later record covers its whole scope. */
export interface ConsentRecord {
  id: string;
  patientId: string;
  channel: ConsentChannel;
  decision: ConsentDecision;
  source: ConsentSource;
  recordedBy: string;
  recordedAt: string;
  active: boolean;
}

/**
 * The channels a patient has denied, from their ledger records in order (oldest first): for each
 * channel the latest record about it or about every channel (`*`) decides; no record means permit.
 */
export function deniedChannels(rows: readonly Pick<ConsentRow, 'channel' | 'decision'>[]): Set<ChannelKind> {
  const denied = new Set<ChannelKind>();
  for (const r of rows)
    for (const c of CHANNEL_KINDS)
      if (r.channel === c || r.channel === '*') {
        if (r.decision === 'deny') denied.add(c);
        else denied.delete(c);
      }
  return denied;
}

/** `deniedChannels` per patient, from the records of several patients (oldest first), by patient id. */
export function deniedChannelsByPatient(
  rows: readonly Pick<ConsentRow, 'patient_id' | 'channel' | 'decision'>[],
): Map<string, Set<ChannelKind>> {
  const byPatient = new Map<string, Pick<ConsentRow, 'channel' | 'decision'>[]>();
  for (const r of rows) byPatient.set(r.patient_id, [...(byPatient.get(r.patient_id) ?? []), r]);
  const out = new Map<string, Set<ChannelKind>>();
  for (const [p, rs] of byPatient) {
    const d = deniedChannels(rs);
    if (d.size) out.set(p, d);
  }
  return out;
}

/** The records as callers see them; `rows` are one patient's, oldest first. */
function records(rows: readonly ConsentRow[]): ConsentRecord[] {
  return rows.map((r, i) => ({
    id: r.id,
    patientId: r.patient_id,
    channel: r.channel as ConsentChannel,
    decision: r.decision as ConsentDecision,
    source: r.source as ConsentSource,
    recordedBy: r.recorded_by,
    recordedAt: new Date(Number(r.recorded_at)).toISOString(),
    active: !rows.slice(i + 1).some((later) => later.channel === r.channel || later.channel === '*'),
  }));
}

/** Carrier-standard opt-out and opt-in keywords (CTIA), plus common Spanish ones. */
const OPT_OUT = new Set([
  'STOP',
  'STOPALL',
  'UNSUBSCRIBE',
  'CANCEL',
  'END',
  'QUIT',
  'OPTOUT',
  'REVOKE',
  'ALTO',
  'PARAR',
  'BAJA',
]);
const OPT_IN = new Set(['START', 'UNSTOP', 'YES', 'SUBSCRIBE', 'ALTA']);

export type InboundResult = 'opted_out' | 'opted_in' | 'ignored';

/**
 * Consent: the ledger of patients' decisions per channel (honoured by the delivery worker at send
 * time: core/delivery-processor.ts), and inbound SMS keywords: "Reply STOP to opt out" must work.
 * The sender's number is found by its blind index, so no phone number is ever compared or stored in
 * the clear. A keyword sets or clears the opt-out of that number's contact points (as carriers
 * enforce it: a later permit elsewhere does not undo it) and also records a ledger decision about
 * the patient's `sms` channel, so the EHR sees it as a Consent.
 */
export class ConsentService {
  constructor(private readonly deps: CoreDeps) {}

  /** Appends one decision to the ledger (audited `consent.recorded`); the patient must exist. */
  async record(ctx: RequestContext, input: ConsentInput): Promise<ConsentRecord> {
    if (!CONSENT_CHANNELS.includes(input.channel)) throw new AppError('SP_REQ_VALIDATION', 'channel');
    if (input.decision !== 'permit' && input.decision !== 'deny') throw new AppError('SP_REQ_VALIDATION', 'decision');
    const { store } = this.deps;
    const id = await store.transaction(async (tx) => {
      if (!(await tx.patients.get(ctx.tenantId, input.patientId))) throw new AppError('SP_PATIENT_NOT_FOUND');
      return this.recordInTx(tx, ctx, input);
    });
    await store.durable();
    return this.get(ctx, id);
  }

  /** Appends one decision with `tx` and its audit entry; returns the record's id. */
  async recordInTx(tx: StoreTx, ctx: RequestContext, input: ConsentInput): Promise<string> {
    const { clock, newId } = this.deps;
    const now = clock();
    const id = newId();
    await tx.consents.insertMany([
      {
        id,
        tenant_id: ctx.tenantId,
        patient_id: input.patientId,
        channel: input.channel,
        decision: input.decision,
        source: input.source,
        recorded_by: ctx.actor,
        recorded_at: now.getTime(),
      },
    ]);
    await audit(tx, ctx, now, {
      action: 'consent.recorded',
      targetType: 'consent',
      targetId: id,
      patientRef: patientRef(this.deps, ctx.tenantId, input.patientId),
      details: { channel: input.channel, decision: input.decision, source: input.source },
    });
    return id;
  }

  /** One record (SP_CONSENT_NOT_FOUND when the tenant has none with this id). */
  async get(ctx: RequestContext, id: string): Promise<ConsentRecord> {
    const tx = this.deps.store.read;
    const row = await tx.consents.get(ctx.tenantId, id);
    if (!row) throw new AppError('SP_CONSENT_NOT_FOUND');
    return records(await tx.consents.listForPatient(ctx.tenantId, row.patient_id)).find((r) => r.id === id)!;
  }

  /** A patient's records, newest first. */
  async listForPatient(ctx: RequestContext, patientId: string): Promise<ConsentRecord[]> {
    return records(await this.deps.store.read.consents.listForPatient(ctx.tenantId, patientId)).reverse();
  }

  /** The channels the patient has denied now (the decision the worker applies at send time). */
  async denied(ctx: RequestContext, patientId: string): Promise<ChannelKind[]> {
    return [...deniedChannels(await this.deps.store.read.consents.listForPatient(ctx.tenantId, patientId))];
  }

  async inboundSms(ctx: RequestContext, from: string, body: string): Promise<InboundResult> {
    const word = body
      .trim()
      .toUpperCase()
      .replace(/[^A-Z]/g, '');
    const action = OPT_OUT.has(word) ? 'opted_out' : OPT_IN.has(word) ? 'opted_in' : 'ignored';
    if (action === 'ignored') return action;
    let phone: string;
    try {
      phone = normaliseContact('sms', from, 0);
    } catch {
      return 'ignored';
    }
    const { store, cipher, clock } = this.deps;
    // Every stored form: while a blind-index rotation re-indexes, a number may still be under the old key.
    const bidxs = cipher.blindIndexCandidates(ctx.tenantId, 'contact.sms', phone);
    await store.transaction(async (tx) => {
      const now = clock();
      const rows = [];
      for (const bidx of bidxs)
        rows.push(
          ...(await tx.contactPoints.setOptOutByIndex(
            ctx.tenantId,
            'sms',
            bidx,
            action === 'opted_out' ? now.getTime() : null,
          )),
        );
      for (const patientId of new Set(rows.map((r) => r.patient_id)))
        await this.recordInTx(tx, ctx, {
          patientId,
          channel: 'sms',
          decision: action === 'opted_out' ? 'deny' : 'permit',
          source: 'sms_keyword',
        });
      for (const r of rows) {
        await audit(tx, ctx, now, {
          action: action === 'opted_out' ? 'contact.opted_out' : 'contact.opted_in',
          targetType: 'contact_point',
          targetId: r.id,
          patientRef: patientRef(this.deps, ctx.tenantId, r.patient_id),
          details: { channel: 'sms', keyword: word },
        });
      }
    });
    await store.durable();
    return action;
  }
}
