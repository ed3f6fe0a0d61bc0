import { ERASURE_ACTIONS, EXPORT_ACTIONS, isPhiAccess, type AuditFact } from '../audit-fact.js';
import { capEvidence, type Detector, type Finding } from '../detector.js';
import { PARAMS, type DetectorParams } from '../detector-params.js';
import { clamp01 } from './stats.js';

type Kind = 'read' | 'export' | 'erasure';

interface KindState {
  /** [at, idx, records] oldest first, pruned past the kind's window. */
  recent: [number, number, number][];
  records: number;
  firedStart: number;
  /** The measure (count or records) the episode was last sent at, 0 when none. */
  firedAt: number;
}

/**
 * mass_action: bulk work by one actor, whoever they are: PHI reads at script speed (`massReads` in
 * 10 min), exports (archive exports, notification searches: `massExports` in an hour or
 * `massExportRecords` records disclosed), patient erasures (`massErasures` in 24 h). Absolute bars,
 * no baseline: no one's normal is reading 150 records in 10 minutes or erasing five patients a day.
 */
export class MassActionDetector implements Detector {
  readonly ids = ['mass_action'] as const;
  private state = new Map<string, KindState>();

  constructor(private readonly p: DetectorParams = PARAMS) {}

  observe(f: AuditFact): Finding[] {
    const kind: Kind | null = isPhiAccess(f)
      ? 'read'
      : f.outcome === 'success' && EXPORT_ACTIONS.has(f.action) && exporter(f.actor)
        ? 'export'
        : f.outcome === 'success' && ERASURE_ACTIONS.has(f.action) && exporter(f.actor)
          ? 'erasure'
          : null;
    if (!kind) return [];
    const p = this.p;
    const window =
      kind === 'read' ? p.massReadWindowMs : kind === 'export' ? p.massExportWindowMs : p.massErasureWindowMs;
    const key = `${f.tenant}|${f.actor}|${kind}`;
    let s = this.state.get(key);
    if (!s) this.state.set(key, (s = { recent: [], records: 0, firedStart: 0, firedAt: 0 }));
    const records = kind === 'export' ? recordsOf(f) : 0;
    s.recent.push([f.at, f.idx, records]);
    s.records += records;
    const cap = kind === 'read' ? 4 * p.massReads : 4 * Math.max(p.massExports, p.massErasures) + 100;
    while (s.recent.length > 0 && (s.recent[0]![0] <= f.at - window || s.recent.length > cap))
      s.records -= s.recent.shift()![2];
    const n = s.recent.length;
    const bar = kind === 'read' ? p.massReads : kind === 'export' ? p.massExports : p.massErasures;
    const hit = n >= bar || (kind === 'export' && s.records >= p.massExportRecords);
    const measure = Math.max(n / bar, kind === 'export' ? s.records / p.massExportRecords : 0);
    if (!hit) {
      if (s.firedAt && f.at - s.firedStart > window) s.firedAt = 0;
      return [];
    }
    if (s.firedAt && measure < 2 * s.firedAt) return [];
    if (!s.firedAt) s.firedStart = s.recent[0]![0];
    s.firedAt = measure;
    const span = `${window / 60_000} min`;
    return [
      {
        detector: 'mass_action',
        tenantId: f.tenant,
        subject: f.actor,
        at: f.at,
        windowStart: s.recent[0]![0],
        score: clamp01(kind === 'erasure' ? 0.8 + 0.05 * (n - bar) : 0.65 + 0.15 * (measure - 1)),
        reason:
          kind === 'read'
            ? `${n} PHI accesses in ${span}`
            : kind === 'export'
              ? `${n} exports or searches disclosing ${s.records} records in ${span}`
              : `${n} patient erasures in ${span}`,
        evidence: capEvidence(s.recent.map((r) => r[1])),
        key: `mass_action:${kind}:${f.actor}:${s.firedStart}`,
      },
    ];
  }

  advance(nowMs: number): Finding[] {
    const p = this.p;
    for (const [k, s] of this.state) {
      const window = k.endsWith('|read')
        ? p.massReadWindowMs
        : k.endsWith('|export')
          ? p.massExportWindowMs
          : p.massErasureWindowMs;
      if (s.recent.length === 0 || s.recent[s.recent.length - 1]![0] <= nowMs - window) this.state.delete(k);
    }
    return [];
  }

  snapshot(): unknown {
    return { state: [...this.state] };
  }

  restore(state: unknown): void {
    this.state = new Map(((state ?? { state: [] }) as { state: [string, KindState][] }).state);
  }
}

/** Exports and erasures count for anyone but the server's own workers and patients. */
function exporter(actor: string): boolean {
  return !actor.startsWith('system:') && !actor.startsWith('patient') && actor !== 'anonymous';
}

function recordsOf(f: AuditFact): number {
  const d = f.details;
  const n = typeof d?.resultCount === 'number' ? d.resultCount : typeof d?.records === 'number' ? d.records : 0;
  return Number.isFinite(n) && n > 0 ? n : 0;
}
