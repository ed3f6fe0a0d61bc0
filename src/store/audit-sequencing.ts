import { sql, type Kysely, type Insertable } from 'kysely';
import type { Database } from './schema.js';

export type PendingAudit = Omit<Insertable<Database['audit_entries']>, 'idx'>;

/**
 * Writes a transaction's audit entries, taking their indexes from the counter row (which stays
 * locked until COMMIT, so it must be the transaction's last step).
 */
export async function flushAuditEntries(db: Kysely<Database>, pending: PendingAudit[], oneStatement = false): Promise<void> {
  if (!pending.length) return;
  if (oneStatement) return flushInOneStatement(db, pending);
  const r = await db
    .updateTable('audit_log_state')
    .set((eb) => ({ value: eb('value', '+', pending.length) }))
    .where('name', '=', 'appended_size')
    .returning('value')
    .executeTakeFirstOrThrow();
  const first = Number(r.value) - pending.length + 1;
  const rows = pending.map((p, i) => ({ ...p, idx: first + i }));
  // Chunked: SQLite limits bound parameters per statement.
  for (let i = 0; i < rows.length; i += 100) await db.insertInto('audit_entries').values(rows.slice(i, i + 100)).execute();
}

/**
 * PostgreSQL: the counter update and the inserts in one statement (a data-modifying CTE), so the
 * counter row is held for one round trip plus the COMMIT instead of two plus the COMMIT. Every
 * writer on every node queues on that row, so its hold time bounds the cluster's write rate.
 */
async function flushInOneStatement(db: Kysely<Database>, pending: PendingAudit[]): Promise<void> {
  const n = pending.length;
  const rows = sql.join(
    pending.map(
      (p, i) => sql`(${i + 1}::bigint, ${p.tenant_id}::text, ${p.at}::bigint, ${p.action}::text, ${p.actor}::text, ${p.patient_ref ?? null}::text, ${p.entry}::text, ${p.leaf_hash}::bytea)`,
    ),
  );
  const r = await sql`
    with c as (update audit_log_state set value = value + ${n} where name = 'appended_size' returning value)
    insert into audit_entries (idx, tenant_id, at, action, actor, patient_ref, entry, leaf_hash)
    select c.value - ${n} + v.ord, v.tenant_id, v.at, v.action, v.actor, v.patient_ref, v.entry, v.leaf_hash
    from c, (values ${rows}) as v (ord, tenant_id, at, action, actor, patient_ref, entry, leaf_hash)`.execute(db);
  // No counter row would insert nothing, silently: refuse to commit a command without its audit entries.
  if (Number(r.numAffectedRows ?? 0) !== n) throw new Error('audit counter row missing: entries were not written');
}
