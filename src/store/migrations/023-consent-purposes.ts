import type { Kysely } from 'kysely';

/**
 * The consent ledger per channel and purpose (docs/consent.md):
 * - `consents.purpose`: what the decision is about (appointment, results, medication, billing,
 *   care_messages, alerts) or every purpose (`*`, which every earlier record was about).
 *   `consents.source` gains portal, hl7 and staff (text: no schema change).
 * - `consent_settings`: a tenant's SMS keywords (opt-out, opt-in, help) and the answers sent back,
 *   as JSON (codes and short PHI-free texts). No row: the defaults of core/consent-keywords.ts.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('consents')
    .addColumn('purpose', 'text', (c) => c.notNull().defaultTo('*'))
    .execute();
  await db.schema
    .createTable('consent_settings')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id'))
    .addColumn('settings', 'text', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('consent_settings').execute();
  await db.schema.alterTable('consents').dropColumn('purpose').execute();
}
