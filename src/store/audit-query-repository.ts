import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

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
  /** Only entries whose `idx` is greater (the cursor). */
  afterIdx?: number;
  limit: number;
}

/** Read queries over audit entries for people: event search and accounting of disclosures. */
export class AuditQueryRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Entries matching every given filter, in log order (ascending `idx`), at most `limit`.
   * With a patient filter the (tenant_id, patient_ref) index serves the query; the rowid order of
   * that index is the log order, so no sort step is needed on SQLite.
   */
  async search(f: AuditSearch): Promise<AuditEntryRow[]> {
    let q = this.db.selectFrom('audit_entries').select(['idx', 'entry', 'leaf_hash']).where('tenant_id', '=', f.tenantId);
    if (f.patientRef !== undefined) q = q.where('patient_ref', '=', f.patientRef);
    if (f.actor !== undefined) q = q.where('actor', '=', f.actor);
    if (f.action && 'exact' in f.action) q = q.where('action', '=', f.action.exact);
    if (f.action && 'prefix' in f.action) {
      // substr equality instead of LIKE: `_` (common in actions) is a LIKE wildcard, SQLite's LIKE
      // ignores case, and range comparisons depend on the collation on PostgreSQL.
      const prefix = f.action.prefix;
      q = q.where(sql<string>`substr(action, 1, ${prefix.length})`, '=', prefix);
    }
    if (f.actions) {
      if (!f.actions.length) return [];
      q = q.where('action', 'in', [...f.actions]);
    }
    if (f.fromMs !== undefined) q = q.where('at', '>=', f.fromMs);
    if (f.toMs !== undefined) q = q.where('at', '<', f.toMs);
    if (f.afterIdx !== undefined) q = q.where('idx', '>', f.afterIdx);
    const rows = await q.orderBy('idx').limit(f.limit).execute();
    return rows.map((r) => ({ idx: Number(r.idx), entry: r.entry, leafHash: r.leaf_hash }));
  }

  /**
   * Channel and provider of deliveries, for disclosure lines whose own audit entry names only the
   * delivery id (a portal read of a link sent before the report's window).
   */
  async deliveryChannels(tenantId: string, ids: string[]): Promise<{ id: string; channel: string; provider: string | null }[]> {
    if (!ids.length) return [];
    return this.db.selectFrom('deliveries').select(['id', 'channel', 'provider']).where('tenant_id', '=', tenantId).where('id', 'in', ids).execute();
  }
}
