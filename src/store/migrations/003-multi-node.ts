import { sql, type Kysely } from 'kysely';

/**
 * What several nodes on one database need:
 * - `audit_log_state.appended_size`: the audit counter. Each transaction that appends audit entries
 *   takes its indexes from it just before COMMIT, so indexes have no gaps and become visible in order
 *   on every backend.
 * - `leases`: named, expiring leases, so background duties (audit integration and checkpoints) run on
 *   one node at a time and move to another when that node dies.
 * - `settings`: installation facts, such as the fingerprint of the keyring this database was written
 *   with (a node holding another keyring refuses to start instead of writing unreadable data).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`insert into audit_log_state (name, value) select 'appended_size', coalesce(max(idx), 0) from audit_entries`.execute(
    db,
  );

  await db.schema
    .createTable('leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('until', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('settings')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();
}
