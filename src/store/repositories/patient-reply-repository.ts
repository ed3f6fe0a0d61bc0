import type { Insertable, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';

export type ReplyQuestionRow = Selectable<Database['reply_questions']>;
export type InboundMessageRow = Selectable<Database['inbound_messages']>;
export type ReplyCodeSettingsRow = Selectable<Database['reply_code_settings']>;
export type EventWebhookRow = Selectable<Database['event_webhook_events']>;

/**
 * Two-way SMS replies (migration 024): questions bound to a number's blind index, inbound texts
 * sealed per patient, the once-a-day HELP answer per number, tenants' reply codes, and the durable
 * queue of signed events to the EHR's webhook. No phone number is ever stored or compared in clear.
 */
export interface PatientReplyRepository {
  /** Records a question; a second one for the same delivery (its `sent`, then `delivered`) is ignored. */
  insertQuestion(row: ReplyQuestionRow): Promise<void>;
  /** The newest questions sent to any of `refs` (stored forms of one number), newest first. */
  latestQuestions(tenantId: string, refs: readonly string[], limit: number): Promise<ReplyQuestionRow[]>;
  answerQuestion(tenantId: string, id: string, answer: string, at: number): Promise<void>;
  insertInbound(rows: readonly InboundMessageRow[]): Promise<void>;
  /** A patient's inbound texts, newest first, those received before `before` (exclusive) when given. */
  listInbound(tenantId: string, patientId: string, limit: number, before?: number): Promise<InboundMessageRow[]>;
  /**
   * Takes the number's HELP turn: true when it was never answered or last answered at or before
   * `notAfter` (then `answered_at` becomes `now`), false otherwise (nothing changes).
   */
  takeHelpTurn(tenantId: string, ref: string, now: number, notAfter: number): Promise<boolean>;
  getCodes(tenantId: string): Promise<ReplyCodeSettingsRow | undefined>;
  putCodes(row: ReplyCodeSettingsRow): Promise<void>;
  enqueueEvent(row: Insertable<Database['event_webhook_events']>): Promise<void>;
  /** Leases up to `limit` due, undelivered events to `owner` until `leaseUntil` (attempts + 1). */
  claimEvents(owner: string, now: number, leaseUntil: number, limit: number): Promise<EventWebhookRow[]>;
  /** Records an attempt's outcome under the lease; false when the lease was lost. */
  finishEvent(
    id: string,
    owner: string,
    set: { delivered_at: number | null; run_at: number; last_error_code: string | null },
  ): Promise<boolean>;
  getEvent(id: string): Promise<EventWebhookRow | undefined>;
  /** The patients (ids, distinct) with an SMS contact point stored under one of `indexes` (a number's blind indexes). */
  patientsBySmsIndex(tenantId: string, indexes: readonly string[]): Promise<string[]>;
  /** Whether every SMS contact point stored under one of `indexes` is opted out (STOP); false when there is none. */
  smsOptedOut(tenantId: string, indexes: readonly string[]): Promise<boolean>;
  /**
   * Erasure: the patient's questions and inbound texts, the EHR events about them (pending, parked
   * or delivered), and the HELP-answer turns of `smsRefs` (the reply blind indexes of the patient's
   * SMS numbers).
   */
  deleteForPatient(tenantId: string, patientId: string, smsRefs?: readonly string[]): Promise<void>;
  /** Whether the provider's inbound message `messageId` was handled at or after `since`. */
  seenInbound(tenantId: string, provider: string, messageId: string, since: number): Promise<boolean>;
  /**
   * Records that the provider's inbound message `messageId` was handled (once: a second record of
   * the same id changes nothing). Ids recorded before `pruneBefore` are forgotten first.
   */
  recordInbound(tenantId: string, provider: string, messageId: string, now: number, pruneBefore: number): Promise<void>;
}

export class SqlPatientReplyRepository implements PatientReplyRepository {
  constructor(private readonly sql: Sql) {}

  async insertQuestion(row: ReplyQuestionRow): Promise<void> {
    await this.sql.db
      .insertInto('reply_questions')
      .values(row)
      .onConflict((oc) => oc.columns(['tenant_id', 'delivery_id']).doNothing())
      .execute();
  }

  latestQuestions(tenantId: string, refs: readonly string[], limit: number): Promise<ReplyQuestionRow[]> {
    if (!refs.length) return Promise.resolve([]);
    return this.sql.db
      .selectFrom('reply_questions')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('address_ref', 'in', [...refs])
      .orderBy('asked_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
  }

  async answerQuestion(tenantId: string, id: string, answer: string, at: number): Promise<void> {
    await this.sql.db
      .updateTable('reply_questions')
      .set({ answer, answered_at: at })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .execute();
  }

  async insertInbound(rows: readonly InboundMessageRow[]): Promise<void> {
    if (rows.length)
      await this.sql.db
        .insertInto('inbound_messages')
        .values([...rows])
        .execute();
  }

  listInbound(tenantId: string, patientId: string, limit: number, before?: number): Promise<InboundMessageRow[]> {
    let q = this.sql.db
      .selectFrom('inbound_messages')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId);
    if (before !== undefined) q = q.where('received_at', '<', before);
    return q.orderBy('received_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  }

  async takeHelpTurn(tenantId: string, ref: string, now: number, notAfter: number): Promise<boolean> {
    const r = await this.sql.db
      .insertInto('inbound_help_answers')
      .values({ tenant_id: tenantId, address_ref: ref, answered_at: now })
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'address_ref'])
          .doUpdateSet({ answered_at: now })
          .where('inbound_help_answers.answered_at', '<=', notAfter),
      )
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  getCodes(tenantId: string): Promise<ReplyCodeSettingsRow | undefined> {
    return this.sql.db
      .selectFrom('reply_code_settings')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
  }

  async putCodes(row: ReplyCodeSettingsRow): Promise<void> {
    await this.sql.db
      .insertInto('reply_code_settings')
      .values(row)
      .onConflict((oc) =>
        oc.column('tenant_id').doUpdateSet({
          confirm_code: row.confirm_code,
          decline_code: row.decline_code,
          updated_by: row.updated_by,
          updated_at: row.updated_at,
        }),
      )
      .execute();
  }

  async enqueueEvent(row: Insertable<Database['event_webhook_events']>): Promise<void> {
    await this.sql.db.insertInto('event_webhook_events').values(row).execute();
  }

  async claimEvents(owner: string, now: number, leaseUntil: number, limit: number): Promise<EventWebhookRow[]> {
    const due = await this.sql.db
      .selectFrom('event_webhook_events')
      .select('id')
      .where('delivered_at', 'is', null)
      .where('run_at', '<=', now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .orderBy('run_at')
      .limit(limit)
      .execute();
    const out: EventWebhookRow[] = [];
    for (const { id } of due) {
      const r = await this.sql.db
        .updateTable('event_webhook_events')
        .set((eb) => ({ lease_owner: owner, lease_until: leaseUntil, attempts: eb('attempts', '+', 1) }))
        .where('id', '=', id)
        .where('delivered_at', 'is', null)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .returningAll()
        .executeTakeFirst();
      if (r) out.push(r);
    }
    return out;
  }

  async finishEvent(
    id: string,
    owner: string,
    set: { delivered_at: number | null; run_at: number; last_error_code: string | null },
  ): Promise<boolean> {
    const r = await this.sql.db
      .updateTable('event_webhook_events')
      .set({ ...set, lease_owner: null, lease_until: null })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  getEvent(id: string): Promise<EventWebhookRow | undefined> {
    return this.sql.db.selectFrom('event_webhook_events').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async patientsBySmsIndex(tenantId: string, indexes: readonly string[]): Promise<string[]> {
    if (!indexes.length) return [];
    const rows = await this.sql.db
      .selectFrom('contact_points')
      .select('patient_id')
      .distinct()
      .where('tenant_id', '=', tenantId)
      .where('system', '=', 'sms')
      .where('value_bidx', 'in', [...indexes])
      .orderBy('patient_id')
      .execute();
    return rows.map((r) => r.patient_id);
  }

  async smsOptedOut(tenantId: string, indexes: readonly string[]): Promise<boolean> {
    if (!indexes.length) return false;
    const rows = await this.sql.db
      .selectFrom('contact_points')
      .select('opted_out_at')
      .where('tenant_id', '=', tenantId)
      .where('system', '=', 'sms')
      .where('value_bidx', 'in', [...indexes])
      .execute();
    return rows.length > 0 && rows.every((r) => r.opted_out_at != null);
  }

  async seenInbound(tenantId: string, provider: string, messageId: string, since: number): Promise<boolean> {
    const row = await this.sql.db
      .selectFrom('inbound_sms_seen')
      .select('received_at')
      .where('tenant_id', '=', tenantId)
      .where('provider', '=', provider)
      .where('message_id', '=', messageId)
      .where('received_at', '>=', since)
      .executeTakeFirst();
    return row !== undefined;
  }

  async recordInbound(
    tenantId: string,
    provider: string,
    messageId: string,
    now: number,
    pruneBefore: number,
  ): Promise<void> {
    await this.sql.db.deleteFrom('inbound_sms_seen').where('received_at', '<', pruneBefore).execute();
    await this.sql.db
      .insertInto('inbound_sms_seen')
      .values({ tenant_id: tenantId, provider, message_id: messageId, received_at: now })
      .onConflict((oc) => oc.columns(['tenant_id', 'provider', 'message_id']).doNothing())
      .execute();
  }

  async deleteForPatient(tenantId: string, patientId: string, smsRefs: readonly string[] = []): Promise<void> {
    await this.sql.db
      .deleteFrom('event_webhook_events')
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .execute();
    if (smsRefs.length)
      await this.sql.db
        .deleteFrom('inbound_help_answers')
        .where('tenant_id', '=', tenantId)
        .where('address_ref', 'in', [...smsRefs])
        .execute();
    await this.sql.db
      .deleteFrom('reply_questions')
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .execute();
    await this.sql.db
      .deleteFrom('inbound_messages')
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .execute();
  }
}
