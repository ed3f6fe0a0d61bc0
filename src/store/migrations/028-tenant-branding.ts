import type { Kysely } from 'kysely';
import { blob } from './column-types.js';

/**
 * Per-tenant branding of the pages people see (sign-in, enrolment, the patient portal, the
 * console): the organisation's display name, its accent colour and a logo. One row per tenant, made
 * on its first change; a tenant without a row shows its tenant name and the default colour. The
 * logo is a small raster image (PNG, JPEG or WebP, checked by its magic bytes before it is stored).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('tenant_branding')
    .addColumn('tenant_id', 'text', (c) => c.notNull().primaryKey().references('tenants.id'))
    .addColumn('organisation_name', 'text')
    .addColumn('accent_color', 'text')
    .addColumn('logo', blob(db))
    .addColumn('logo_type', 'text')
    .addColumn('logo_sha256', 'text')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('tenant_branding').execute();
}
