import type { CoreDeps, RequestContext } from './context.js';
import { audit, externalRef, patientDataKey, patientRef } from './context.js';
import { normaliseContact } from './contact-validation.js';
import { LANGUAGES, type Language } from './domain.js';
import { AppError } from './errors.js';
import { announce, type DomainEvent, type DomainEvents } from './events.js';
import type { SmsAnswer } from './sms-answer.js';
import { enqueueEventInTx } from './event-webhooks.js';
import { APPOINTMENT_REPLY_INVITATION } from './templates/built-in/appointment-reminder.js';
import type { StoreTx } from '../store/store.js';
import type { ReplyQuestionRow } from '../store/repositories/patient-reply-repository.js';

export interface ReplyCodes {
  confirm: string;
  decline: string;
}

export const DEFAULT_REPLY_CODES: ReplyCodes = Object.freeze({ confirm: 'C', decline: 'N' });
/** A reply code: letters and digits, starting with a letter (digits alone are alert reply codes: "1", "1D"). */
const CODE = /^[A-Z][A-Z0-9]{0,7}$/;
/** The HELP answer goes to one number at most once in this window. */
export const HELP_ANSWER_INTERVAL_MS = 86_400_000;
/** How many of a number's newest questions are looked at for the newest one still open. */
const QUESTIONS_LOOKED_AT = 10;

export type PatientResponse = 'confirmed' | 'declined';

/** A text as a code: upper case, letters and digits only ("c", " C. ", "c!" are all `C`). */
export function replyWord(body: string): string {
  return body
    .normalize('NFKD')
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, '');
}

/** The question an appointment reminder's SMS nudge ends with, in the patient's language. */
export function replyInvitation(language: Language, codes: ReplyCodes): string {
  return APPOINTMENT_REPLY_INVITATION[language]
    .replace('{{confirmCode}}', codes.confirm)
    .replace('{{declineCode}}', codes.decline);
}

/** The tenant's reply codes (defaults when it set none). */
export async function replyCodesOf(tx: StoreTx, tenantId: string): Promise<ReplyCodes> {
  const row = await tx.patientReplies.getCodes(tenantId);
  return row ? { confirm: row.confirm_code, decline: row.decline_code } : { ...DEFAULT_REPLY_CODES };
}

/** Whether a delivery's SMS nudge asks the question (and so binds reply codes when it is sent). */
export function asksQuestion(n: { type: string; appointment_id: string | null }, channel: string): boolean {
  return channel === 'sms' && n.type === 'appointment_reminder' && n.appointment_id != null;
}

type Ack = 'confirmed' | 'declined' | 'no_open_question';

/** The short answers to a reply code: PHI-free (neither when, nor where, nor who), GSM-7 only. */
export const ACKNOWLEDGEMENTS: Record<Language, Record<Ack, string>> = {
  en: {
    confirmed: 'Thank you. Your appointment is confirmed.',
    declined: 'Thank you. We have noted that you cannot come and will contact you to find another time.',
    no_open_question: 'No appointment is waiting for your answer. Please contact {{organisation}} directly.',
  },
  es: {
    confirmed: 'Gracias. Su cita queda confirmada.',
    declined: 'Gracias. Hemos anotado que no puede venir y le llamaremos para buscar otra hora.',
    no_open_question: 'Ninguna cita espera su respuesta. Por favor, llame a {{organisation}}.',
  },
};

/** The blind index a number is matched by between a question and its reply (stable reference key). */
export function replyAddressRef(deps: Pick<CoreDeps, 'cipher'>, tenantId: string, e164: string): string {
  return deps.cipher.blindIndex(tenantId, 'reply.sms', e164);
}

function languageOf(s: string | undefined): Language {
  return (LANGUAGES as readonly string[]).includes(s ?? '') ? (s as Language) : 'en';
}

/**
 * Binds reply codes to the number an appointment reminder's SMS went to. Listens to core's events
 * inside the delivery worker's transaction: when an SMS delivery of an appointment reminder is sent
 * (or delivered), one question row is written for it, keyed by the number's blind index (the number
 * is opened only to compute that index). Other events cost nothing but a comparison.
 */
export class ReplyQuestionBinder implements DomainEvents {
  constructor(private readonly deps: CoreDeps) {}

  async record(tx: StoreTx, events: readonly DomainEvent[]): Promise<void> {
    for (const e of events) {
      if (e.kind !== 'delivery.status' || e.channel !== 'sms') continue;
      if (e.status !== 'sent' && e.status !== 'delivered') continue;
      const n = await tx.notifications.get(e.tenantId, e.notificationId);
      if (!n || !asksQuestion(n, 'sms')) continue;
      const d = await tx.deliveries.get(e.deliveryId);
      // A reminder carried inside another delivery's digest nudge asked nothing: the text was the lead's.
      if (d?.provider === 'digest') continue;
      const c = d && (await tx.contactPoints.get(d.contact_point_id));
      const key = c && (await patientDataKey(this.deps, tx, e.tenantId, e.patientId));
      if (!c || !key) continue;
      const phone = this.deps.cipher.decrypt(
        key,
        { tenantId: e.tenantId, table: 'contact_points', rowId: c.id, field: 'value' },
        c.value_ct,
      );
      const patient = await tx.patients.get(e.tenantId, e.patientId);
      await tx.patientReplies.insertQuestion({
        tenant_id: e.tenantId,
        id: this.deps.newId(),
        address_ref: replyAddressRef(this.deps, e.tenantId, phone),
        patient_id: e.patientId,
        appointment_id: n.appointment_id!,
        notification_id: n.id,
        delivery_id: e.deliveryId,
        language: languageOf(patient?.language),
        asked_at: e.at,
        answered_at: null,
        answer: null,
      });
    }
  }
}

export interface PatientRepliesOptions {
  /** Short answers back to the number (acknowledgements, HELP). */
  answer: SmsAnswer;
  /** The tenant's HELP text in `language` (the consent service's). */
  helpText: (tenantId: string, language: Language) => string | Promise<string>;
  /** Whether `word` is one of the tenant's SMS keywords (opt-out, opt-in, help): never a reply code. */
  isKeyword: (tenantId: string, word: string) => boolean | Promise<boolean>;
  /** True when the EHR's event webhook is configured: answers are queued for it. */
  eventWebhook: boolean;
  /** A queued event may be sent now. */
  wakeEventWebhook: () => void;
}

export type ReplyOutcome = PatientResponse | 'no_open_question' | 'ignored';

/** One unrecognised text as staff see it. */
export interface InboundMessageView {
  id: string;
  patientId: string;
  channel: string;
  body: string;
  receivedAt: string;
  /** The number belongs to more than one patient (a shared phone): this copy is one of several. */
  sharedNumber: boolean;
}

/**
 * Two-way SMS replies. An appointment reminder's SMS nudge ends with "Reply C to confirm, N if you
 * cannot come" (the tenant's codes); the reply binds to the newest question sent to that number
 * (by blind index) whose appointment is still booked and ahead. The answer lands on the appointment
 * (`patientResponse`, time, channel), audited, announced to FHIR Subscriptions and queued for the
 * EHR's event webhook in the same transaction, then acknowledged by a PHI-free text. Texts that are
 * no reply (and no keyword: the caller asked consent first) are sealed under the data key of each
 * patient the number belongs to and answered with the tenant's HELP text at most once a day.
 */
export class PatientReplies {
  constructor(
    private readonly deps: CoreDeps,
    private readonly o: PatientRepliesOptions,
  ) {}

  /** The tenant's reply codes (defaults when it set none). */
  codes(tenantId: string, tx: StoreTx = this.deps.store.read): Promise<ReplyCodes> {
    return replyCodesOf(tx, tenantId);
  }

  /** Sets the tenant's reply codes (audited). Refuses malformed codes and keywords; changes nothing then. */
  async setCodes(ctx: RequestContext, input: ReplyCodes): Promise<ReplyCodes> {
    const confirm = input.confirm.trim().toUpperCase();
    const decline = input.decline.trim().toUpperCase();
    for (const [name, c] of [
      ['confirm', confirm],
      ['decline', decline],
    ] as const)
      if (!CODE.test(c)) throw new AppError('SP_REPLY_CODE_INVALID', name);
    if (confirm === decline) throw new AppError('SP_REPLY_CODE_INVALID', 'confirm and decline are the same');
    for (const [name, c] of [
      ['confirm', confirm],
      ['decline', decline],
    ] as const)
      if (await this.o.isKeyword(ctx.tenantId, c)) throw new AppError('SP_REPLY_CODE_KEYWORD', name);
    const { store, clock } = this.deps;
    await store.transaction(async (tx) => {
      const now = clock();
      await tx.patientReplies.putCodes({
        tenant_id: ctx.tenantId,
        confirm_code: confirm,
        decline_code: decline,
        updated_by: ctx.actor,
        updated_at: now.getTime(),
      });
      await audit(tx, ctx, now, {
        action: 'reply_codes.updated',
        targetType: 'tenant',
        targetId: ctx.tenantId,
        details: { confirm, decline },
      });
    });
    await store.durable();
    return { confirm, decline };
  }

  /**
   * A reply code from `from`: answers the newest open question sent to that number. `ignored` when
   * the text is no reply code, the number is invalid, or no question was ever sent to it (the
   * caller goes on: an unrecognised text); `no_open_question` when questions were sent but none is
   * open any more (their appointments passed or were cancelled): nothing changes, the patient is told.
   */
  async handle(ctx: RequestContext, from: string, body: string): Promise<ReplyOutcome> {
    const word = replyWord(body);
    if (!word || word.length > 8) return 'ignored';
    let phone: string;
    try {
      phone = normaliseContact('sms', from, 0);
    } catch {
      return 'ignored';
    }
    const { store, clock } = this.deps;
    const codes = await this.codes(ctx.tenantId);
    const response: PatientResponse | null =
      word === codes.confirm ? 'confirmed' : word === codes.decline ? 'declined' : null;
    if (!response) return 'ignored';
    const ref = replyAddressRef(this.deps, ctx.tenantId, phone);
    const result = await store.transaction(async (tx) => {
      const now = clock();
      const questions = await tx.patientReplies.latestQuestions(ctx.tenantId, [ref], QUESTIONS_LOOKED_AT);
      if (!questions.length) return { outcome: 'ignored' as const };
      const open = await this.openQuestion(tx, ctx.tenantId, questions, now.getTime());
      if (!open) return { outcome: 'no_open_question' as const, language: languageOf(questions[0].language) };
      await this.answerInTx(tx, ctx, open, response, now);
      return { outcome: response, language: languageOf(open.language) };
    });
    if (result.outcome === 'ignored') return 'ignored';
    // A number that opted out (STOP) is not texted again, not even to acknowledge; the answer stands.
    const silent = await store.read.patientReplies.smsOptedOut(
      ctx.tenantId,
      this.deps.cipher.blindIndexCandidates(ctx.tenantId, 'contact.sms', phone),
    );
    await store.durable();
    if (result.outcome !== 'no_open_question' && this.o.eventWebhook) this.o.wakeEventWebhook();
    if (!silent)
      await this.o.answer.send(
        ctx.tenantId,
        phone,
        ACKNOWLEDGEMENTS[result.language][result.outcome].replace(
          '{{organisation}}',
          this.deps.config.organisationName,
        ),
      );
    return result.outcome;
  }

  /** The newest question whose appointment is booked and still ahead. */
  private async openQuestion(
    tx: StoreTx,
    tenantId: string,
    questions: readonly ReplyQuestionRow[],
    now: number,
  ): Promise<ReplyQuestionRow | undefined> {
    const appts = new Map(
      (await tx.appointments.getMany(tenantId, [...new Set(questions.map((q) => q.appointment_id))])).map((a) => [
        a.external_id,
        a,
      ]),
    );
    return questions.find((q) => {
      const a = appts.get(q.appointment_id);
      return a !== undefined && a.status === 'booked' && Number(a.start_at) > now && a.patient_id === q.patient_id;
    });
  }

  private async answerInTx(
    tx: StoreTx,
    ctx: RequestContext,
    q: ReplyQuestionRow,
    response: PatientResponse,
    now: Date,
  ): Promise<void> {
    const at = now.getTime();
    const a = await tx.appointments.get(ctx.tenantId, q.appointment_id);
    await tx.patientReplies.answerQuestion(ctx.tenantId, q.id, response, at);
    // The same answer again (a repeated text) changes nothing more; a changed mind is a new answer.
    if (a?.patient_response === response) return;
    await tx.appointments.update(ctx.tenantId, q.appointment_id, {
      patient_response: response,
      response_at: at,
      response_channel: 'sms',
      updated_at: at,
    });
    await audit(tx, ctx, now, {
      action: 'appointment.patient_response',
      targetType: 'appointment',
      targetId: externalRef(this.deps, ctx.tenantId, 'appointment', q.appointment_id),
      patientRef: patientRef(this.deps, ctx.tenantId, q.patient_id),
      details: { response, channel: 'sms', question: q.id, notification: q.notification_id },
    });
    await announce(this.deps, tx, [
      {
        kind: 'appointment.response',
        tenantId: ctx.tenantId,
        patientId: q.patient_id,
        appointmentId: q.appointment_id,
        response,
        channel: 'sms',
        at,
      },
    ]);
    if (this.o.eventWebhook)
      await enqueueEventInTx(tx, {
        id: this.deps.newId(),
        tenantId: ctx.tenantId,
        type: 'appointment.response',
        at,
        patientId: q.patient_id,
        data: { appointmentId: q.appointment_id, response, channel: 'sms' },
      });
  }

  /**
   * A text that was neither an alert reply, nor a keyword, nor a reply code. Sealed under the data
   * key of each patient whose SMS contact point has this number (a shared phone: one copy per
   * patient, each visible only through that patient's relationship check); a number that matches no
   * patient is not kept (there is no key to seal it under and nobody it belongs to). The HELP text
   * answers at most once a day per number. Returns how many copies were kept and whether HELP went.
   */
  async unrecognised(ctx: RequestContext, from: string, body: string): Promise<{ stored: number; helped: boolean }> {
    let phone: string;
    try {
      phone = normaliseContact('sms', from, 0);
    } catch {
      return { stored: 0, helped: false };
    }
    const { store, clock, cipher, newId } = this.deps;
    const ref = replyAddressRef(this.deps, ctx.tenantId, phone);
    const indexes = cipher.blindIndexCandidates(ctx.tenantId, 'contact.sms', phone);
    const text = body.slice(0, 1600);
    const result = await store.transaction(async (tx) => {
      const now = clock();
      const patientIds = await tx.patientReplies.patientsBySmsIndex(ctx.tenantId, indexes);
      let language: Language = 'en';
      let stored = 0;
      for (const patientId of patientIds) {
        const patient = await tx.patients.get(ctx.tenantId, patientId);
        const key = patient && !patient.merged_into && (await patientDataKey(this.deps, tx, ctx.tenantId, patientId));
        if (!key) continue;
        if (stored === 0) language = languageOf(patient.language);
        const id = newId();
        await tx.patientReplies.insertInbound([
          {
            tenant_id: ctx.tenantId,
            id,
            patient_id: patientId,
            address_ref: ref,
            channel: 'sms',
            body_ct: cipher.encrypt(
              key,
              { tenantId: ctx.tenantId, table: 'inbound_messages', rowId: id, field: 'body' },
              text,
            ),
            patients_matched: patientIds.length,
            received_at: now.getTime(),
          },
        ]);
        await audit(tx, ctx, now, {
          action: 'inbound_message.received',
          targetType: 'inbound_message',
          targetId: id,
          patientRef: patientRef(this.deps, ctx.tenantId, patientId),
          details: { channel: 'sms', patientsMatched: patientIds.length },
        });
        stored += 1;
      }
      // A number that opted out (STOP) gets no HELP text: nothing more is sent to it until START.
      if (await tx.patientReplies.smsOptedOut(ctx.tenantId, indexes)) return { stored, helped: false, language };
      const helped = await tx.patientReplies.takeHelpTurn(
        ctx.tenantId,
        ref,
        now.getTime(),
        now.getTime() - HELP_ANSWER_INTERVAL_MS,
      );
      if (helped)
        await audit(tx, ctx, now, {
          action: 'inbound_message.help_answered',
          targetType: 'sms_address',
          targetId: ref.slice(0, 32),
          details: { stored },
        });
      return { stored, helped, language };
    });
    await store.durable();
    if (result.helped)
      await this.o.answer.send(ctx.tenantId, phone, await this.o.helpText(ctx.tenantId, result.language));
    return { stored: result.stored, helped: result.helped };
  }

  /**
   * A patient's unrecognised texts, newest first, opened with the patient's data key. The caller
   * checked the patient relationship; the read is audited (`inbound_messages.read`).
   */
  async listInbound(
    ctx: RequestContext,
    patientId: string,
    limit: number,
    before?: number,
  ): Promise<InboundMessageView[]> {
    const { store, clock, cipher } = this.deps;
    return store.transaction(async (tx) => {
      if (!(await tx.patients.get(ctx.tenantId, patientId))) throw new AppError('SP_PATIENT_NOT_FOUND');
      const rows = await tx.patientReplies.listInbound(ctx.tenantId, patientId, limit, before);
      const key = rows.length ? await patientDataKey(this.deps, tx, ctx.tenantId, patientId) : null;
      const out = rows.map((r) => ({
        id: r.id,
        patientId: r.patient_id,
        channel: r.channel,
        body: cipher.decrypt(
          key!,
          { tenantId: r.tenant_id, table: 'inbound_messages', rowId: r.id, field: 'body' },
          r.body_ct,
        ),
        receivedAt: new Date(Number(r.received_at)).toISOString(),
        sharedNumber: Number(r.patients_matched) > 1,
      }));
      await audit(tx, ctx, clock(), {
        action: 'inbound_messages.read',
        targetType: 'patient',
        targetId: patientRef(this.deps, ctx.tenantId, patientId),
        patientRef: patientRef(this.deps, ctx.tenantId, patientId),
        details: { count: out.length },
      });
      return out;
    });
  }
}
