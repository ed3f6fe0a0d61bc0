/**
 * The breach investigation report (HIPAA 164.404): every audit entry of a window and scope (a
 * person, a system credential, a network address, a list of patients, or the whole tenant), the
 * facts derived from them (report-facts.ts), and for each entry its RFC 9162 inclusion proof to one
 * signed checkpoint. The log holds identifiers, codes and hashes only, so the report does too; the
 * patients' own ids are added only for callers allowed to see them.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
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
  /**
   * The scope; for `patients`, the pseudonymous references of the ids asked about (never the ids);
   * for `user`, the person's devices (`devices`: ids whose actions, `device:<id>`, are theirs), each
   * shown by its registration entry in `deviceRegistrations`.
   */
  scope: { kind: ReportScope['kind']; value?: string; patientRefs?: string[]; devices?: string[] };
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
  /**
   * `user` scope: the audit entries (with inclusion proofs to the same checkpoint) in which the person
   * registered each device of `scope.devices`, at any time before the window's end.
   */
  deviceRegistrations?: ReportEntry[];
}

/** Audit actions by which a person registers a device that later acts as `device:<id>`. */
export const DEVICE_REGISTRATIONS: ReadonlySet<string> = new Set(['device.registered', 'messaging.device.registered']);

/**
 * The device a registration entry gives to `user:<userId>` (the person registered it themselves), or
 * null. The builder and the verifier both decide with this.
 */
export function registeredDevice(e: ParsedEntry, tenant: string, userId: string, to: number): string | null {
  if (e.tenant !== tenant || !DEVICE_REGISTRATIONS.has(e.action) || e.outcome !== 'success') return null;
  if (e.actor !== `user:${userId}` || e.target?.type !== 'device' || !e.target.id) return null;
  return Date.parse(e.at) < to ? e.target.id : null;
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
    const ms = typeof v === 'string' ? isoInstant(v) : null;
    if (ms === null)
      throw invalid(
        `${name}: must be an ISO 8601 date-time with an offset (Z or ±hh:mm), e.g. 2031-01-01T00:00:00Z, on a day that exists`,
      );
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
    const a = typeof raw.address === 'string' ? normaliseAddress(raw.address.trim()) : null;
    if (!a) throw invalid('address: must be an IPv4 or IPv6 address');
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

const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2}))$/;

/**
 * Epoch ms of an ISO 8601 date-time with an explicit offset (`Z` or `±hh:mm`; never local time), or
 * null. A date that does not exist (2031-02-30, hour 24) is refused, not rolled over to the next day.
 */
export function isoInstant(v: string): number | null {
  const m = ISO_INSTANT.exec(v);
  if (!m) return null;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number);
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (y < 1970 || day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) return null;
  if (h > 23 || mi > 59 || sec > 59) return null;
  if (m[8] !== 'Z' && (Number(m[9]) > 23 || Number(m[10]) > 59)) return null;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * An address as the report compares it: IPv4 dotted quad, or IPv6 in its canonical compressed
 * lowercase form; an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as a dual-stack socket reports an
 * IPv4 peer) is the IPv4 address. Null when it is not an IP address.
 */
export function normaliseAddress(a: string): string | null {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(a);
  if (mapped && isIP(mapped[1]) === 4) return mapped[1];
  if (isIP(a) === 4) return a;
  if (isIP(a) !== 6 || a.includes('%')) return null;
  // The URL parser serialises IPv6 canonically (RFC 5952): lowercase, longest zero run compressed.
  const host = new URL(`http://[${a}]/`).hostname.slice(1, -1);
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!m) return host;
  const [hi, lo] = [parseInt(m[1], 16), parseInt(m[2], 16)];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
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
      return (
        e.actor === `user:${scope.value}` ||
        (e.target?.type === 'user' && e.target.id === scope.value) ||
        (e.actor.startsWith('device:') && !!scope.devices?.includes(e.actor.slice('device:'.length)))
      );
    case 'apiKey':
      return e.actor === `api-key:${scope.value}`;
    case 'address':
      return !!e.ip && (normaliseAddress(e.ip) ?? e.ip) === scope.value;
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
  await store.read.auditLog.catchUp();
  const cp = await deps.checkpoint();
  const base = { tenantId, fromMs: req.fromMs, toMs: req.toMs, maxIdx: cp.size, limit: PAGE };

  // Every entry the SQL filter returns (page by page in log order) that `keep` takes.
  const scan = async (
    q: typeof base & { actor?: string; like?: string; patientRefs?: readonly string[] },
    keep: (e: ParsedEntry) => boolean,
    into: Map<number, { row: AuditEntryRow; e: ParsedEntry }>,
  ) => {
    for (let after = 0; ;) {
      const page = await store.read.auditQueries.reportEntries({ ...q, afterIdx: after });
      for (const row of page) {
        const e = JSON.parse(row.entry) as ParsedEntry;
        if (keep(e)) into.set(row.idx, { row, e });
      }
      if (opts.maxEntries !== undefined && into.size > opts.maxEntries)
        throw new AppError(
          'SP_PRIVACY_REPORT_TOO_LARGE',
          `more than ${opts.maxEntries} entries: narrow the window or the scope, or run \`sealpost report access\``,
        );
      if (page.length < PAGE) break;
      after = page[page.length - 1].idx;
    }
  };

  // The person's devices: registered by them (canonical JSON puts "action" just before "actor").
  const registrations = new Map<number, { row: AuditEntryRow; e: ParsedEntry }>();
  const devices = new Set<string>();
  if (scope.kind === 'user')
    await scan(
      { ...base, fromMs: 0, like: likeText(`device.registered","actor":${JSON.stringify(`user:${scope.userId}`)}`) },
      (e) => {
        const d = registeredDevice(e, tenantId, scope.userId, req.toMs);
        if (d) devices.add(d);
        return d !== null;
      },
      registrations,
    );

  const shown: AccessReport['scope'] =
    scope.kind === 'tenant'
      ? { kind: 'tenant' }
      : scope.kind === 'user'
        ? { kind: 'user', value: scope.userId, devices: [...devices].sort() }
        : scope.kind === 'apiKey'
          ? { kind: 'apiKey', value: scope.apiKeyId }
          : scope.kind === 'address'
            ? { kind: 'address', value: scope.address }
            : { kind: 'patients', patientRefs: refs! };

  // Entries of the window; the SQL narrows, the parsed entry decides.
  const found = new Map<number, { row: AuditEntryRow; e: ParsedEntry }>();
  const keep = (e: ParsedEntry) => inScope(e, shown, tenantId, req.fromMs, req.toMs);
  if (scope.kind === 'user') {
    await scan(
      {
        ...base,
        actor: `user:${scope.userId}`,
        like: likeText(`"target":{"id":${JSON.stringify(scope.userId)},"type":"user"}`),
      },
      keep,
      found,
    );
    for (const d of [...devices].sort()) await scan({ ...base, actor: `device:${d}` }, keep, found);
  } else if (scope.kind === 'apiKey') await scan({ ...base, actor: `api-key:${scope.apiKeyId}` }, keep, found);
  else if (scope.kind === 'address')
    // An IPv4 address is also logged IPv4-mapped (`::ffff:a.b.c.d`): match its tail.
    await scan(
      {
        ...base,
        like: likeText(scope.address.includes(':') ? `"ip":${JSON.stringify(scope.address)}` : `${scope.address}"`),
      },
      keep,
      found,
    );
  // Large patient lists are matched in memory over the window instead of in one huge IN list.
  else if (refs && refs.length <= 500) await scan({ ...base, patientRefs: refs }, keep, found);
  else await scan(base, keep, found);
  const rows = [...found.entries()].sort(([a], [b]) => a - b).map(([, r]) => r);
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
  const proved = async (rs: { row: AuditEntryRow; e: ParsedEntry }[]): Promise<ReportEntry[]> => {
    const out: ReportEntry[] = [];
    for (const { row, e } of rs) {
      const index = row.idx - 1;
      const proof = await inclusionProof(index, cp.size, get);
      out.push({
        index,
        entry: row.entry,
        category: categorise(e),
        inclusion: proof.map((h) => Buffer.from(h).toString('base64')),
      });
    }
    return out;
  };
  const out = await proved(rows);
  const deviceRegistrations =
    scope.kind === 'user'
      ? await proved([...registrations.entries()].sort(([a], [b]) => a - b).map(([, r]) => r))
      : undefined;

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
    ...(deviceRegistrations ? { deviceRegistrations } : {}),
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
    refused: r.facts.refused.attempts,
    checkpointSize: r.checkpoint.size,
    report: r.id,
  };
}
