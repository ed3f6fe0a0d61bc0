/**
 * The breach investigation report (HIPAA 164.404): every audit entry of a window and scope (a
 * person, a system credential, a network address, a list of patients, or the whole tenant), the
 * facts derived from them (report-facts.ts), and for each entry its RFC 9162 inclusion proof to one
 * signed checkpoint. The log holds identifiers, codes and hashes only, so the report does too; the
 * patients' own ids are added only for callers allowed to see them.
 */
import { randomUUID } from 'node:crypto';
import type { Store } from '../../store/store.js';
import type { AuditEntryRow } from '../../store/repositories/audit-query-repository.js';
import type { Checkpoint } from '../audit-log.js';
import { inclusionProof, type NodeSource } from '../merkle-proofs.js';
import { AppError } from '../../core/errors.js';
import {
  categorise,
  deriveFacts,
  notificationOf,
  type FactLookups,
  type ParsedEntry,
  type ReportFacts,
} from './report-facts.js';

export const REPORT_FORMAT = 'sealpost-access-report-v1';
/** The longest window one report covers (a year and a day: a leap year plus the boundary). */
export const MAX_REPORT_DAYS = 366;
/** The most patient ids one `patients` scope takes. */
export const MAX_REPORT_PATIENTS = 100_000;
const DAY_MS = 86_400_000;
const PAGE = 5_000;

export type ReportScope =
  | { kind: 'tenant' }
  | { kind: 'user'; userId: string }
  | { kind: 'apiKey'; apiKeyId: string }
  | { kind: 'address'; address: string }
  | { kind: 'patients'; patientIds: string[] };

export interface ReportRequest {
  tenantId: string;
  fromMs: number;
  toMs: number;
  scope: ReportScope;
}

/** One entry of the report: its leaf index, canonical text (the leaf data) and audit path. */
export interface ReportEntry {
  index: number;
  entry: string;
  category: string;
  /** RFC 9162 §2.1.3 audit path to the report's checkpoint, bottom-up, base64. */
  inclusion: string[];
}

export interface AccessReport {
  format: typeof REPORT_FORMAT;
  id: string;
  createdAt: string;
  organisation: string;
  tenant: string;
  window: { from: string; to: string };
  /** The scope; for `patients`, the pseudonymous references of the ids asked about (never the ids). */
  scope: { kind: ReportScope['kind']; value?: string; patientRefs?: string[] };
  /** The signed checkpoint every inclusion proof leads to (C2SP signed note) and its tree size. */
  checkpoint: { size: number; note: string };
  lookups: FactLookups;
  facts: ReportFacts;
  /**
   * Patients affected: the count always; the ids (for callers allowed to see them) of those that
   * still exist, the references of erased ones, and references matching no patient row.
   */
  patients: { count: number; ids?: string[]; erasedRefs?: string[]; unmatchedRefs?: string[] };
  entries: ReportEntry[];
}

export interface AccessReportDeps {
  store: Store;
  /** Integrates the log and signs a checkpoint for everything numbered (AuditLog.checkpoint). */
  checkpoint: () => Promise<Checkpoint>;
  /** The tenant's pseudonymous reference of a patient id (core/context.ts `patientRef`). */
  patientRef: (tenantId: string, patientId: string) => string;
  /** The PHI variables of a notification type's template (core/templates). */
  templateFields: (type: string) => string[];
  clock: () => Date;
  organisation: string;
}

const invalid = (m: string) => new AppError('SP_PRIVACY_REPORT_INVALID', m);

/**
 * Validates a report request from its raw parts (CLI options or API body): ISO times with `from`
 * before `to`, a window of at most MAX_REPORT_DAYS, at most one scope. Throws before anything is read.
 */
export function parseReportRequest(raw: {
  tenantId: string;
  from: unknown;
  to: unknown;
  user?: unknown;
  apiKey?: unknown;
  address?: unknown;
  patients?: unknown;
}): ReportRequest {
  const time = (v: unknown, name: string) => {
    const ms = typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v) ? Date.parse(v) : NaN;
    if (Number.isNaN(ms)) throw invalid(`${name}: must be an ISO 8601 date-time with an offset`);
    return ms;
  };
  const fromMs = time(raw.from, 'from');
  const toMs = time(raw.to, 'to');
  if (toMs <= fromMs) throw invalid('to: must be after from');
  if (toMs - fromMs > MAX_REPORT_DAYS * DAY_MS)
    throw new AppError('SP_PRIVACY_REPORT_WINDOW', `the window is longer than ${MAX_REPORT_DAYS} days: split it`);
  const given = (['user', 'apiKey', 'address', 'patients'] as const).filter((k) => raw[k] !== undefined);
  if (given.length > 1)
    throw invalid(`give at most one scope (user, apiKey, address or patients), not ${given.join(' and ')}`);
  const id = (v: unknown, name: string) => {
    if (typeof v !== 'string' || !/^[A-Za-z0-9._:@-]{1,200}$/.test(v)) throw invalid(`${name}: must be an id`);
    return v;
  };
  let scope: ReportScope = { kind: 'tenant' };
  if (raw.user !== undefined) scope = { kind: 'user', userId: id(raw.user, 'user') };
  if (raw.apiKey !== undefined) scope = { kind: 'apiKey', apiKeyId: id(raw.apiKey, 'apiKey') };
  if (raw.address !== undefined) {
    const a = typeof raw.address === 'string' ? raw.address.trim().toLowerCase() : '';
    if (!/^[0-9a-f.:]{2,45}$/.test(a) || !a.includes('.') === !a.includes(':'))
      throw invalid('address: must be an IPv4 or IPv6 address');
    scope = { kind: 'address', address: a };
  }
  if (raw.patients !== undefined) {
    const p = raw.patients;
    if (!Array.isArray(p) || !p.length) throw invalid('patients: must be a non-empty list of patient ids');
    if (p.length > MAX_REPORT_PATIENTS) throw invalid(`patients: at most ${MAX_REPORT_PATIENTS} ids`);
    scope = { kind: 'patients', patientIds: [...new Set(p.map((x, i) => id(x, `patients[${i}]`)))] };
  }
  return { tenantId: raw.tenantId, fromMs, toMs, scope };
}

/** Escapes `%`, `_` and `\` for a LIKE pattern with `escape '\'`. */
const likeText = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** Whether a parsed entry is in the scope (the exact check behind the SQL pre-filter; the verifier's too). */
export function inScope(
  e: ParsedEntry,
  scope: AccessReport['scope'],
  tenant: string,
  from: number,
  to: number,
): boolean {
  const at = Date.parse(e.at);
  if (e.tenant !== tenant || !(at >= from && at < to)) return false;
  switch (scope.kind) {
    case 'tenant':
      return true;
    case 'user':
      return e.actor === `user:${scope.value}` || (e.target?.type === 'user' && e.target.id === scope.value);
    case 'apiKey':
      return e.actor === `api-key:${scope.value}`;
    case 'address':
      return e.ip === scope.value;
    case 'patients':
      return !!e.patient && !!scope.patientRefs?.includes(e.patient);
  }
}

/**
 * Builds the report: checks the subject exists, signs a checkpoint over the integrated log, reads
 * every entry of the window and scope up to it, derives the facts and attaches each entry's
 * inclusion proof. Writes nothing but the checkpoint (log maintenance the integrator does anyway);
 * the caller audits the run (`privacy.report_run`) once the report is out.
 *
 * @param showPatientIds the caller may see patient ids (CLI operator, `privacy.report` holders).
 * @param maxEntries refuse (SP_PRIVACY_REPORT_TOO_LARGE) a report over this many entries.
 */
export async function buildAccessReport(
  deps: AccessReportDeps,
  req: ReportRequest,
  opts: { showPatientIds: boolean; maxEntries?: number },
): Promise<AccessReport> {
  const { store } = deps;
  const { tenantId, scope } = req;
  if (scope.kind === 'user' && !(await store.read.users.byId(tenantId, scope.userId)))
    throw new AppError('SP_PRIVACY_REPORT_UNKNOWN_SUBJECT', 'user: no such user in this tenant');
  if (scope.kind === 'apiKey') {
    const k = await store.read.apiKeys.get(scope.apiKeyId);
    if (!k || k.tenant_id !== tenantId)
      throw new AppError('SP_PRIVACY_REPORT_UNKNOWN_SUBJECT', 'apiKey: no such API key in this tenant');
  }
  const refs =
    scope.kind === 'patients'
      ? [...new Set(scope.patientIds.map((id) => deps.patientRef(tenantId, id)))].sort()
      : undefined;
  const shown: AccessReport['scope'] =
    scope.kind === 'tenant'
      ? { kind: 'tenant' }
      : scope.kind === 'user'
        ? { kind: 'user', value: scope.userId }
        : scope.kind === 'apiKey'
          ? { kind: 'apiKey', value: scope.apiKeyId }
          : scope.kind === 'address'
            ? { kind: 'address', value: scope.address }
            : { kind: 'patients', patientRefs: refs! };

  await store.read.auditLog.catchUp();
  const cp = await deps.checkpoint();

  // Entries, page by page in log order; the SQL narrows, the parsed entry decides.
  const rows: { row: AuditEntryRow; e: ParsedEntry }[] = [];
  const base = { tenantId, fromMs: req.fromMs, toMs: req.toMs, maxIdx: cp.size, limit: PAGE };
  const filter =
    scope.kind === 'user'
      ? {
          actor: `user:${scope.userId}`,
          like: likeText(`"target":{"id":${JSON.stringify(scope.userId)},"type":"user"}`),
        }
      : scope.kind === 'apiKey'
        ? { actor: `api-key:${scope.apiKeyId}` }
        : scope.kind === 'address'
          ? { like: likeText(`"ip":${JSON.stringify(scope.address)}`) }
          : {};
  // Large patient lists are matched in memory over the window instead of in one huge IN list.
  const refFilter = refs && refs.length <= 500 ? { patientRefs: refs } : {};
  for (let after = 0; ;) {
    const page = await store.read.auditQueries.reportEntries({ ...base, ...filter, ...refFilter, afterIdx: after });
    for (const row of page) {
      const e = JSON.parse(row.entry) as ParsedEntry;
      if (inScope(e, shown, tenantId, req.fromMs, req.toMs)) rows.push({ row, e });
    }
    if (opts.maxEntries !== undefined && rows.length > opts.maxEntries)
      throw new AppError(
        'SP_PRIVACY_REPORT_TOO_LARGE',
        `more than ${opts.maxEntries} entries: narrow the window or the scope, or run \`sealpost report access\``,
      );
    if (page.length < PAGE) break;
    after = page[page.length - 1].idx;
  }
  const entries = rows.map((r) => r.e);

  // Lookups: notification types (created in the window, else from the notifications table).
  const notificationTypes: Record<string, string> = {};
  const wanted = new Set<string>();
  for (const e of entries) {
    const n = notificationOf(e);
    if (!n) continue;
    if (e.action === 'notification.created' && typeof e.details?.type === 'string')
      notificationTypes[n] = e.details.type;
    else wanted.add(n);
  }
  const missing = [...wanted].filter((n) => !(n in notificationTypes));
  for (const r of await store.read.auditQueries.notificationTypes(tenantId, missing)) notificationTypes[r.id] = r.type;
  const templateFields: Record<string, string[]> = {};
  for (const t of new Set(Object.values(notificationTypes))) templateFields[t] = deps.templateFields(t);
  const lookups = { notificationTypes: sortKeys(notificationTypes), templateFields: sortKeys(templateFields) };
  const facts = deriveFacts(entries, lookups);

  const patients: AccessReport['patients'] = { count: facts.patientRefs.length };
  if (opts.showPatientIds && facts.patientRefs.length) {
    const touched = new Set(facts.patientRefs);
    const ids: string[] = [];
    for (const id of await store.read.auditQueries.patientIds(tenantId)) {
      const ref = deps.patientRef(tenantId, id);
      if (touched.delete(ref)) ids.push(id);
    }
    const erased = await store.read.auditQueries.erasedRefs(tenantId, [...touched]);
    for (const r of erased) touched.delete(r);
    patients.ids = ids.sort();
    patients.erasedRefs = erased.sort();
    patients.unmatchedRefs = [...touched].sort();
  }

  const get = cachedNodes(store);
  const out: ReportEntry[] = [];
  for (const { row, e } of rows) {
    const index = row.idx - 1;
    const proof = await inclusionProof(index, cp.size, get);
    out.push({
      index,
      entry: row.entry,
      category: categorise(e),
      inclusion: proof.map((h) => Buffer.from(h).toString('base64')),
    });
  }

  return {
    format: REPORT_FORMAT,
    id: randomUUID(),
    createdAt: deps.clock().toISOString(),
    organisation: deps.organisation,
    tenant: tenantId,
    window: { from: new Date(req.fromMs).toISOString(), to: new Date(req.toMs).toISOString() },
    scope: shown,
    checkpoint: { size: cp.size, note: cp.note },
    lookups,
    facts,
    patients,
    entries: out,
  };
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Stored perfect subtrees, each read once: the proofs of a report share their upper nodes, so a
 * report of k entries costs far fewer than k·log² n lookups.
 */
function cachedNodes(store: Store): NodeSource {
  const cache = new Map<number, Uint8Array>();
  return async (level, index) => {
    const key = index * 64 + level;
    let h = cache.get(key);
    if (!h) {
      h = await store.read.auditLog.node(level, index);
      if (!h) throw new AppError('SP_SERVER_INTERNAL', `missing audit node ${level}/${index}`);
      cache.set(key, h);
    }
    return h;
  };
}

/** The few facts the run's own audit entry holds (never the patient list). */
export function runDetails(r: AccessReport): Record<string, string | number> {
  return {
    scope: r.scope.kind,
    from: r.window.from,
    to: r.window.to,
    entries: r.facts.entries,
    patients: r.patients.count,
    checkpointSize: r.checkpoint.size,
    report: r.id,
  };
}
