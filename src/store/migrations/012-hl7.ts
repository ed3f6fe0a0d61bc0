import { sql, type Kysely } from 'kysely';
import { blob } from './column-types.js';

/**
 * HL7 v2 over MLLP (src/ehr/hl7-apply): registered senders, every message received from them and the
 * orders whose results were announced.
 *
 * - `hl7_senders`: who may send (MSH-3 application, MSH-4 facility), the tenant it writes to, how its
 *   patients are identified, the zone of its offset-less time stamps, an optional client certificate
 *   (SHA-256 of the DER) and per-test result holds (JSON). At most one active sender per (tenant, app, facility): two tenants may
 *   register the same pair; a message is routed by the pair and the connection's client certificate.
 * - `hl7_messages`: one row per accepted message. The raw text is PHI: `raw_ct` is AES-256-GCM under a
 *   data key of its own (`data_keys` row `hl7:<id>`, re-wrapped by KEK rotation like every other);
 *   erasing the patient the message was applied to deletes both. `(sender_id, control_id)` is unique:
 *   a message sent again is recognised and acknowledged with its first code (`control_id` is a keyed hash
 *   of MSH-10, never the caller's text; `message_type` is `TYPE^TRG` or `invalid`). `status` is applied,
 *   ignored, error (the error queue), replayed or discarded; the error columns say why, never with content.
 *   `patient_id` is the patient the message's PID resolved to (applied, ignored or queued);
 *   `patient_bidx` is the blind index of the message's patient identifier (the same index as
 *   `patient_identifiers.lookup_bidx`): it orders replays per patient and lets erasure forget the
 *   messages of a patient Sealpost did not know yet when they arrived.
 * - `hl7_result_orders`: orders (keyed hash of the sender and OBR-3) whose final result was announced,
 *   so a corrected result does not notify twice.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const b = blob(db);
  await db.schema
    .createTable('hl7_senders')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('app', 'text', (c) => c.notNull())
    .addColumn('facility', 'text', (c) => c.notNull())
    .addColumn('patient_id_authority', 'text')
    .addColumn('time_zone', 'text', (c) => c.notNull())
    .addColumn('phone_region', 'text', (c) => c.notNull())
    .addColumn('cert_sha256', 'text')
    .addColumn('result_holds', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('removed_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('hl7_senders_active')
    .on('hl7_senders')
    .columns(['tenant_id', 'app', 'facility'])
    .unique()
    .where(sql.ref('removed_at'), 'is', null)
    .execute();

  await db.schema
    .createTable('hl7_messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('sender_id', 'text', (c) => c.notNull().references('hl7_senders.id'))
    .addColumn('control_id', 'text', (c) => c.notNull())
    .addColumn('message_type', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('ack_code', 'text', (c) => c.notNull())
    .addColumn('error_code', 'text')
    .addColumn('error_hl7_code', 'text')
    .addColumn('error_segment', 'text')
    .addColumn('error_sequence', 'integer')
    .addColumn('error_field', 'integer')
    .addColumn('patient_id', 'text')
    .addColumn('patient_bidx', 'text')
    .addColumn('raw_ct', b)
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('hl7_messages_control')
    .on('hl7_messages')
    .columns(['sender_id', 'control_id'])
    .unique()
    .execute();
  await db.schema.createIndex('hl7_messages_status').on('hl7_messages').columns(['tenant_id', 'status']).execute();
  await db.schema.createIndex('hl7_messages_patient').on('hl7_messages').columns(['tenant_id', 'patient_id']).execute();

  await db.schema
    .createTable('hl7_result_orders')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('order_bidx', 'text', (c) => c.notNull())
    .addColumn('notification_id', 'text')
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('hl7_result_orders_pk', ['tenant_id', 'order_bidx'])
    .execute();
}
