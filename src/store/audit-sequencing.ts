import { PostgresAdapter, sql, type Kysely, type Insertable, type RawBuilder } from 'kysely';
import { KyselySql, insertRows, stmt, type Sql } from './sql.js';
import type { Database } from './schema.js';

export type PendingAudit = Omit<Insertable<Database['audit_entries']>, 'idx'>;

/** The columns of an audit entry as its writer inserts it (no index: see flushAuditEntries). */
export const AUDIT_COLUMNS = ['tenant_id', 'at', 'action', 'actor', 'patient_ref', 'entry', 'leaf_hash'] as const;
const COLUMNS = AUDIT_COLUMNS;
const NUMBERED = ['idx', ...COLUMNS] as const;
const TAKE_INDEXES = stmt(`update audit_log_state set value = value + ? where name = 'appended_size' returning value`);

/**
 * Writes a transaction's audit entries; call it as the transaction's last step.
 *
 * - `sequencedByIntegrator` (PostgreSQL): the entries are inserted without an index, one multi-row
 *   INSERT, touching no shared row: `seq` (identity) and `xid` (the writing transaction,
 *   `pg_current_xact_id()`) come from column defaults. The single integrator numbers them later
 *   (`sequencePending`), so concurrent writers on any number of nodes never wait for each other.
 * - otherwise (SQLite, one writer): the indexes are taken from the counter row
 *   (`audit_log_state.appended_size`) and written with the entries, so no entry is ever pending.
 */
export async function flushAuditEntries(
  db: Kysely<Database> | Sql,
  pending: PendingAudit[],
  sequencedByIntegrator = false,
): Promise<void> {
  if (!pending.length) return;
  const q = 'run' in db ? db : new KyselySql(db, isPostgres(db) ? 'postgres' : 'sqlite');
  if (sequencedByIntegrator) return insertRows(q, 'audit_entries', COLUMNS, pending);
  const counter = await q.get<{ value: number | string }>(TAKE_INDEXES, [pending.length]);
  // No counter row would number nothing: refuse to commit a command without its audit entries.
  if (!counter) throw new Error('audit counter row missing: entries were not written');
  const first = Number(counter.value) - pending.length + 1;
  await insertRows(
    q,
    'audit_entries',
    NUMBERED,
    pending.map((p, i) => ({ ...p, idx: first + i })),
  );
}

export function isPostgres(db: Kysely<Database>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * The order in which pending entries are numbered: by writing transaction, then by insertion.
 * Every entry sequenced by one run has an xid below that run's horizon, and every entry that
 * becomes eligible later has an xid at or above it, so numbering in this order makes the whole log
 * ordered by (xid, seq): a transaction's entries stay contiguous, a transaction that committed
 * before another began (and so took a smaller xid) comes first, and the index an eligible entry
 * will get is already fixed (which lets a search show pending entries with their final index).
 * NULL xids (entries imported from elsewhere, see transfer) count as old, first on both backends.
 */
export const SEQUENCING_ORDER: RawBuilder<unknown> = sql`xid nulls first, seq`;

/**
 * Which pending entries (idx NULL) may be numbered now. PostgreSQL: those whose transaction id is
 * below the xmin of the statement's snapshot. Every transaction that can still commit has an xid at
 * or above that horizon, so an entry committing late can never need an index below one already
 * given. SQLite has one writer and assigns indexes at write time: any pending entry there came from
 * an import and is committed.
 */
export function eligibleForSequencing(db: Kysely<Database>): RawBuilder<boolean> {
  return isPostgres(db)
    ? sql<boolean>`(xid is null or xid < pg_snapshot_xmin(pg_current_snapshot()))`
    : sql<boolean>`1 = 1`;
}

/**
 * Numbers up to `limit` eligible pending entries with the next gapless indexes, in SEQUENCING_ORDER,
 * and moves the sequenced size (`appended_size`) past them. The integrator's duty: the caller holds
 * its lock (`audit-integrate`) in the same transaction, so one numbering runs at a time.
 * Returns the sequenced size afterwards and how many entries were numbered.
 */
export async function sequencePending(db: Kysely<Database>, limit: number): Promise<{ size: number; added: number }> {
  const state = await sql<{
    value: number | string;
  }>`select value from audit_log_state where name = 'appended_size'`.execute(db);
  if (!state.rows.length) throw new Error('audit counter row missing: entries cannot be sequenced');
  const size = Number(state.rows[0].value);
  // One statement, so eligibility and visibility come from one snapshot. Writers never update audit
  // rows, so nothing else changes these rows meanwhile. The transaction id is dropped once it has
  // served: it means nothing outside this cluster (see transfer) and the order is now in idx.
  const r = await sql`
    update audit_entries set idx = ${size} + p.n, xid = null
    from (
      select seq, row_number() over (order by ${SEQUENCING_ORDER}) as n from audit_entries
      where idx is null and ${eligibleForSequencing(db)}
      order by ${SEQUENCING_ORDER} limit ${limit}
    ) as p
    where audit_entries.seq = p.seq`.execute(db);
  const added = Number(r.numAffectedRows ?? 0);
  if (added) await sql`update audit_log_state set value = ${size + added} where name = 'appended_size'`.execute(db);
  return { size: size + added, added };
}
