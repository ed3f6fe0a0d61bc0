import type { Kysely } from 'kysely';

/**
 * The console's operations overview (GET /v1/ops/deliveries/stats, GET /v1/ops/dead-letters) reads a
 * tenant's deliveries by status and last change: counts per status, channel and time bucket over the
 * last hour, day or week, failures by error code, the dead letters newest first. One index,
 * (tenant_id, status, updated_at), serves them all as index range scans per status, so no request
 * reads the whole table.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('deliveries_tenant_status_updated')
    .on('deliveries')
    .columns(['tenant_id', 'status', 'updated_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('deliveries_tenant_status_updated').execute();
}
