import { isMonitorOwn, type AuditFact } from './audit-fact.js';
import {
  HOUR_MS,
  capEvidence,
  utcDay,
  type Detector,
  type DetectorContext,
  type DetectorId,
  type Finding,
} from './detector.js';
import { PARAMS, type DetectorParams } from './detector-params.js';
import { BreakGlassDetector } from './detectors/break-glass-detector.js';
import { DistinctPatientsDetector } from './detectors/distinct-patients-detector.js';
import { DormantAccountDetector } from './detectors/dormant-account-detector.js';
import { MassActionDetector } from './detectors/mass-action-detector.js';
import { OffHoursDetector } from './detectors/off-hours-detector.js';
import { OriginDetector } from './detectors/origin-detector.js';
import { RefusedBurstDetector } from './detectors/refused-burst-detector.js';
import { SensitivePatientDetector } from './detectors/sensitive-patient-detector.js';
import { SignInDetector } from './detectors/sign-in-detector.js';
import { VolumeDetector } from './detectors/volume-detector.js';

/** What the engine raises (B stores it as a privacy alert, upserted by `key`). */
export interface AlertCandidate {
  tenantId: string;
  subject: string;
  detectors: DetectorId[];
  /** Combined, 0..100: 100 × (1 − Π(1 − wᵢ·sᵢ)) over the candidate's findings. */
  score: number;
  firstAt: number;
  lastAt: number;
  reasons: string[];
  evidence: number[];
  /** `<subject>:<UTC day of the first finding>`; the same key is the same alert, updated. */
  key: string;
}

/**
 * A suppression rule in force: findings it matches are dropped (the detectors still learn from the
 * entries). It names a detector, a subject or both; one naming neither matches nothing (the store
 * refuses it). It applies to findings dated before `expiresAt`.
 */
export interface Suppression {
  /** Absent: every tenant (the engine is usually fed one tenant's rules with that tenant's id). */
  tenantId?: string;
  detector?: DetectorId | null;
  subject?: string | null;
  expiresAt: number;
}

export interface PrivacyEngineOptions {
  params?: DetectorParams;
  /** Replaces the default detectors (tests). */
  detectors?: Detector[];
  /** Sees every finding, suppressed or not, before merging (the simulator's per-detector recall). */
  onFinding?: (f: Finding, suppressed: boolean) => void;
}

interface OpenCandidate {
  tenantId: string;
  subject: string;
  firstAt: number;
  lastAt: number;
  key: string;
  /** Finding key → the latest finding under it (a repeat updates, never adds). */
  findings: [string, Finding][];
  /** Whether it has reached the threshold (and so been handed out) already. */
  raised: boolean;
}

interface EngineState {
  v: 1;
  hour: number;
  detectors: Record<string, unknown>;
  open: OpenCandidate[];
}

/** The default detectors, one of each; together they emit every DetectorId. */
export function defaultDetectors(p: DetectorParams = PARAMS): Detector[] {
  return [
    new VolumeDetector(p),
    new DistinctPatientsDetector(p),
    new OffHoursDetector(p),
    new SensitivePatientDetector(p),
    new RefusedBurstDetector(p),
    new SignInDetector(p),
    new BreakGlassDetector(p),
    new OriginDetector(p),
    new MassActionDetector(p),
    new DormantAccountDetector(p),
  ];
}

/**
 * Runs every detector over audit facts in log order and merges their findings into ranked alert
 * candidates. Pure: no I/O, no clock (time is the facts'), so the monitor (batch by batch, state
 * saved between batches with `snapshot`) and the simulator (a month in one call) get the same
 * answers for the same facts. The monitor's own `privacy_*` entries are skipped.
 */
export class PrivacyEngine {
  private readonly p: DetectorParams;
  private readonly detectors: Detector[];
  private readonly onFinding: PrivacyEngineOptions['onFinding'];
  private hour = -1;
  private open = new Map<string, OpenCandidate>();

  constructor(opts: PrivacyEngineOptions = {}) {
    this.p = opts.params ?? PARAMS;
    this.detectors = opts.detectors ?? defaultDetectors(this.p);
    this.onFinding = opts.onFinding;
  }

  /**
   * Feeds facts (log order) and returns the candidates raised or changed by them, at or above
   * `alertThreshold`, highest score first; each at most once, in its latest form.
   */
  run(facts: Iterable<AuditFact>, ctx: DetectorContext, suppressions: readonly Suppression[] = []): AlertCandidate[] {
    const changed = new Map<string, OpenCandidate>();
    for (const f of facts) this.step(f, ctx, suppressions, changed);
    return this.rank(changed);
  }

  /** One fact; the same as `run([f], …)`. */
  observe(f: AuditFact, ctx: DetectorContext, suppressions: readonly Suppression[] = []): AlertCandidate[] {
    const changed = new Map<string, OpenCandidate>();
    this.step(f, ctx, suppressions, changed);
    return this.rank(changed);
  }

  private step(
    f: AuditFact,
    ctx: DetectorContext,
    suppressions: readonly Suppression[],
    changed: Map<string, OpenCandidate>,
  ): void {
    if (isMonitorOwn(f.action)) return;
    const hour = Math.floor(f.at / HOUR_MS);
    if (hour > this.hour) {
      if (this.hour >= 0) {
        const now = hour * HOUR_MS;
        for (const d of this.detectors) {
          const found = d.advance?.(now, ctx);
          if (found) for (const x of found) this.take(x, suppressions, changed);
        }
        for (const [k, c] of this.open) if (c.firstAt <= now - this.p.mergeWindowMs) this.open.delete(k);
      }
      this.hour = hour;
    }
    for (const d of this.detectors) {
      const found = d.observe(f, ctx);
      for (let i = 0; i < found.length; i++) this.take(found[i]!, suppressions, changed);
    }
  }

  private take(x: Finding, suppressions: readonly Suppression[], changed: Map<string, OpenCandidate>): void {
    const suppressed = suppressions.some((s) => matches(s, x));
    this.onFinding?.(x, suppressed);
    if (suppressed) return;
    const ok = `${x.tenantId}|${x.subject}`;
    let c = this.open.get(ok);
    if (c && x.at - c.firstAt >= this.p.mergeWindowMs) {
      this.open.delete(ok);
      c = undefined;
    }
    if (!c) {
      c = {
        tenantId: x.tenantId,
        subject: x.subject,
        firstAt: x.at,
        lastAt: x.at,
        key: `${x.subject}:${utcDay(x.at)}`,
        findings: [],
        raised: false,
      };
      this.open.set(ok, c);
    }
    const i = c.findings.findIndex(([k]) => k === x.key);
    if (i >= 0) {
      const prev = c.findings[i]![1];
      c.findings[i] = [
        x.key,
        { ...x, score: Math.max(prev.score, x.score), evidence: capEvidence([...prev.evidence, ...x.evidence]) },
      ];
    } else c.findings.push([x.key, x]);
    if (x.at > c.lastAt) c.lastAt = x.at;
    if (x.at < c.firstAt) c.firstAt = x.at;
    if (this.scoreOf(c) >= this.p.alertThreshold) {
      c.raised = true;
      // By the candidate's key, not its subject: one batch may hold two of a subject's candidates
      // (days apart), and the earlier must still be handed out when the later replaces it in `open`.
      changed.set(`${c.tenantId}|${c.key}`, c);
    }
  }

  private scoreOf(c: OpenCandidate): number {
    let keep = 1;
    for (const [, f] of c.findings) keep *= 1 - this.p.weights[f.detector] * Math.min(1, Math.max(0, f.score));
    return Math.round(1000 * (1 - keep)) / 10;
  }

  private rank(changed: Map<string, OpenCandidate>): AlertCandidate[] {
    return [...changed.values()]
      .map((c) => this.view(c))
      .sort((a, b) => b.score - a.score || a.firstAt - b.firstAt || (a.key < b.key ? -1 : 1));
  }

  private view(c: OpenCandidate): AlertCandidate {
    const fs = c.findings.map(([, f]) => f).sort((a, b) => b.score - a.score || a.at - b.at);
    return {
      tenantId: c.tenantId,
      subject: c.subject,
      detectors: [...new Set(fs.map((f) => f.detector))].sort(),
      score: this.scoreOf(c),
      firstAt: c.firstAt,
      lastAt: c.lastAt,
      reasons: [...new Set(fs.map((f) => `${f.detector}: ${f.reason}`))].slice(0, 20),
      evidence: capEvidence(fs.flatMap((f) => f.evidence)),
      key: c.key,
    };
  }

  /** Candidates currently open (raised or not): the merge window of each subject's latest. */
  openCandidates(): AlertCandidate[] {
    return [...this.open.values()].filter((c) => c.raised).map((c) => this.view(c));
  }

  /**
   * All state (every detector's, the open candidates, the stream's hour) as one JSON-serialisable
   * value. It shares structure with the live state: serialise it before feeding more facts.
   */
  snapshot(): unknown {
    const detectors: Record<string, unknown> = {};
    for (const d of this.detectors) detectors[d.ids.join('+')] = d.snapshot();
    return { v: 1, hour: this.hour, detectors, open: [...this.open.values()] } satisfies EngineState;
  }

  /** Replaces all state with a `snapshot` (after its JSON round trip); `null` starts afresh. */
  restore(state: unknown): void {
    const st = state as EngineState | null;
    if (st !== null && (typeof st !== 'object' || st.v !== 1)) throw new Error('privacy engine state: unknown version');
    this.hour = st?.hour ?? -1;
    this.open = new Map((st?.open ?? []).map((c) => [`${c.tenantId}|${c.subject}`, c]));
    for (const d of this.detectors) d.restore(st?.detectors[d.ids.join('+')] ?? null);
  }
}

function matches(s: Suppression, f: Finding): boolean {
  if (!s.detector && !s.subject) return false;
  if (s.tenantId !== undefined && s.tenantId !== f.tenantId) return false;
  if (s.detector && s.detector !== f.detector) return false;
  if (s.subject && s.subject !== f.subject) return false;
  return f.at < s.expiresAt;
}
