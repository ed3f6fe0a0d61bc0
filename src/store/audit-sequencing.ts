import { CompiledQuery, PostgresAdapter, sql, type Kysely, type Insertable, type RawBuilder } from 'kysely';
import type { Database } from './schema.js';

export type PendingAudit = Omit<Insertable<Database['audit_entries']>, 'idx'>;

const COLUMNS = ['tenant_id', 'at', 'action', 'actor', 'patient_ref', 'entry', 'leaf_hash'] as const;
/** Rows per INSERT: few enough for any bound-parameter limit, many enough that a command needs one. */
const SQLITE_CHUNK = 100;
const POSTGRES_CHUNK = 200;

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
export async function flushAuditEntries(db: Kysely<Database>, pending: PendingAudit[], sequencedByIntegrator = false): Promise<void> {
  if (!pending.length) return;
  const postgres = isPostgres(db);
  if (sequencedByIntegrator) {
    for (let i = 0; i < pending.length; i += POSTGRES_CHUNK) {
      const rows = pending.slice(i, i + POSTGRES_CHUNK);
      await db.executeQuery(CompiledQuery.raw(insertText(postgres, false, rows.length), params(rows)));
    }
    return;
  }
  const counter = await db.executeQuery<{ value: number | string }>(
    CompiledQuery.raw(postgres ? TAKE_INDEXES_PG : TAKE_INDEXES_SQLITE, [pending.length]),
  );
  // No counter row would number nothing: refuse to commit a command without its audit entries.
  if (!counter.rows.length) throw new Error('audit counter row missing: entries were not written');
  const first = Number(counter.rows[0].value) - pending.length + 1;
  for (let i = 0; i < pending.length; i += SQLITE_CHUNK) {
    const rows = pending.slice(i, i + SQLITE_CHUNK);
    await db.executeQuery(CompiledQuery.raw(insertText(postgres, true, rows.length), params(rows, first + i)));
  }
}

const TAKE_INDEXES_SQLITE = `update audit_log_state set value = value + ? where name = 'appended_size' returning value`;
const TAKE_INDEXES_PG = TAKE_INDEXES_SQLITE.replace('?', '$1');

const texts = new Map<string, string>();

/** `insert into audit_entries (…) values (…), …` for `n` rows; built once per shape. */
function insertText(postgres: boolean, withIdx: boolean, n: number): string {
  const key = `${postgres ? 'pg' : 'sqlite'}:${withIdx ? 'idx' : 'pending'}:${n}`;
  let text = texts.get(key);
  if (!text) {
    const cols = withIdx ? ['idx', ...COLUMNS] : [...COLUMNS];
    let p = 0;
    const ph = () => (postgres ? `$${++p}` : '?');
    const rows = Array.from({ length: n }, () => `(${cols.map(ph).join(', ')})`);
    text = `insert into audit_entries (${cols.join(', ')}) values ${rows.join(', ')}`;
    texts.set(key, text);
  }
  return text;
}

function params(rows: PendingAudit[], firstIdx?: number): unknown[] {
  const out: unknown[] = [];
  rows.forEach((r, i) => {
    if (firstIdx !== undefined) out.push(firstIdx + i);
    out.push(r.tenant_id, r.at, r.action, r.actor, r.patient_ref ?? null, r.entry, r.leaf_hash);
  });
  return out;
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
  return isPostgres(db) ? sql<boolean>`(xid is null or xid < pg_snapshot_xmin(pg_current_snapshot()))` : sql<boolean>`1 = 1`;
}

/**
 * Numbers up to `limit` eligible pending entries with the next gapless indexes, in SEQUENCING_ORDER,
 * and moves the sequenced size (`appended_size`) past them. The integrator's duty: the caller holds
 * its lock (`audit-integrate`) in the same transaction, so one numbering runs at a time.
 * Returns the sequenced size afterwards and how many entries were numbered.
 */
export async function sequencePending(db: Kysely<Database>, limit: number): Promise<{ size: number; added: number }> {
  const state = await sql<{ value: number | string }>`select value from audit_log_state where name = 'appended_size'`.execute(db);
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
