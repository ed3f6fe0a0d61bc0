import { sql, type Kysely } from 'kysely';
import { autoIncrementId, blob, isSqlite } from './column-types.js';

/**
 * Audit indexes without a global lock. Until now every transaction that appended audit entries took
 * its indexes from the counter row (`audit_log_state.appended_size`) just before COMMIT; on
 * PostgreSQL that row made every writer of every node wait for the previous one's COMMIT.
 *
 * - `seq`: insertion order (identity), the primary key. Existing rows get `seq = idx`.
 * - `idx`: the Merkle index (RFC 9162 leaf index + 1), now nullable and unique. PostgreSQL writers
 *   insert entries without one; the single integrator numbers them (audit-sequencing.ts). SQLite
 *   keeps assigning it at write time (one writer), so it is never NULL there except after an import.
 * - `xid`: PostgreSQL's id of the writing transaction (`xid8`, defaulting to `pg_current_xact_id()`),
 *   which tells the integrator when an entry can no longer be overtaken by one that commits later.
 *   Cleared once the entry is numbered. SQLite has the column (an integer, always NULL when written
 *   there) so both schemas and exports carry the same columns.
 * - `appended_size` now means the sequenced size: on PostgreSQL only the integrator moves it.
 * - `audit_patient` gains `idx`, so a patient's entries come in log order from the index alone
 *   (on SQLite the rowid is no longer the index).
 */
export async function up(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) {
    // SQLite cannot change a table's primary key: rebuild it, in one transaction (Kysely runs
    // SQLite migrations outside one), so a crash leaves either the old table or the new one.
    const cols = await sql<{ name: string }>`select name from pragma_table_info('audit_entries')`.execute(db);
    if (cols.rows.some((c) => c.name === 'seq')) return;
    await db.transaction().execute(async (trx) => {
      await autoIncrementId(
        trx.schema
          .createTable('audit_entries_009')
          .addColumn('idx', 'bigint', (c) => c.unique())
          .addColumn('tenant_id', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('patient_ref', 'text')
          .addColumn('entry', 'text', (c) => c.notNull())
          .addColumn('leaf_hash', blob(trx), (c) => c.notNull()),
        trx,
        'seq',
      )
        .addColumn('xid', 'bigint')
        .execute();
      await sql`insert into audit_entries_009 (seq, idx, tenant_id, at, action, actor, patient_ref, entry, leaf_hash)
                select idx, idx, tenant_id, at, action, actor, patient_ref, entry, leaf_hash from audit_entries order by idx`.execute(
        trx,
      );
      await trx.schema.dropTable('audit_entries').execute();
      await trx.schema.alterTable('audit_entries_009').renameTo('audit_entries').execute();
      await indexes(trx);
    });
    return;
  }

  // PostgreSQL: in place (the migration runs in one transaction).
  await sql`alter table audit_entries add column seq bigint`.execute(db);
  await sql`update audit_entries set seq = idx`.execute(db);
  await sql`alter table audit_entries alter column seq set not null`.execute(db);
  await sql`alter table audit_entries alter column seq add generated always as identity`.execute(db);
  await sql`select setval(pg_get_serial_sequence('audit_entries', 'seq'), coalesce(max(seq), 1), max(seq) is not null) from audit_entries`.execute(
    db,
  );
  await sql`alter table audit_entries drop constraint audit_entries_pkey`.execute(db);
  await sql`alter table audit_entries add constraint audit_entries_pkey primary key (seq)`.execute(db);
  await sql`alter table audit_entries alter column idx drop not null`.execute(db);
  await sql`alter table audit_entries add constraint audit_entries_idx_key unique (idx)`.execute(db);
  // Added without the default first: existing rows are numbered already and keep xid NULL.
  await sql`alter table audit_entries add column xid xid8`.execute(db);
  await sql`alter table audit_entries alter column xid set default pg_current_xact_id()`.execute(db);
  await db.schema.dropIndex('audit_patient').execute();
  await indexes(db);
}

async function indexes(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('audit_patient')
    .on('audit_entries')
    .columns(['tenant_id', 'patient_ref', 'idx'])
    .execute();
  // The integrator's work list: small (entries of the last moments), so a partial index.
  await db.schema
    .createIndex('audit_entries_pending')
    .on('audit_entries')
    .columns(['xid', 'seq'])
    .where(sql.ref('idx'), 'is', null)
    .execute();
}
