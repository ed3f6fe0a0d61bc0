import type { CoreDeps, RequestContext } from './context.js';
import { patientRef } from './context.js';
import { AppError } from './errors.js';
import { PATIENT_ID_PATTERN } from './patient-service.js';
import type { StoredAuditEntry } from '../audit/fhir-audit-event.js';
import type { AuditEntryRow, AuditSearch } from '../store/repositories/audit-query-repository.js';

export interface EventQuery {
  /** The caller's patient id; translated to the pseudonymous reference, never stored or logged. */
  patientId?: string;
  actor?: string;
  /** An exact action (`delivery.sent`) or a prefix ending in `.*` (`delivery.*`). */
  action?: string;
  /** Inclusive lower bound, epoch ms. */
  fromMs?: number;
  /** Exclusive upper bound, epoch ms. */
  toMs?: number;
  limit: number;
  /** Leaf index of the last entry already seen (the previous page's `nextCursor`). */
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  /** Leaf index of the last item when more may follow, else null. */
  nextCursor: string | null;
}

/** One line of an accounting of disclosures (HIPAA 45 CFR 164.528). */
export interface Disclosure {
  index: number;
  at: string;
  actor: string;
  action: string;
  what: { type: string; id: string | null };
  deliveryId?: string;
  channel?: string;
  provider?: string;
}

/** Actions that make a patient's information reach or be seen by someone. */
export const DISCLOSURE_ACTIONS = [
  'delivery.sent',
  'delivery.delivered',
  'notification.read',
  'notification.accessed',
  'notification.acknowledged',
  'patient.read',
] as const;

/** HIPAA 164.528(a): an individual may request an accounting for the six years before the request. */
export const DISCLOSURE_DEFAULT_YEARS = 6;

export const ACTION_FILTER_PATTERN = '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*(\\.\\*)?$';

/** Parses an audit entry's canonical JSON (see audit-entry.ts) into the view callers see. */
export function parseAuditRow(row: AuditEntryRow): StoredAuditEntry {
  const r = JSON.parse(row.entry) as {
    at: string;
    actor: string;
    action: string;
    outcome: 'success' | 'failure';
    target: { type: string; id: string | null } | null;
    patient: string | null;
    request: string | null;
    ip: string | null;
    details: Record<string, unknown> | null;
  };
  return {
    index: row.idx - 1, // RFC 9162 leaf indexes start at 0, row ids at 1.
    at: r.at,
    actor: r.actor,
    action: r.action,
    outcome: r.outcome,
    target: r.target ?? null,
    patientRef: r.patient ?? null,
    requestId: r.request ?? null,
    sourceIp: r.ip ?? null,
    details: r.details ?? null,
    leafHash: Buffer.from(row.leafHash).toString('base64'),
  };
}

/** Parses optional ISO date-time bounds; `from` must not be after `to`. */
export function parseRange(from?: string, to?: string): { fromMs?: number; toMs?: number } {
  const fromMs = from === undefined ? undefined : Date.parse(from);
  const toMs = to === undefined ? undefined : Date.parse(to);
  if (Number.isNaN(fromMs)) throw new AppError('SP_REQ_VALIDATION', 'querystring.from: must be an ISO 8601 date-time');
  if (Number.isNaN(toMs)) throw new AppError('SP_REQ_VALIDATION', 'querystring.to: must be an ISO 8601 date-time');
  if (fromMs !== undefined && toMs !== undefined && fromMs > toMs)
    throw new AppError('SP_REQ_VALIDATION', 'querystring.from: must not be after to');
  return { fromMs, toMs };
}

/**
 * Audit search and accounting of disclosures for auditors. Reads only: entries are returned as
 * stored (identifiers, codes and hashes, never PHI); the caller's patient id is turned into the
 * pseudonymous reference before it reaches the database.
 */
export class AuditQueryService {
  constructor(private readonly deps: CoreDeps) {}

  /** Pseudonymous reference of a caller's patient id (validated first: it came from a URL). */
  patientRef(ctx: RequestContext, patientId: string): string {
    if (!PATIENT_ID_PATTERN.test(patientId)) throw new AppError('SP_PATIENT_INVALID_ID');
    return patientRef(this.deps, ctx.tenantId, patientId);
  }

  async events(ctx: RequestContext, q: EventQuery): Promise<Page<StoredAuditEntry>> {
    const f: AuditSearch = { tenantId: ctx.tenantId, limit: q.limit + 1 };
    if (q.patientId !== undefined) f.patientRef = this.patientRef(ctx, q.patientId);
    if (q.actor !== undefined) f.actor = q.actor;
    if (q.action !== undefined) {
      if (!new RegExp(ACTION_FILTER_PATTERN).test(q.action))
        throw new AppError('SP_REQ_VALIDATION', 'querystring.action: must be an action or a prefix ending in .*');
      f.action = q.action.endsWith('.*') ? { prefix: q.action.slice(0, -1) } : { exact: q.action };
    }
    if (q.fromMs !== undefined) f.fromMs = q.fromMs;
    if (q.toMs !== undefined) f.toMs = q.toMs;
    if (q.fromMs !== undefined && q.toMs !== undefined && q.fromMs >= q.toMs) return { items: [], nextCursor: null };
    return this.page(f, q.cursor, q.limit);
  }

  /**
   * Everything that made the patient's information reach or be seen by someone in [from, to):
   * transmissions (to the patient's contact point over a channel and provider), portal reads and
   * accesses, acknowledgements and API reads of the patient record.
   */
  async disclosures(
    ctx: RequestContext,
    patientId: string,
    q: { from?: string; to?: string; limit: number; cursor?: string },
  ): Promise<Page<Disclosure> & { patientRef: string; from: string; to: string }> {
    const ref = this.patientRef(ctx, patientId);
    const range = parseRange(q.from, q.to);
    const now = this.deps.clock();
    const fromMs = range.fromMs ?? startOfPeriod(range.toMs !== undefined ? new Date(range.toMs) : now);
    const toMs = range.toMs;
    const page = await this.page(
      {
        tenantId: ctx.tenantId,
        patientRef: ref,
        actions: DISCLOSURE_ACTIONS,
        fromMs,
        ...(toMs !== undefined ? { toMs } : {}),
        limit: q.limit + 1,
      },
      q.cursor,
      q.limit,
    );
    const items = await this.toDisclosures(ctx.tenantId, page.items);
    return {
      patientRef: ref,
      from: new Date(fromMs).toISOString(),
      to: new Date(toMs ?? now.getTime()).toISOString(),
      items,
      nextCursor: page.nextCursor,
    };
  }

  private async page(f: AuditSearch, cursor: string | undefined, limit: number): Promise<Page<StoredAuditEntry>> {
    if (cursor !== undefined) f.afterIdx = Number(cursor) + 1;
    // What the reader (or anyone) committed just before asking is listed, once it has its index.
    await this.deps.store.read.auditLog.catchUp();
    const rows = await this.deps.store.read.auditQueries.search(f);
    const items = rows.slice(0, limit).map(parseAuditRow);
    return { items, nextCursor: rows.length > limit ? String(items[items.length - 1]!.index) : null };
  }

  private async toDisclosures(tenantId: string, entries: StoredAuditEntry[]): Promise<Disclosure[]> {
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    // Channel and provider of each delivery: from the sends on this page, else from the delivery row.
    const channels = new Map<string, { channel?: string; provider?: string }>();
    const deliveryOfNotification = new Map<string, string>();
    for (const e of entries) {
      if (e.action.startsWith('delivery.') && e.target?.id)
        channels.set(e.target.id, { channel: str(e.details?.channel), provider: str(e.details?.provider) });
      if (e.action === 'notification.read' && e.target?.id && str(e.details?.delivery))
        deliveryOfNotification.set(e.target.id, str(e.details?.delivery)!);
    }
    const deliveryOf = (e: StoredAuditEntry) =>
      str(e.details?.delivery) ??
      (e.target?.type === 'notification' && e.target.id ? deliveryOfNotification.get(e.target.id) : undefined);
    const missing = [
      ...new Set(
        entries
          .filter((e) => !e.action.startsWith('delivery.'))
          .map(deliveryOf)
          .filter((d): d is string => !!d && !channels.has(d)),
      ),
    ];
    for (const d of await this.deps.store.read.auditQueries.deliveryChannels(tenantId, missing)) {
      channels.set(d.id, { channel: d.channel, provider: d.provider ?? undefined });
    }

    return entries.map((e) => {
      const base = { index: e.index, at: e.at, actor: e.actor, action: e.action };
      if (e.action.startsWith('delivery.')) {
        const c = channels.get(e.target?.id ?? '') ?? {};
        return {
          ...base,
          what: { type: 'notification', id: str(e.details?.notification) ?? null },
          deliveryId: e.target?.id ?? undefined,
          ...defined(c),
        };
      }
      if (e.action === 'patient.read') return { ...base, what: { type: 'patient', id: e.patientRef } };
      const delivery = deliveryOf(e);
      return {
        ...base,
        what: e.target ?? { type: 'notification', id: null },
        ...(delivery ? { deliveryId: delivery, ...defined(channels.get(delivery) ?? {}) } : {}),
      };
    });
  }
}

/** The start of the HIPAA accounting period ending at `end`: the same instant six years earlier. */
function startOfPeriod(end: Date): number {
  const d = new Date(end.getTime());
  d.setUTCFullYear(d.getUTCFullYear() - DISCLOSURE_DEFAULT_YEARS);
  return d.getTime();
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
