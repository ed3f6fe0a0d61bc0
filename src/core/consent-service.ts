import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientRef } from './context.js';
import { normaliseContact } from './contact-validation.js';
import { CHANNEL_KINDS, PURPOSES, type ChannelKind, type Language, type Purpose } from './domain.js';
import { AppError } from './errors.js';
import type { SmsAnswer } from './sms-answer.js';
import {
  DEFAULT_KEYWORDS,
  answerText,
  isKeywordIn,
  matchKeyword,
  validateKeywordSettings,
  type KeywordSettings,
} from './consent-keywords.js';
import type { StoreTx } from '../store/store.js';
import type { ConsentRow } from '../store/repositories/consent-repository.js';

/** What a consent record is about: one channel, or every channel (`*`). */
export type ConsentChannel = ChannelKind | '*';
export const CONSENT_CHANNELS: readonly ConsentChannel[] = [...CHANNEL_KINDS, '*'];
/** What a consent record is about: one purpose (domain.ts PURPOSES), or every purpose (`*`). */
export type ConsentPurpose = Purpose | '*';
export const CONSENT_PURPOSES: readonly ConsentPurpose[] = [...PURPOSES, '*'];
export type ConsentDecision = 'permit' | 'deny';
/**
 * Where a record came from: an inbound SMS keyword, the patient in the portal (signed in), the REST
 * API (a system), a FHIR Consent, an HL7 registration, staff acting on the patient's behalf.
 */
export const CONSENT_SOURCES = ['sms_keyword', 'portal', 'api', 'fhir', 'hl7', 'staff'] as const;
export type ConsentSource = (typeof CONSENT_SOURCES)[number];

export interface ConsentInput {
  patientId: string;
  channel: ConsentChannel;
  /** Absent: every purpose (`*`). */
  purpose?: ConsentPurpose;
  decision: ConsentDecision;
  source: ConsentSource;
}

/**
 * One record of the ledger as callers see it. `active`: no later record of its layer (SMS keywords,
 * or every other source) covers its whole scope.
 */
export interface ConsentRecord {
  id: string;
  patientId: string;
  channel: ConsentChannel;
  purpose: ConsentPurpose;
  decision: ConsentDecision;
  source: ConsentSource;
  /** The actor who recorded it (a user, an API key, a patient account, a provider). */
  recordedBy: string;
  recordedAt: string;
  active: boolean;
}

/** The decision in force for one channel and purpose, and the record that made it (none: permitted by default). */
export interface ConsentState {
  channel: ChannelKind;
  purpose: Purpose;
  decision: ConsentDecision;
  source: ConsentSource | null;
  recordedAt: string | null;
}

/** A patient's consents: the state per channel and purpose, and the ledger (newest first). */
export interface ConsentView {
  patientId: string;
  state: ConsentState[];
  history: ConsentRecord[];
}

/** `source` absent: not a keyword record (callers that only hold scope and decision). */
type Decisive = Pick<ConsentRow, 'channel' | 'purpose' | 'decision'> & { source?: string };

const covers = (r: Decisive, channel: ChannelKind, purpose: Purpose) =>
  (r.channel === channel || r.channel === '*') && (r.purpose === purpose || r.purpose === '*' || !r.purpose);

/**
 * The ledger has two layers (docs/consent.md): the decisions of SMS keywords from the patient's
 * number (a STOP denies SMS for every purpose until a START lifts it), and the decisions from
 * everywhere else (portal, staff, API, FHIR). A keyword never overrides the other layer, nor the
 * other layer a keyword: a channel is allowed only when both layers allow it.
 */
const isKeyword = (r: Decisive) => r.source === 'sms_keyword';

/** The record in force for (channel, purpose) within one layer: the latest one covering both; rows oldest first. */
function decidingIn<R extends Decisive>(
  rows: readonly R[],
  keywordLayer: boolean,
  channel: ChannelKind,
  purpose: Purpose,
): R | undefined {
  for (let i = rows.length - 1; i >= 0; i--) {
    const r = rows[i]!;
    if (isKeyword(r) === keywordLayer && covers(r, channel, purpose)) return r;
  }
  return undefined;
}

/**
 * The record that decides (channel, purpose) over both layers: a deny in force in either layer
 * (the later one when both deny), else the later permit in force, else none (permitted by default).
 */
function deciding<R extends Decisive>(rows: readonly R[], channel: ChannelKind, purpose: Purpose): R | undefined {
  const k = decidingIn(rows, true, channel, purpose);
  const o = decidingIn(rows, false, channel, purpose);
  const later = (a: R | undefined, b: R | undefined) => (!a ? b : !b ? a : rows.indexOf(a) > rows.indexOf(b) ? a : b);
  const denies = [k, o].filter((r) => r?.decision === 'deny');
  if (denies.length) return later(denies[0], denies[1]);
  return later(k, o);
}

/**
 * Whether the patient's ledger (their records, oldest first) allows `channel` for `purpose`: in each
 * layer the latest record about that channel or every channel, and that purpose or every purpose,
 * decides (no record: permit); allowed only when neither layer denies.
 */
export function consentAllows(rows: readonly Decisive[], channel: ChannelKind, purpose: Purpose): boolean {
  return deciding(rows, channel, purpose)?.decision !== 'deny';
}

/** Whether an SMS keyword from the patient's number (a STOP not lifted by a START) denies SMS now. */
export function keywordStopped(rows: readonly Decisive[]): boolean {
  return PURPOSES.some((p) => decidingIn(rows, true, 'sms', p)?.decision === 'deny');
}

/** The channels the patient's ledger (oldest first) denies for `purpose`. */
export function deniedChannels(rows: readonly Decisive[], purpose: Purpose): Set<ChannelKind> {
  return new Set(CHANNEL_KINDS.filter((c) => !consentAllows(rows, c, purpose)));
}

/** Records of several patients (oldest first) grouped by patient id, order kept: what `consentAllows` reads. */
export function consentRowsByPatient<R extends Pick<ConsentRow, 'patient_id'>>(rows: readonly R[]): Map<string, R[]> {
  const out = new Map<string, R[]>();
  for (const r of rows) {
    const list = out.get(r.patient_id);
    if (list) list.push(r);
    else out.set(r.patient_id, [r]);
  }
  return out;
}

const iso = (ms: number | string) => new Date(Number(ms)).toISOString();

/** The records as callers see them; `rows` are one patient's, oldest first. */
function records(rows: readonly ConsentRow[]): ConsentRecord[] {
  const purposeOf = (r: ConsentRow) => (r.purpose || '*') as ConsentPurpose;
  return rows.map((r, i) => ({
    id: r.id,
    patientId: r.patient_id,
    channel: r.channel as ConsentChannel,
    purpose: purposeOf(r),
    decision: r.decision as ConsentDecision,
    source: r.source as ConsentSource,
    recordedBy: r.recorded_by,
    recordedAt: iso(r.recorded_at),
    active: !rows
      .slice(i + 1)
      .some(
        (later) =>
          isKeyword(later) === isKeyword(r) &&
          (later.channel === r.channel || later.channel === '*') &&
          (purposeOf(later) === purposeOf(r) || purposeOf(later) === '*'),
      ),
  }));
}

/** The state per channel and purpose from one patient's rows (oldest first). */
export function consentState(rows: readonly ConsentRow[]): ConsentState[] {
  const out: ConsentState[] = [];
  for (const channel of CHANNEL_KINDS)
    for (const purpose of PURPOSES) {
      const r = deciding(rows, channel, purpose);
      out.push({
        channel,
        purpose,
        decision: r?.decision === 'deny' ? 'deny' : 'permit',
        source: (r?.source as ConsentSource) ?? null,
        recordedAt: r ? iso(r.recorded_at) : null,
      });
    }
  return out;
}

export type InboundResult = 'opted_out' | 'opted_in' | 'help' | 'ignored';

/** How long the ids of inbound texts are remembered against replays (7 days). */
export const INBOUND_SEEN_MS = 7 * 24 * 3_600_000;

/** The send-lock key of a patient (Store.sendLocked / revocationTransaction). */
export const sendLockKey = (tenantId: string, patientId: string) => `${tenantId}/${patientId}`;

export interface ConsentServiceOptions {
  /** Sends keyword confirmations and HELP answers; absent: none are sent. */
  answer?: SmsAnswer;
}

/**
 * Consent: the ledger of patients' decisions per channel and purpose (docs/consent.md), honoured
 * when a notification is created (core/notification-service.ts) and again at send time
 * (core/delivery-processor.ts, under the patient's send lock: a deny committed here waits for sends
 * in flight, and no send starts after it without seeing it). And inbound SMS keywords: the sender's
 * number is found by its blind index, so no phone number is ever compared or stored in the clear.
 * An opt-out or opt-in keyword sets or clears the opt-out of that number's contact points (as
 * carriers enforce it: a later permit elsewhere does not undo it) and records a ledger decision
 * about the patient's `sms` channel for every purpose, so the EHR sees it as a Consent. Keyword
 * records form their own layer: a START lifts only a STOP, never a patient's own denials made
 * elsewhere (a shared family phone texting YES does not re-open another patient's "no results by SMS").
 */
export class ConsentService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly opts: ConsentServiceOptions = {},
  ) {}

  /** Appends one decision to the ledger (audited `consent.recorded`); the patient must exist. */
  async record(ctx: RequestContext, input: ConsentInput): Promise<ConsentRecord> {
    const [id] = await this.recordMany(ctx, input.patientId, [input], input.source);
    return this.get(ctx, id!);
  }

  /**
   * Appends several decisions about one patient in one transaction (all or none), under the
   * patient's exclusive send lock: once this resolves no send that the decisions deny can start.
   */
  async recordMany(
    ctx: RequestContext,
    patientId: string,
    inputs: readonly Omit<ConsentInput, 'patientId' | 'source'>[],
    source: ConsentSource,
  ): Promise<string[]> {
    for (const input of inputs) checkInput({ ...input, patientId, source });
    const { store } = this.deps;
    const ids = await store.revocationTransaction([sendLockKey(ctx.tenantId, patientId)], async (tx) => {
      if (!(await tx.patients.get(ctx.tenantId, patientId))) throw new AppError('SP_PATIENT_NOT_FOUND');
      const out: string[] = [];
      for (const input of inputs) out.push(await this.recordInTx(tx, ctx, { ...input, patientId, source }));
      return out;
    });
    await store.durable();
    return ids;
  }

  /**
   * Appends one decision with `tx` and its audit entry; returns the record's id. A deny recorded
   * here is strict against sends in flight only when `tx` holds the patient's exclusive send lock
   * (Store.revocationTransaction).
   */
  async recordInTx(tx: StoreTx, ctx: RequestContext, input: ConsentInput): Promise<string> {
    checkInput(input);
    const { clock, newId } = this.deps;
    const now = clock();
    const id = newId();
    const purpose = input.purpose ?? '*';
    await tx.consents.insertMany([
      {
        id,
        tenant_id: ctx.tenantId,
        patient_id: input.patientId,
        channel: input.channel,
        purpose,
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
      details: { channel: input.channel, purpose, decision: input.decision, source: input.source },
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

  /** A patient's consents: state per channel and purpose, and the ledger newest first (SP_PATIENT_NOT_FOUND). */
  async view(ctx: RequestContext, patientId: string): Promise<ConsentView> {
    const read = this.deps.store.read;
    if (!(await read.patients.get(ctx.tenantId, patientId))) throw new AppError('SP_PATIENT_NOT_FOUND');
    const rows = await read.consents.listForPatient(ctx.tenantId, patientId);
    return { patientId, state: consentState(rows), history: records(rows).reverse() };
  }

  /** The channels the patient has denied now for `purpose` (the decision the worker applies at send time). */
  async denied(ctx: RequestContext, patientId: string, purpose: Purpose): Promise<ChannelKind[]> {
    return [...deniedChannels(await this.deps.store.read.consents.listForPatient(ctx.tenantId, patientId), purpose)];
  }

  /** The tenant's keyword settings (the defaults when it never changed them). */
  async keywordSettings(tenantId: string): Promise<KeywordSettings> {
    const row = await this.deps.store.read.consents.getSettings(tenantId);
    return row ? (JSON.parse(row.settings) as KeywordSettings) : DEFAULT_KEYWORDS;
  }

  /** Replaces the tenant's keyword settings (validated: SP_CONSENT_KEYWORDS_INVALID); audited. */
  async setKeywordSettings(ctx: RequestContext, input: KeywordSettings): Promise<KeywordSettings> {
    const settings = validateKeywordSettings(input);
    const { store, clock } = this.deps;
    await store.transaction(async (tx) => {
      // The tenant's appointment reply codes stay answers: a keyword may not take one over.
      const codes = await tx.patientReplies.getCodes(ctx.tenantId);
      for (const code of codes ? [codes.confirm_code, codes.decline_code] : [])
        if (isKeywordIn(settings, code))
          throw new AppError('SP_CONSENT_KEYWORDS_INVALID', `keywords: ${code} is an appointment reply code`);
      const now = clock();
      await tx.consents.putSettings({
        tenant_id: ctx.tenantId,
        settings: JSON.stringify(settings),
        updated_by: ctx.actor,
        updated_at: now.getTime(),
      });
      await audit(tx, ctx, now, { action: 'consent.keywords_changed', targetType: 'tenant', targetId: ctx.tenantId });
    });
    await store.durable();
    return settings;
  }

  /** Whether `word` (e.g. a reply code another feature wants) is one of the tenant's keywords. */
  async isKeyword(tenantId: string, word: string): Promise<boolean> {
    return isKeywordIn(await this.keywordSettings(tenantId), word);
  }

  /** The tenant's HELP answer in `language`: the organisation's name, contact and how to stop (PHI-free). */
  async helpText(tenantId: string, language: Language): Promise<string> {
    return answerText(await this.keywordSettings(tenantId), 'help', language, this.defaults());
  }

  private defaults() {
    return { organisation: this.deps.config.organisationName, contact: this.deps.config.organisationContact };
  }

  /**
   * Whether the provider's inbound message `messageId` was handled already (within 7 days): a replay
   * of a signed webhook, which must change nothing (audited `inbound_sms.replay_ignored`). The id is
   * recorded only once the text was handled (`recordInbound`): a crash in between makes the
   * provider's retry count as new, and handling a text twice changes nothing more (a keyword or a
   * reply code is applied once; an unrecognised text may be kept twice).
   */
  async inboundSeen(ctx: RequestContext, provider: string, messageId: string): Promise<boolean> {
    const { store, clock } = this.deps;
    const now = clock();
    if (
      !(await store.read.patientReplies.seenInbound(ctx.tenantId, provider, messageId, now.getTime() - INBOUND_SEEN_MS))
    )
      return false;
    await store.transaction((tx) =>
      audit(tx, ctx, now, {
        action: 'inbound_sms.replay_ignored',
        targetType: 'inbound_sms',
        targetId: messageId,
        details: { provider },
      }),
    );
    await store.durable();
    return true;
  }

  /** Records that the provider's inbound message `messageId` was handled (ids older than 7 days are pruned). */
  async recordInbound(ctx: RequestContext, provider: string, messageId: string): Promise<void> {
    const { store, clock } = this.deps;
    const at = clock().getTime();
    await store.transaction((tx) =>
      tx.patientReplies.recordInbound(ctx.tenantId, provider, messageId, at, at - INBOUND_SEEN_MS),
    );
    await store.durable();
  }

  /**
   * An inbound text from `from`: a keyword of the tenant (docs/consent.md) is applied and answered
   * (one PHI-free confirmation per change, the HELP text to every HELP); anything else is `ignored`
   * and left to the caller. An opt-out revokes SMS for every purpose of every patient reached at
   * that number, strictly: it commits under their exclusive send locks.
   */
  async inboundSms(ctx: RequestContext, from: string, body: string): Promise<InboundResult> {
    const settings = await this.keywordSettings(ctx.tenantId);
    const m = matchKeyword(settings, body);
    if (!m) return 'ignored';
    let phone: string;
    try {
      phone = normaliseContact('sms', from, 0);
    } catch {
      return 'ignored';
    }
    const answer = (action: 'opt_out' | 'opt_in' | 'help') =>
      this.opts.answer?.send(ctx.tenantId, phone, answerText(settings, action, m.language, this.defaults()));
    if (m.action === 'help') {
      await answer('help');
      return 'help';
    }
    const out = m.action === 'opt_out';
    const { store, cipher, clock } = this.deps;
    // Every stored form: while a blind-index rotation re-indexes, a number may still be under the old key.
    let bidxs = cipher.blindIndexCandidates(ctx.tenantId, 'contact.sms', phone);
    const lookup = async () =>
      new Set((await store.read.consents.contactsByIndex(ctx.tenantId, 'sms', bidxs)).map((c) => c.patient_id));
    let patients = await lookup();
    // Perhaps re-indexed under a version a rotation run elsewhere made, not yet held here: refresh and look again.
    if (!patients.size && (await cipher.keys.refresh())) {
      bidxs = cipher.blindIndexCandidates(ctx.tenantId, 'contact.sms', phone);
      patients = await lookup();
    }
    let changed = false;
    for (let attempt = 0; ; attempt++) {
      const locked = patients;
      // The number's patients may change between the lookup and the lock: then lock again, with them.
      const again = await store.revocationTransaction(
        [...locked].map((p) => sendLockKey(ctx.tenantId, p)),
        async (tx) => {
          changed = false;
          const contacts = await tx.consents.contactsByIndex(ctx.tenantId, 'sms', bidxs);
          const now = clock();
          const found = new Set(contacts.map((c) => c.patient_id));
          if ([...found].some((p) => !locked.has(p)) && attempt < 3) return found;
          for (const patientId of found) {
            const mine = contacts.filter((c) => c.patient_id === patientId);
            const rows = await tx.consents.listForPatient(ctx.tenantId, patientId);
            // Only the keyword layer: a STOP is recorded even when other sources already deny SMS
            // (it must outlast their later permits), and a START lifts only a STOP, never them.
            const ledgerChanges = keywordStopped(rows) !== out;
            const contactChanges = mine.some((c) => (c.opted_out_at == null) === out);
            if (!ledgerChanges && !contactChanges) continue;
            changed = true;
            if (ledgerChanges)
              await this.recordInTx(tx, ctx, {
                patientId,
                channel: 'sms',
                purpose: '*',
                decision: out ? 'deny' : 'permit',
                source: 'sms_keyword',
              });
          }
          for (const bidx of bidxs)
            await tx.contactPoints.setOptOutByIndex(ctx.tenantId, 'sms', bidx, out ? now.getTime() : null);
          for (const c of contacts.filter((x) => (x.opted_out_at == null) === out))
            await audit(tx, ctx, now, {
              action: out ? 'contact.opted_out' : 'contact.opted_in',
              targetType: 'contact_point',
              targetId: c.id,
              patientRef: patientRef(this.deps, ctx.tenantId, c.patient_id),
              details: { channel: 'sms', keyword: m.word },
            });
          return null;
        },
      );
      if (!again) break;
      patients = again;
    }
    await store.durable();
    // One confirmation per change: a second STOP changes nothing and is not answered again.
    if (changed) await answer(m.action);
    return out ? 'opted_out' : 'opted_in';
  }
}

function checkInput(input: ConsentInput): void {
  if (!CONSENT_CHANNELS.includes(input.channel)) throw new AppError('SP_REQ_VALIDATION', 'channel');
  if (input.purpose !== undefined && !CONSENT_PURPOSES.includes(input.purpose))
    throw new AppError('SP_REQ_VALIDATION', 'purpose');
  if (input.decision !== 'permit' && input.decision !== 'deny') throw new AppError('SP_REQ_VALIDATION', 'decision');
  if (!CONSENT_SOURCES.includes(input.source)) throw new AppError('SP_REQ_VALIDATION', 'source');
}
