import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { eligibleForSequencing, SEQUENCING_ORDER } from '../audit-sequencing.js';
import type { PortOf } from './port-of.js';

/** One stored audit entry as the query side reads it back: its log index, canonical JSON and leaf hash. */
export interface AuditEntryRow {
  idx: number;
  entry: string;
  leafHash: Uint8Array;
}

/**
 * Filters of an audit search. Every bound is optional except the tenant; `action` is either an exact
 * action or a dotted prefix (`delivery.` matches `delivery.sent`, never `deliveryx`).
 */
export interface AuditSearch {
  tenantId: string;
  /** Pseudonymous patient reference (the keyed hash), never the caller's patient id. */
  patientRef?: string;
  actor?: string;
  action?: { exact: string } | { prefix: string };
  /** Further restricts to one of these exact actions (disclosure reports). */
  actions?: readonly string[];
  /** Inclusive lower bound, epoch milliseconds. */
  fromMs?: number;
  /** Exclusive upper bound, epoch milliseconds. */
  toMs?: number;
  /** Only entries whose `idx` is greater (the cursor: the log index is stable, see `search`). */
  afterIdx?: number;
  limit: number;
}

/** Read queries over audit entries for people: event search and accounting of disclosures. */
export type AuditQueryRepository = PortOf<SqlAuditQueryRepository>;

export class SqlAuditQueryRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Entries matching every given filter, in log order (ascending `idx`), at most `limit`.
   *
   * The cursor is the log index, which is stable: the integrator only ever gives indexes above every
   * index already given, so a caller paging by index never skips an entry. Entries not yet numbered
   * (PostgreSQL, between COMMIT and the integrator's next run) are found too, with the index they
   * will get: the integrator numbers eligible entries in an order that fixes that index already
   * (audit-sequencing.ts). An entry committed while an older transaction is still open has no place
   * in the order yet; it is listed once that transaction ends.
   *
   * With a patient filter the (tenant_id, patient_ref, idx) index serves the numbered part in order.
   * Both parts are one statement, so they come from one snapshot: an entry numbered meanwhile is
   * listed once, not twice or never.
   */
  async search(f: AuditSearch): Promise<AuditEntryRow[]> {
    if (f.actions && !f.actions.length) return [];
    const filters = [sql`tenant_id = ${f.tenantId}`];
    if (f.patientRef !== undefined) filters.push(sql`patient_ref = ${f.patientRef}`);
    if (f.actor !== undefined) filters.push(sql`actor = ${f.actor}`);
    if (f.action && 'exact' in f.action) filters.push(sql`action = ${f.action.exact}`);
    if (f.action && 'prefix' in f.action) {
      // substr equality instead of LIKE: `_` (common in actions) is a LIKE wildcard, SQLite's LIKE
      // ignores case, and range comparisons depend on the collation on PostgreSQL.
      const prefix = f.action.prefix;
      filters.push(sql`substr(action, 1, ${prefix.length}) = ${prefix}`);
    }
    if (f.actions) filters.push(sql`action in (${sql.join([...f.actions])})`);
    if (f.fromMs !== undefined) filters.push(sql`at >= ${f.fromMs}`);
    if (f.toMs !== undefined) filters.push(sql`at < ${f.toMs}`);
    const where = sql.join(filters, sql` and `);
    const after = f.afterIdx ?? 0;
    const rows = await sql<{ idx: number | string; entry: string; leaf_hash: Uint8Array }>`
      select idx, entry, leaf_hash from (
        select * from (
          select idx, entry, leaf_hash from audit_entries where idx > ${after} and ${where} order by idx limit ${f.limit}
        ) as numbered
        union all
        select * from (
          select pidx as idx, entry, leaf_hash from (
            select (select value from audit_log_state where name = 'appended_size') + row_number() over (order by ${SEQUENCING_ORDER}) as pidx,
                   tenant_id, at, action, actor, patient_ref, entry, leaf_hash
            from audit_entries where idx is null and ${eligibleForSequencing(this.db)}
          ) as p
          where pidx > ${after} and ${where} order by pidx limit ${f.limit}
        ) as pending
      ) as u
      order by idx limit ${f.limit}`.execute(this.db);
    return rows.rows.map((r) => ({ idx: Number(r.idx), entry: r.entry, leafHash: r.leaf_hash }));
  }

  /**
   * One page of the entries a breach investigation report covers (audit/privacy/access-report.ts):
   * numbered entries of the tenant with `fromMs <= at < toMs` and `afterIdx < idx <= maxIdx`, in log
   * order, narrowed by an actor, by an actor OR a text in the canonical entry (`like`: the caller
   * escapes it with `\`), by patient references, or by the text alone. The text is a pre-filter; the
   * caller checks the parsed entry exactly. Without an actor index this scans the window's rows.
   */
  async reportEntries(q: {
    tenantId: string;
    fromMs: number;
    toMs: number;
    afterIdx: number;
    maxIdx: number;
    actor?: string;
    like?: string;
    patientRefs?: readonly string[];
    limit: number;
  }): Promise<AuditEntryRow[]> {
    const filters = [
      sql`tenant_id = ${q.tenantId}`,
      sql`idx > ${q.afterIdx}`,
      sql`idx <= ${q.maxIdx}`,
      sql`at >= ${q.fromMs}`,
      sql`at < ${q.toMs}`,
    ];
    if (q.actor !== undefined && q.like !== undefined)
      filters.push(sql`(actor = ${q.actor} or entry like ${q.like} escape '\\')`);
    else if (q.actor !== undefined) filters.push(sql`actor = ${q.actor}`);
    else if (q.like !== undefined) filters.push(sql`entry like ${q.like} escape '\\'`);
    if (q.patientRefs)
      filters.push(q.patientRefs.length ? sql`patient_ref in (${sql.join([...q.patientRefs])})` : sql`1 = 0`);
    const rows = await sql<{ idx: number | string; entry: string; leaf_hash: Uint8Array }>`
      select idx, entry, leaf_hash from audit_entries where ${sql.join(filters, sql` and `)} order by idx limit ${q.limit}`.execute(
      this.db,
    );
    return rows.rows.map((r) => ({ idx: Number(r.idx), entry: r.entry, leafHash: r.leaf_hash }));
  }

  /** Every patient id of the tenant (to map pseudonymous references back; erased patients have no row). */
  async patientIds(tenantId: string): Promise<string[]> {
    const rows = await this.db.selectFrom('patients').select('id').where('tenant_id', '=', tenantId).execute();
    return rows.map((r) => r.id);
  }

  /** Which of these patient references belong to erased patients (the erasures' tombstones). */
  async erasedRefs(tenantId: string, refs: readonly string[]): Promise<string[]> {
    const out = new Set<string>();
    for (let i = 0; i < refs.length; i += 500) {
      const rows = await this.db
        .selectFrom('erasures')
        .select('patient_ref')
        .where('tenant_id', '=', tenantId)
        .where('patient_ref', 'in', refs.slice(i, i + 500))
        .execute();
      for (const r of rows) out.add(r.patient_ref);
    }
    return [...out];
  }

  /** The notification type of each of these notifications that still exists (ids only in, codes out). */
  async notificationTypes(tenantId: string, ids: readonly string[]): Promise<{ id: string; type: string }[]> {
    const out: { id: string; type: string }[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      out.push(
        ...(await this.db
          .selectFrom('notifications')
          .select(['id', 'type'])
          .where('tenant_id', '=', tenantId)
          .where('id', 'in', ids.slice(i, i + 500))
          .execute()),
      );
    }
    return out;
  }

  /**
   * Channel and provider of deliveries, for disclosure lines whose own audit entry names only the
   * delivery id (a portal read of a link sent before the report's window).
   */
  async deliveryChannels(
    tenantId: string,
    ids: string[],
  ): Promise<{ id: string; channel: string; provider: string | null }[]> {
    if (!ids.length) return [];
    return this.db
      .selectFrom('deliveries')
      .select(['id', 'channel', 'provider'])
      .where('tenant_id', '=', tenantId)
      .where('id', 'in', ids)
      .execute();
  }
}
