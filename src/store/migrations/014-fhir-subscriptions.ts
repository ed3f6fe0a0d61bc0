import type { Kysely } from 'kysely';
import { blob } from './column-types.js';

/**
 * FHIR Subscriptions (R5 Backport IG for R4, topic-based):
 * - `fhir_subscriptions`: one row per Subscription. What may carry a secret or PHI (the endpoint
 *   URL, the channel headers such as Authorization, the patient filter as given) is sealed in
 *   `data_ct` under the subscription's own data key (`data_keys` row `subscription:<id>`, so KEK
 *   rotation re-wraps it). What the event matcher needs in clear is not PHI: the topic, the
 *   status filter, the CommunicationRequest id filter, and the patient filter as a keyed blind index
 *   (`patient_ref`, the audit log's pseudonym). The delivery state (events counter, last event sent,
 *   consecutive failures, next attempt, lease) is the rest-hook worker's queue: one lease per
 *   subscription keeps its events in order and never sent twice at once.
 * - `fhir_subscription_events`: the events not yet delivered, numbered per subscription, written in
 *   the transaction of the change they report; ids only (focus and context references).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('fhir_subscriptions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('topic', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('patient_ref', 'text')
    .addColumn('status_filter', 'text')
    .addColumn('based_on', 'text')
    .addColumn('payload_content', 'text', (c) => c.notNull())
    .addColumn('heartbeat_seconds', 'integer')
    .addColumn('timeout_seconds', 'integer')
    .addColumn('max_count', 'integer', (c) => c.notNull())
    .addColumn('end_at', 'bigint')
    .addColumn('data_ct', blob(db), (c) => c.notNull())
    .addColumn('events_since_start', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('events_sent', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error_code', 'text')
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('last_sent_at', 'bigint')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'bigint')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('fhir_subscriptions_topic')
    .on('fhir_subscriptions')
    .columns(['tenant_id', 'topic', 'status'])
    .execute();
  await db.schema
    .createIndex('fhir_subscriptions_due')
    .on('fhir_subscriptions')
    .columns(['status', 'next_attempt_at'])
    .execute();

  await db.schema
    .createTable('fhir_subscription_events')
    .addColumn('subscription_id', 'text', (c) => c.notNull().references('fhir_subscriptions.id'))
    .addColumn('event_number', 'bigint', (c) => c.notNull())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('focus_type', 'text', (c) => c.notNull())
    .addColumn('focus_id', 'text', (c) => c.notNull())
    .addColumn('context', 'text', (c) => c.notNull())
    .addColumn('code', 'text', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('fhir_subscription_events_pk', ['subscription_id', 'event_number'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('fhir_subscription_events').execute();
  await db.schema.dropTable('fhir_subscriptions').execute();
}
