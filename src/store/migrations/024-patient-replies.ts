import type { Kysely } from 'kysely';
import { blob } from './column-types.js';

/**
 * Two-way SMS replies. An appointment reminder that went out by SMS asks a question ("Reply C to
 * confirm, N if you cannot come"): `reply_questions` binds it to the number it went to, by a keyed
 * blind index (`address_ref`), never the number itself. The patient's answer lands on the
 * appointment (`patient_response`, `response_at`, `response_channel`). Texts that are no reply and no
 * keyword are kept sealed under the patient's data key (`inbound_messages`), one row per patient the
 * number belongs to; `inbound_help_answers` limits the HELP answer to one a day per number. Tenants'
 * reply codes are `reply_code_settings`. `event_webhook_events` is the durable queue of signed events
 * to the EHR's webhook (ids only), written in the transaction of their change and sent by a worker.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('appointments').addColumn('patient_response', 'text').execute();
  await db.schema.alterTable('appointments').addColumn('response_at', 'bigint').execute();
  await db.schema.alterTable('appointments').addColumn('response_channel', 'text').execute();

  await db.schema
    .createTable('reply_questions')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('address_ref', 'text', (c) => c.notNull())
    .addColumn('patient_id', 'text', (c) => c.notNull())
    .addColumn('appointment_id', 'text', (c) => c.notNull())
    .addColumn('notification_id', 'text', (c) => c.notNull())
    .addColumn('delivery_id', 'text', (c) => c.notNull())
    .addColumn('language', 'text', (c) => c.notNull())
    .addColumn('asked_at', 'bigint', (c) => c.notNull())
    .addColumn('answered_at', 'bigint')
    .addColumn('answer', 'text')
    .addPrimaryKeyConstraint('reply_questions_pk', ['tenant_id', 'id'])
    .execute();
  // The latest questions sent to a number; one question per delivery (its sent and delivered events).
  await db.schema
    .createIndex('reply_questions_address')
    .on('reply_questions')
    .columns(['tenant_id', 'address_ref', 'asked_at'])
    .execute();
  await db.schema
    .createIndex('reply_questions_delivery')
    .on('reply_questions')
    .columns(['tenant_id', 'delivery_id'])
    .unique()
    .execute();
  await db.schema
    .createIndex('reply_questions_patient')
    .on('reply_questions')
    .columns(['tenant_id', 'patient_id'])
    .execute();

  await db.schema
    .createTable('inbound_messages')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('patient_id', 'text', (c) => c.notNull())
    .addColumn('address_ref', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('body_ct', blob(db), (c) => c.notNull())
    /** How many patients the number belonged to when it arrived (a shared family phone: > 1). */
    .addColumn('patients_matched', 'integer', (c) => c.notNull())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('inbound_messages_pk', ['tenant_id', 'id'])
    .execute();
  await db.schema
    .createIndex('inbound_messages_patient')
    .on('inbound_messages')
    .columns(['tenant_id', 'patient_id', 'received_at'])
    .execute();

  await db.schema
    .createTable('inbound_help_answers')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('address_ref', 'text', (c) => c.notNull())
    .addColumn('answered_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('inbound_help_answers_pk', ['tenant_id', 'address_ref'])
    .execute();

  await db.schema
    .createTable('reply_code_settings')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey())
    .addColumn('confirm_code', 'text', (c) => c.notNull())
    .addColumn('decline_code', 'text', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('event_webhook_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('run_at', 'bigint', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'bigint')
    .addColumn('delivered_at', 'bigint')
    .addColumn('last_error_code', 'text')
    .execute();
  await db.schema
    .createIndex('event_webhook_events_due')
    .on('event_webhook_events')
    .columns(['delivered_at', 'run_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'event_webhook_events',
    'reply_code_settings',
    'inbound_help_answers',
    'inbound_messages',
    'reply_questions',
  ])
    await db.schema.dropTable(t).execute();
  for (const c of ['response_channel', 'response_at', 'patient_response'])
    await db.schema.alterTable('appointments').dropColumn(c).execute();
}
