import { timingSafeEqual } from 'node:crypto';
import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientRef } from './context.js';
import { AppError } from './errors.js';
import { aggregateStatus } from './notification-service.js';
import { parseAuditRow } from './audit-query-service.js';
import type { NotificationRow, PagePosition } from '../store/repositories/notification-repository.js';
import type { StoredAuditEntry } from '../audit/fhir-audit-event.js';

/** One line of a notification search: identifiers, type and status only (never content). */
export interface NotificationListItem {
  id: string;
  type: string;
  priority: string;
  status: string;
  patientId: string;
  channels: string[];
  sendAt: string;
  createdAt: string;
}

export interface NotificationFilter {
  patientId?: string;
  type?: string;
  status?: string;
  /** Inclusive lower bound of creation, epoch ms. */
  fromMs?: number;
  /** Exclusive upper bound of creation, epoch ms. */
  toMs?: number;
  limit: number;
  cursor?: string;
}

/**
 * Who is searching, as the route decided it from the caller's permissions and relationship
 * (auth/patient-access.ts); core applies it in SQL so a row the caller could not open by id is
 * never read, listed, or named by a cursor.
 */
export interface SearchScope {
  /** The caller's principal id: a cursor is bound to it. */
  principalId: string;
  /** The types the caller may read (undefined: every type, systems). */
  types?: readonly string[];
  /** Only patients on this user's care team (physicians and nurses without a named patient). */
  careTeamOf?: string;
  /** Nothing may be listed (a named patient outside the relationship): an empty page, still audited. */
  none?: boolean;
}

/** How many rows one request reads at most while filtering on status: a sparse match answers a short page and a cursor. */
const SCAN_FACTOR = 10;
const TAG_BYTES = 16;

const iso = (ms: number | null) => (ms == null ? null : new Date(Number(ms)).toISOString());

/** The search's filter without position and page size, canonical: what a cursor and the audit entry are bound to. */
function filterText(f: NotificationFilter): string {
  return JSON.stringify([f.patientId ?? null, f.type ?? null, f.status ?? null, f.fromMs ?? null, f.toMs ?? null]);
}

/** Searching notifications for the console and integrations, and one notification's audit trail. */
export class NotificationSearch {
  constructor(private readonly deps: CoreDeps) {}

  /** Keyed hash of a search's filter (stable reference key): audit entries name it, never the filter's patient id. */
  filterHash(tenantId: string, f: NotificationFilter): string {
    return this.deps.cipher.blindIndex(tenantId, 'notification.search.filter', filterText(f)).slice(0, 32);
  }

  /**
   * A cursor is sealed: an HMAC (the keyring's stable reference key, via the blind index) over the
   * position, the principal and the filter, so a client cannot forge a position, replay another
   * caller's cursor or carry one over to another filter. It names only rows the caller could open.
   */
  encodeCursor(tenantId: string, scope: SearchScope, f: NotificationFilter, p: PagePosition): string {
    const body = Buffer.from(`${p.createdAt}:${p.id}`, 'utf8');
    return Buffer.concat([this.cursorTag(tenantId, scope, f, body), body]).toString('base64url');
  }

  decodeCursor(tenantId: string, scope: SearchScope, f: NotificationFilter, c: string): PagePosition {
    const raw = Buffer.from(c, 'base64url');
    const tag = raw.subarray(0, TAG_BYTES);
    const body = raw.subarray(TAG_BYTES);
    const m = /^(\d{1,15}):(.{1,128})$/s.exec(body.toString('utf8'));
    if (!m || tag.length !== TAG_BYTES || !timingSafeEqual(tag, this.cursorTag(tenantId, scope, f, body)))
      throw new AppError('SP_REQ_CURSOR_INVALID');
    return { createdAt: Number(m[1]), id: m[2]! };
  }

  private cursorTag(tenantId: string, scope: SearchScope, f: NotificationFilter, body: Buffer): Buffer {
    const text = JSON.stringify([scope.principalId, filterText(f), body.toString('base64url')]);
    return Buffer.from(this.deps.cipher.blindIndex(tenantId, 'notification.search.cursor', text), 'hex').subarray(
      0,
      TAG_BYTES,
    );
  }

  /**
   * Newest first. Patient, type, the caller's readable types, the care team and erased tombstones
   * are filtered in SQL; status (derived from the deliveries) as rows are read, so a page may come
   * back shorter than `limit` with a `nextCursor` when many rows did not match, and one request
   * never reads the whole tenant. Every row scanned is one the caller may open, so the cursor (the
   * last row scanned) never names a notification hidden from them.
   */
  async list(
    ctx: RequestContext,
    f: NotificationFilter,
    scope: SearchScope,
  ): Promise<{ items: NotificationListItem[]; nextCursor: string | null }> {
    const result = scope.none ? { items: [], nextCursor: null } : await this.scan(ctx, f, scope);
    // Patient id, type and time of a notification are PHI metadata (an appointment here): every
    // search is on the record, with a keyed hash of its filter, never the filter itself.
    const { store, clock } = this.deps;
    await store.transaction((tx) =>
      audit(tx, ctx, clock(), {
        action: 'notification.searched',
        targetType: 'notification',
        patientRef: f.patientId ? patientRef(this.deps, ctx.tenantId, f.patientId) : null,
        details: { filterHash: this.filterHash(ctx.tenantId, f), resultCount: result.items.length },
      }),
    );
    await store.durable();
    return result;
  }

  private async scan(
    ctx: RequestContext,
    f: NotificationFilter,
    scope: SearchScope,
  ): Promise<{ items: NotificationListItem[]; nextCursor: string | null }> {
    const tx = this.deps.store.read;
    const now = this.deps.clock();
    let after = f.cursor ? this.decodeCursor(ctx.tenantId, scope, f, f.cursor) : undefined;
    if (!after && f.toMs !== undefined) after = { createdAt: f.toMs, id: '' };
    let types = scope.types;
    if (f.type !== undefined) types = types && !types.includes(f.type) ? [] : [f.type];
    const items: NotificationListItem[] = [];
    const page = (next: PagePosition | null) => ({
      items,
      nextCursor: next ? this.encodeCursor(ctx.tenantId, scope, f, next) : null,
    });
    let budget = f.limit * SCAN_FACTOR;
    let last: PagePosition | null = null;
    while (items.length < f.limit && budget > 0) {
      const batch = Math.min(100, budget);
      const rows = await tx.notifications.search(ctx.tenantId, {
        patientId: f.patientId,
        after,
        limit: batch,
        types,
        careTeamOf: scope.careTeamOf,
        withContent: true,
      });
      budget -= rows.length;
      for (const n of rows) {
        if (f.fromMs !== undefined && Number(n.created_at) < f.fromMs) return page(null);
        after = last = { createdAt: Number(n.created_at), id: n.id };
        const ds = await tx.deliveries.list(n.id);
        const status = aggregateStatus(n, ds, now);
        if (f.status !== undefined && status !== f.status) continue;
        items.push({
          id: n.id,
          type: n.type,
          priority: n.priority,
          status,
          patientId: n.patient_id,
          channels: [...new Set(ds.map((d) => d.channel))],
          sendAt: iso(n.send_at)!,
          createdAt: iso(n.created_at)!,
        });
        if (items.length === f.limit) return page(last);
      }
      if (rows.length < batch) return page(null);
    }
    return page(last);
  }

  /**
   * The audit entries about one notification and its deliveries, in log order: created, sent,
   * delivered, failed, read, acknowledged, cancelled, proof reads. Entries hold ids and hashes only.
   * Found through the patient's pseudonymous reference (indexed) from the notification's creation on.
   */
  async auditTrail(ctx: RequestContext, id: string): Promise<StoredAuditEntry[]> {
    const tx = this.deps.store.read;
    const n = await tx.notifications.get(ctx.tenantId, id);
    if (!n) throw new AppError('SP_NOTIFICATION_NOT_FOUND');
    const ids = new Set([id, ...(await tx.deliveries.list(id)).map((d) => d.id)]);
    const ref = patientRef(this.deps, ctx.tenantId, n.patient_id);
    const out: StoredAuditEntry[] = [];
    let afterIdx: number | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const rows = await tx.auditQueries.search({
        tenantId: ctx.tenantId,
        patientRef: ref,
        fromMs: Number(n.created_at) - 1000,
        afterIdx,
        limit: 500,
      });
      for (const row of rows) {
        const e = parseAuditRow(row);
        if (concerns(e, ids)) out.push(e);
      }
      if (rows.length < 500) break;
      afterIdx = rows[rows.length - 1]!.idx;
    }
    return out;
  }
}

/** An entry is about the notification when it targets it or one of its deliveries, or names one in its details. */
function concerns(e: StoredAuditEntry, ids: Set<string>): boolean {
  if (e.target?.id && ids.has(e.target.id)) return true;
  const d = e.details ?? {};
  for (const k of ['notificationId', 'deliveryId', 'notification', 'delivery'])
    if (typeof d[k] === 'string' && ids.has(d[k] as string)) return true;
  return false;
}
