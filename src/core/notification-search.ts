import type { CoreDeps, RequestContext } from './context.js';
import { patientRef } from './context.js';
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
 * Whether the caller may see this notification at all (its type, its patient): decided by the
 * route from the caller's permissions and patient relationship (auth/patient-access.ts); core only
 * applies it, so a row the caller could not open by id is never listed either.
 */
export type MaySee = (row: Pick<NotificationRow, 'type' | 'patient_id'>) => Promise<boolean>;

/** How many rows one request reads at most while filtering: a sparse match answers a short page and a cursor. */
const SCAN_FACTOR = 10;

const iso = (ms: number | null) => (ms == null ? null : new Date(Number(ms)).toISOString());

export function encodeCursor(p: PagePosition): string {
  return Buffer.from(`${p.createdAt}:${p.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(c: string): PagePosition {
  const text = Buffer.from(c, 'base64url').toString('utf8');
  const m = /^(\d{1,15}):(.{1,128})$/s.exec(text);
  if (!m) throw new AppError('SP_REQ_VALIDATION', 'cursor: not a cursor this server gave');
  return { createdAt: Number(m[1]), id: m[2]! };
}

/** Searching notifications for the console and integrations, and one notification's audit trail. */
export class NotificationSearch {
  constructor(private readonly deps: CoreDeps) {}

  /**
   * Newest first. Type and status are filtered as rows are read (status is derived from the
   * deliveries); a page may come back shorter than `limit` with a `nextCursor` when many rows did
   * not match, so one request never reads the whole tenant.
   */
  async list(
    ctx: RequestContext,
    f: NotificationFilter,
    maySee: MaySee,
  ): Promise<{ items: NotificationListItem[]; nextCursor: string | null }> {
    const tx = this.deps.store.read;
    const now = this.deps.clock();
    let after = f.cursor ? decodeCursor(f.cursor) : undefined;
    if (!after && f.toMs !== undefined) after = { createdAt: f.toMs, id: '' };
    const items: NotificationListItem[] = [];
    let budget = f.limit * SCAN_FACTOR;
    while (items.length < f.limit && budget > 0) {
      const batch = Math.min(100, budget);
      const rows = await tx.notifications.search(ctx.tenantId, { patientId: f.patientId, after, limit: batch });
      budget -= rows.length;
      for (const n of rows) {
        after = { createdAt: Number(n.created_at), id: n.id };
        if (f.fromMs !== undefined && Number(n.created_at) < f.fromMs) return { items, nextCursor: null };
        if (f.type !== undefined && n.type !== f.type) continue;
        // An erased patient's tombstones have no content and no patient to speak of.
        if (n.data_ct.length === 0) continue;
        if (!(await maySee(n))) continue;
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
        if (items.length === f.limit) return { items, nextCursor: encodeCursor(after) };
      }
      if (rows.length < batch) return { items, nextCursor: null };
    }
    return { items, nextCursor: after ? encodeCursor(after) : null };
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
