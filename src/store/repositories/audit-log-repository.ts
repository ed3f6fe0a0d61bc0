import { sql, type Kysely, type NotNull } from 'kysely';
import type { Database } from '../schema.js';
import { isPostgres, sequencePending } from '../audit-sequencing.js';
import type { PortOf } from './port-of.js';

/**
 * Queries of the Merkle log. RFC 9162 leaf index = `audit_entries.idx - 1` (idx starts at 1 and has
 * no gaps). An entry is *pending* while its idx is NULL: on PostgreSQL writers leave it so and the
 * single integrator numbers entries in order (audit-sequencing.ts); on SQLite the writing
 * transaction numbers them. Everything here that reads by index sees numbered entries only.
 * Leaves are `audit_entries.leaf_hash`; `audit_nodes` holds the perfect subtrees above them (level >= 1).
 */
export type AuditLogRepository = PortOf<SqlAuditLogRepository>;

/** A numbered audit row as the verifier reads it: the leaf and the columns searches filter by. */
export type VerifiableEntry = Pick<
  Database['audit_entries'],
  'entry' | 'leaf_hash' | 'tenant_id' | 'at' | 'action' | 'actor' | 'patient_ref'
> & { idx: number };

export class SqlAuditLogRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Number of entries numbered so far (the tree size a checkpoint can cover once integrated). */
  async size(): Promise<number> {
    const r = await this.db
      .selectFrom('audit_log_state')
      .select('value')
      .where('name', '=', 'appended_size')
      .executeTakeFirst();
    return r ? Number(r.value) : 0;
  }

  /** Number of committed entries still waiting for an index. */
  async pendingCount(): Promise<number> {
    const r = await this.db
      .selectFrom('audit_entries')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('idx', 'is', null)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /**
   * Numbers up to `limit` pending entries that can no longer be overtaken (see `sequencePending`).
   * The integrator's step: call it in a transaction that holds the `audit-integrate` lock.
   */
  async sequence(limit: number): Promise<{ size: number; added: number }> {
    return sequencePending(this.db, limit);
  }

  /**
   * For tools that hold no store (`sealpost audit verify`): numbers every eligible pending entry,
   * in transactions that take the integrator's lock themselves. Returns the sequenced size.
   */
  async sequenceAll(batch = 10_000): Promise<number> {
    if (this.db.isTransaction) throw new Error('sequenceAll opens its own transactions');
    if (!(await this.pendingCount())) return this.size();
    for (;;) {
      const r = await this.db.transaction().execute(async (trx) => {
        // The same lock as the integrator's (`leases.lockExclusive('audit-integrate')`); SQLite has one writer.
        if (isPostgres(trx)) await sql`select pg_advisory_xact_lock(hashtext('audit-integrate'))`.execute(trx);
        return sequencePending(trx, batch);
      });
      if (r.added < batch) return r.size;
    }
  }

  /**
   * Read-your-writes for audit readers: numbers pending entries until every entry committed before
   * the call has its index, or `timeoutMs` passed (on PostgreSQL a writing transaction open anywhere
   * in the cluster holds numbering back until it ends). True when caught up; SQLite always is.
   */
  async catchUp(timeoutMs = 2_000): Promise<boolean> {
    const newest = await this.db
      .selectFrom('audit_entries')
      .select((eb) => eb.fn.max('seq').as('m'))
      .where('idx', 'is', null)
      .executeTakeFirst();
    if (newest?.m == null) return true;
    const until = Date.now() + timeoutMs;
    for (;;) {
      await this.sequenceAll();
      const left = await this.db
        .selectFrom('audit_entries')
        .select('seq')
        .where('idx', 'is', null)
        .where('seq', '<=', Number(newest.m))
        .limit(1)
        .executeTakeFirst();
      if (!left) return true;
      if (Date.now() > until) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async integratedSize(): Promise<number> {
    const r = await this.db
      .selectFrom('audit_log_state')
      .select('value')
      .where('name', '=', 'integrated_size')
      .executeTakeFirst();
    return r ? Number(r.value) : 0;
  }

  async setIntegratedSize(n: number): Promise<void> {
    await this.db
      .insertInto('audit_log_state')
      .values({ name: 'integrated_size', value: n })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value: n }))
      .execute();
  }

  /** Leaf hashes of leaves [from, from + limit), in order, with their stored index. */
  async leaves(from: number, limit: number): Promise<{ idx: number; leaf_hash: Uint8Array }[]> {
    return this.db
      .selectFrom('audit_entries')
      .select(['idx', 'leaf_hash'])
      .where('idx', '>', from)
      .orderBy('idx')
      .limit(limit)
      .$narrowType<{ idx: NotNull }>()
      .execute();
  }

  /**
   * Entries with their canonical text and the searchable columns copied from it (tenant, time,
   * action, actor, patient reference), for full verification.
   */
  async entries(afterIdx: number, limit: number): Promise<VerifiableEntry[]> {
    return this.db
      .selectFrom('audit_entries')
      .select(['idx', 'entry', 'leaf_hash', 'tenant_id', 'at', 'action', 'actor', 'patient_ref'])
      .where('idx', '>', afterIdx)
      .orderBy('idx')
      .limit(limit)
      .$narrowType<{ idx: NotNull }>()
      .execute();
  }

  /**
   * Entries of one action about one patient at one instant (numbered or still pending), e.g. the
   * creation entry of a notification, which the caller picks by its target. Uses the `audit_patient`
   * index; `patientRef` null (an entry about no patient, e.g. a messaging device's) the `audit_messaging` one.
   */
  async entriesAt(
    tenantId: string,
    patientRef: string | null,
    at: number,
    action: string,
  ): Promise<{ idx: number | null; entry: string }[]> {
    return this.db
      .selectFrom('audit_entries')
      .select(['idx', 'entry'])
      .where('tenant_id', '=', tenantId)
      .where('patient_ref', patientRef === null ? 'is' : '=', patientRef)
      .where('at', '=', at)
      .where('action', '=', action)
      .execute();
  }

  async entry(index: number) {
    return this.db
      .selectFrom('audit_entries')
      .select(['idx', 'entry', 'leaf_hash', 'at'])
      .where('idx', '=', index + 1)
      .$narrowType<{ idx: NotNull }>()
      .executeTakeFirst();
  }

  /** The hash of perfect subtree (level, index); level 0 is a leaf. */
  async node(level: number, index: number): Promise<Uint8Array | undefined> {
    if (level === 0) {
      const r = await this.db
        .selectFrom('audit_entries')
        .select('leaf_hash')
        .where('idx', '=', index + 1)
        .executeTakeFirst();
      return r?.leaf_hash;
    }
    const r = await this.db
      .selectFrom('audit_nodes')
      .select('hash')
      .where('level', '=', level)
      .where('idx', '=', index)
      .executeTakeFirst();
    return r?.hash;
  }

  /** Stored nodes of one level with index in [from, to), in order (verification compares them). */
  async nodesAt(level: number, from: number, to: number): Promise<{ idx: number; hash: Uint8Array }[]> {
    return this.db
      .selectFrom('audit_nodes')
      .select(['idx', 'hash'])
      .where('level', '=', level)
      .where('idx', '>=', from)
      .where('idx', '<', to)
      .orderBy('idx')
      .execute();
  }

  async putNodes(rows: { level: number; idx: number; hash: Uint8Array }[]): Promise<void> {
    // Chunked: SQLite limits bound parameters per statement.
    for (let i = 0; i < rows.length; i += 300) {
      await this.db
        .insertInto('audit_nodes')
        .values(rows.slice(i, i + 300))
        .onConflict((oc) => oc.columns(['level', 'idx']).doNothing())
        .execute();
    }
  }

  async insertCheckpoint(row: { size: number; root: Uint8Array; note: string; created_at: number }): Promise<void> {
    await this.db
      .insertInto('audit_checkpoints')
      .values(row)
      .onConflict((oc) => oc.column('size').doNothing())
      .execute();
  }

  async latestCheckpoint() {
    return this.db.selectFrom('audit_checkpoints').selectAll().orderBy('size', 'desc').limit(1).executeTakeFirst();
  }

  async checkpoints(afterSize: number, limit: number) {
    // afterSize -1 lists from the start (a checkpoint of the empty log has size 0).
    return this.db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('size', '>', afterSize)
      .orderBy('size')
      .limit(limit)
      .execute();
  }
}
