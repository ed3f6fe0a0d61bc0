import type { Kysely } from 'kysely';
import { blob } from './column-types.js';

/**
 * FHIR CommunicationRequest, Communication and Consent:
 * - `consents`: the consent ledger, one row per decision (permit or deny) of a patient about one
 *   channel (`sms`, `email`, `webhook`) or every channel (`*`), with where it came from (`fhir`,
 *   `sms_keyword`, `api`), who recorded it and when. Rows are never updated: the latest record that
 *   covers a channel decides (core/consent-service.ts). No PHI: ids, codes and times.
 * - `notification_identifiers`: a CommunicationRequest's business identifiers, found by a keyed
 *   blind index of `system|value` (unique per tenant: a second create with the same identifier
 *   answers the first), the identifier itself sealed under the patient's data key (an order number
 *   or an MRN-like value is an identifier of the patient).
 * - indexes for the FHIR searches by patient (notifications, deliveries).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('consents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('patient_id', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('decision', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('recorded_by', 'text', (c) => c.notNull())
    .addColumn('recorded_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('consents_patient')
    .on('consents')
    .columns(['tenant_id', 'patient_id', 'recorded_at'])
    .execute();

  await db.schema
    .createTable('notification_identifiers')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('identifier_bidx', 'text', (c) => c.notNull())
    .addColumn('notification_id', 'text', (c) => c.notNull().references('notifications.id'))
    .addColumn('patient_id', 'text', (c) => c.notNull())
    .addColumn('identifier_ct', blob(db), (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('notification_identifiers_pk', ['tenant_id', 'identifier_bidx'])
    .execute();
  await db.schema
    .createIndex('notification_identifiers_notification')
    .on('notification_identifiers')
    .columns(['notification_id'])
    .execute();

  await db.schema
    .createIndex('notifications_patient')
    .on('notifications')
    .columns(['tenant_id', 'patient_id', 'created_at'])
    .execute();
  await db.schema
    .createIndex('deliveries_patient')
    .on('deliveries')
    .columns(['tenant_id', 'patient_id', 'created_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('deliveries_patient').execute();
  await db.schema.dropIndex('notifications_patient').execute();
  await db.schema.dropTable('notification_identifiers').execute();
  await db.schema.dropTable('consents').execute();
}
