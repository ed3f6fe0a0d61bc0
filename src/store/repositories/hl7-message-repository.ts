import type { Insertable, Selectable, Updateable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';

export type Hl7MessageRow = Selectable<Database['hl7_messages']>;
/** A message without its ciphertext: what listings and duplicate checks need. */
export type Hl7MessageSummary = Omit<Hl7MessageRow, 'raw_ct'>;

const SUMMARY = [
  'id',
  'tenant_id',
  'sender_id',
  'control_id',
  'message_type',
  'status',
  'ack_code',
  'error_code',
  'error_hl7_code',
  'error_segment',
  'error_sequence',
  'error_field',
  'patient_id',
  'patient_bidx',
  'received_at',
  'updated_at',
] as const;

/**
 * HL7 v2 messages received from registered senders (raw text sealed under a per-message data key),
 * their outcome and the error queue (`status = 'error'`). Also the orders whose results were announced.
 */
export interface Hl7MessageRepository {
  /** Inserts a message; rejects (unique violation) when the sender already sent this control id. */
  insert(row: Insertable<Database['hl7_messages']>): Promise<void>;
  /** The message this sender sent with this MSH-10, without its ciphertext. */
  findByControlId(senderId: string, controlId: string): Promise<Hl7MessageSummary | undefined>;
  /** One message of the tenant, with its ciphertext. */
  get(tenantId: string, id: string): Promise<Hl7MessageRow | undefined>;
  update(tenantId: string, id: string, set: Updateable<Database['hl7_messages']>): Promise<void>;
  /** The tenant's messages in `status`, oldest first, after the cursor (received_at, id). */
  list(
    tenantId: string,
    status: string,
    limit: number,
    after?: { receivedAt: number; id: string },
  ): Promise<Hl7MessageSummary[]>;
  /**
   * Queued errors of the same sender and patient received before this one (the replay order rule);
   * oldest first.
   */
  olderErrors(tenantId: string, m: Hl7MessageSummary): Promise<Hl7MessageSummary[]>;
  /** A merge (A40): messages applied to the retired patient now belong to the survivor (so erasing it forgets them). */
  reassignPatient(tenantId: string, fromPatientId: string, toPatientId: string): Promise<void>;
  /**
   * Erasure (before the patient's identifiers are tombstoned): forgets the raw text and data key of
   * every message of this patient: those stored with its id, and those whose identifier index
   * (`patient_bidx`) is one of the patient's identifiers' (received while it was unknown). Returns their ids.
   */
  forgetPatient(tenantId: string, patientId: string): Promise<string[]>;
  /** Whether an announcement was already made for this order (keyed hash). */
  orderAnnounced(tenantId: string, orderBidx: string): Promise<boolean>;
  recordOrder(row: Insertable<Database['hl7_result_orders']>): Promise<void>;
}

export class SqlHl7MessageRepository implements Hl7MessageRepository {
  constructor(private readonly sql: Sql) {}

  async insert(row: Insertable<Database['hl7_messages']>): Promise<void> {
    await this.sql.db.insertInto('hl7_messages').values(row).execute();
  }

  findByControlId(senderId: string, controlId: string) {
    return this.sql.db
      .selectFrom('hl7_messages')
      .select(SUMMARY)
      .where('sender_id', '=', senderId)
      .where('control_id', '=', controlId)
      .executeTakeFirst();
  }

  get(tenantId: string, id: string) {
    return this.sql.db
      .selectFrom('hl7_messages')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async update(tenantId: string, id: string, set: Updateable<Database['hl7_messages']>): Promise<void> {
    await this.sql.db
      .updateTable('hl7_messages')
      .set(set)
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .execute();
  }

  list(tenantId: string, status: string, limit: number, after?: { receivedAt: number; id: string }) {
    let q = this.sql.db
      .selectFrom('hl7_messages')
      .select(SUMMARY)
      .where('tenant_id', '=', tenantId)
      .where('status', '=', status);
    if (after)
      q = q.where((eb) =>
        eb.or([
          eb('received_at', '>', after.receivedAt),
          eb.and([eb('received_at', '=', after.receivedAt), eb('id', '>', after.id)]),
        ]),
      );
    return q.orderBy('received_at').orderBy('id').limit(limit).execute();
  }

  olderErrors(tenantId: string, m: Hl7MessageSummary) {
    let q = this.sql.db
      .selectFrom('hl7_messages')
      .select(SUMMARY)
      .where('tenant_id', '=', tenantId)
      .where('sender_id', '=', m.sender_id)
      .where('status', '=', 'error')
      .where('id', '!=', m.id)
      .where((eb) =>
        eb.or([
          eb('received_at', '<', Number(m.received_at)),
          eb.and([eb('received_at', '=', Number(m.received_at)), eb('id', '<', m.id)]),
        ]),
      );
    // A message with no patient identifier blocks, and is blocked by, every older one of its sender.
    if (m.patient_bidx !== null)
      q = q.where((eb) => eb.or([eb('patient_bidx', '=', m.patient_bidx), eb('patient_bidx', 'is', null)]));
    return q.orderBy('received_at').orderBy('id').execute();
  }

  async reassignPatient(tenantId: string, fromPatientId: string, toPatientId: string): Promise<void> {
    await this.sql.db
      .updateTable('hl7_messages')
      .set({ patient_id: toPatientId })
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', fromPatientId)
      .execute();
  }

  async forgetPatient(tenantId: string, patientId: string): Promise<string[]> {
    // Called before the patient's identifiers become tombstones: their live indexes still name them.
    const indexes = this.sql.db
      .selectFrom('patient_identifiers')
      .select('lookup_bidx')
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId);
    const rows = await this.sql.db
      .updateTable('hl7_messages')
      .set({ raw_ct: null })
      .where('tenant_id', '=', tenantId)
      .where((eb) =>
        eb.or([
          eb('patient_id', '=', patientId),
          // Messages that arrived while the patient was unknown (their PID did not resolve).
          eb.and([eb('patient_id', 'is', null), eb('patient_bidx', 'in', indexes)]),
        ]),
      )
      .returning('id')
      .execute();
    const ids = rows.map((r) => r.id);
    for (let i = 0; i < ids.length; i += 500)
      await this.sql.db
        .deleteFrom('data_keys')
        .where('tenant_id', '=', tenantId)
        .where(
          'patient_id',
          'in',
          ids.slice(i, i + 500).map((id) => `hl7:${id}`),
        )
        .execute();
    return ids;
  }

  async orderAnnounced(tenantId: string, orderBidx: string): Promise<boolean> {
    const r = await this.sql.db
      .selectFrom('hl7_result_orders')
      .select('order_bidx')
      .where('tenant_id', '=', tenantId)
      .where('order_bidx', '=', orderBidx)
      .executeTakeFirst();
    return r !== undefined;
  }

  async recordOrder(row: Insertable<Database['hl7_result_orders']>): Promise<void> {
    await this.sql.db.insertInto('hl7_result_orders').values(row).execute();
  }
}
