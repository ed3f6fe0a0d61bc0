import { parseFact, type AuditFact } from '../../src/audit/privacy/audit-fact.js';
import type { DetectorContext, DetectorId, Finding } from '../../src/audit/privacy/detector.js';
import { DETECTOR_IDS } from '../../src/audit/privacy/detector.js';
import { PARAMS } from '../../src/audit/privacy/detector-params.js';
import { PrivacyEngine, type AlertCandidate } from '../../src/audit/privacy/privacy-engine.js';
import { MATCH_TOLERANCE_MS } from './incidents.js';
import type { InjectedIncident } from './inject.js';
import type { SimRequest } from './sim-core.js';
import type { SimulationRun } from './simulate.js';

export interface DetectorRow {
  detector: DetectorId;
  injected: number;
  /** Incidents of this kind matched by a candidate that this detector contributed to. */
  detected: number;
  /** …matched by any candidate (another detector named the same subject and window). */
  detectedAny: number;
  recall: number | null;
  falseAlerts: number;
  falsePer1000UserDays: number;
}

export interface Evaluation {
  entries: number;
  candidates: number;
  falseAlerts: number;
  userDays: number;
  falsePer1000UserDays: number;
  rows: DetectorRow[];
  incidents: {
    id: string;
    kind: string;
    subject: string;
    start: number;
    end: number;
    detected: boolean;
    detectedAny: boolean;
    detectors: string[];
    problem: string | null;
  }[];
  /** Candidates that matched no incident: subject and reasons, to see what the false alerts are. */
  falseDetails: { subject: string; detector: DetectorId; firstAt: number; score: number; reasons: string[] }[];
  /** Simulated requests whose audit entry was not found (by request id), by route. */
  missing: Record<string, number>;
  audited: number;
}

/**
 * Routes whose requests put an entry on the record (found by the request id the simulator sent).
 * Not listed: reads of non-PHI lists (users, audit events, privacy alerts) that the server does not
 * audit, and answers the server gives before any principal exists (404 of an unknown route).
 */
export function expectsEntry(r: SimRequest): boolean {
  // 401: no principal (an expired session), and unauthenticated refusals write nothing by design.
  if (r.status >= 500 || (r.status === 401 && !r.route.startsWith('/v1/auth/')) || r.status === 404 || r.status === 410)
    return false;
  // KNOWN GAP (server, not simulator): GET /v1/appointments/{id} writes no `appointment.read` entry
  // (only the FHIR Appointment read does), so the detectors cannot see those reads. Listed here so
  // the completeness check covers everything else; remove once the route audits its reads.
  if (r.method === 'GET' && r.route === '/v1/appointments/:externalId') return false;
  if (
    r.method === 'GET' &&
    (r.route === '/v1/users' || r.route === '/v1/audit/events' || r.route.startsWith('/v1/privacy/'))
  )
    return false;
  if (r.route === '/v1/auth/mfa/totp/setup' || (r.route === '/v1/auth/enrol' && r.status !== 200)) return false;
  return true;
}

async function readFacts(run: SimulationRun): Promise<{ facts: AuditFact[]; requestIds: Set<string> }> {
  const { app } = run.server;
  await app.auditLog.integrate();
  const facts: AuditFact[] = [];
  const requestIds = new Set<string>();
  for (let after = 0; ;) {
    const rows = await app.store.read.auditLog.entries(after, 10_000);
    if (!rows.length) break;
    for (const row of rows) {
      facts.push(parseFact(row.idx, row.entry));
      const m = /"request":"([^"]+)"/.exec(row.entry);
      if (m) requestIds.add(m[1]);
    }
    after = rows[rows.length - 1].idx;
  }
  return { facts, requestIds };
}

async function context(run: SimulationRun): Promise<DetectorContext> {
  const { store } = run.server.app;
  const sensitive = new Map<string, 'staff' | 'vip' | 'flagged'>();
  for (const s of await store.read.privacy.allSensitive()) sensitive.set(`${s.tenant_id}|${s.patient_ref}`, s.kind);
  const roles = new Map<string, string[]>();
  for (const u of await store.read.privacy.personRoles()) roles.set(`${u.tenant_id}|user:${u.id}`, u.roles.split(' '));
  return {
    sensitivity: (t, ref) => sensitive.get(`${t}|${ref}`) ?? null,
    roles: (t, actor) => roles.get(`${t}|${actor}`) ?? [],
  };
}

const overlaps = (c: AlertCandidate, i: InjectedIncident) =>
  c.subject === i.subject && c.firstAt <= i.end + MATCH_TOLERANCE_MS && c.lastAt >= i.start - MATCH_TOLERANCE_MS;

/**
 * Reads the whole log back (integrated, numbered, in order), runs the engine with the fixed
 * thresholds over it, and scores the candidates against the injected incidents.
 */
export async function evaluate(run: SimulationRun): Promise<Evaluation> {
  const { facts, requestIds } = await readFacts(run);
  const ctx = await context(run);
  const findings: Finding[] = [];
  const engine = new PrivacyEngine({ onFinding: (f, suppressed) => void (suppressed || findings.push(f)) });
  const candidates = engine.run(facts, ctx);

  const strongest = (c: AlertCandidate): DetectorId => {
    let best: Finding | null = null;
    for (const f of findings)
      if (f.subject === c.subject && f.at >= c.firstAt && f.at <= c.lastAt && c.detectors.includes(f.detector))
        if (!best || PARAMS.weights[f.detector] * f.score > PARAMS.weights[best.detector] * best.score) best = f;
    return best?.detector ?? c.detectors[0];
  };

  const incidents = run.injected.map((i) => {
    const matched = candidates.filter((c) => overlaps(c, i));
    const detectors = [...new Set(matched.flatMap((c) => c.detectors))].sort();
    return {
      id: i.spec.id,
      kind: i.spec.kind,
      subject: i.subject,
      start: i.start,
      end: i.end,
      detected: detectors.includes(i.spec.kind),
      detectedAny: matched.length > 0,
      detectors,
      problem: i.problem,
    };
  });
  const falseCandidates = candidates.filter((c) => !run.injected.some((i) => overlaps(c, i)));
  const userDays = run.people * run.profile.days;
  const per1000 = (n: number) => Math.round((n / userDays) * 1000 * 100) / 100;
  const falseDetails = falseCandidates.map((c) => ({
    subject: c.subject,
    detector: strongest(c),
    firstAt: c.firstAt,
    score: c.score,
    reasons: c.reasons,
  }));
  const rows: DetectorRow[] = DETECTOR_IDS.map((d) => {
    const mine = incidents.filter((i) => i.kind === d);
    const detected = mine.filter((i) => i.detected).length;
    const fa = falseDetails.filter((f) => f.detector === d).length;
    return {
      detector: d,
      injected: mine.length,
      detected,
      detectedAny: mine.filter((i) => i.detectedAny).length,
      recall: mine.length ? Math.round((detected / mine.length) * 100) / 100 : null,
      falseAlerts: fa,
      falsePer1000UserDays: per1000(fa),
    };
  });
  const missing: Record<string, number> = {};
  let audited = 0;
  for (const r of run.sim.requests) {
    if (!expectsEntry(r)) continue;
    audited++;
    if (!requestIds.has(r.requestId))
      missing[`${r.method} ${r.route} ${r.status}`] = (missing[`${r.method} ${r.route} ${r.status}`] ?? 0) + 1;
  }
  return {
    entries: facts.length,
    candidates: candidates.length,
    falseAlerts: falseCandidates.length,
    userDays,
    falsePer1000UserDays: per1000(falseCandidates.length),
    rows,
    incidents,
    falseDetails,
    missing,
    audited,
  };
}
