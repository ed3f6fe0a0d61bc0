import type { Kysely } from 'kysely';

/**
 * Inbound SMS replay protection and erasure of reply data. `inbound_sms_seen` keeps the provider
 * message ids of inbound texts already handled (Twilio's MessageSid), for a bounded time (pruned as
 * texts arrive), so a replayed signed webhook changes nothing. `event_webhook_events.patient_id`
 * ties a queued EHR event to the patient it is about, so erasure can delete it; existing rows are
 * filled in from the appointment their payload names, where that appointment still exists.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('inbound_sms_seen')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('inbound_sms_seen_pk', ['tenant_id', 'provider', 'message_id'])
    .execute();
  await db.schema.createIndex('inbound_sms_seen_received').on('inbound_sms_seen').column('received_at').execute();

  await db.schema.alterTable('event_webhook_events').addColumn('patient_id', 'text').execute();
  await db.schema
    .createIndex('event_webhook_events_patient')
    .on('event_webhook_events')
    .columns(['tenant_id', 'patient_id'])
    .execute();
  const rows = await db.selectFrom('event_webhook_events').select(['id', 'tenant_id', 'payload']).execute();
  for (const r of rows) {
    let appointmentId: unknown;
    try {
      appointmentId = JSON.parse(String(r.payload))?.data?.appointmentId;
    } catch {
      continue;
    }
    if (typeof appointmentId !== 'string') continue;
    const a = await db
      .selectFrom('appointments')
      .select('patient_id')
      .where('tenant_id', '=', r.tenant_id)
      .where('external_id', '=', appointmentId)
      .executeTakeFirst();
    if (a)
      await db.updateTable('event_webhook_events').set({ patient_id: a.patient_id }).where('id', '=', r.id).execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('event_webhook_events_patient').execute();
  await db.schema.alterTable('event_webhook_events').dropColumn('patient_id').execute();
  await db.schema.dropTable('inbound_sms_seen').execute();
}
