import { ACCESS_DENIED, BREAK_GLASS_GRANT, isAccessor, type AuditFact } from '../audit-fact.js';
import { capEvidence, type Detector, type Finding } from '../detector.js';
import { PARAMS, type DetectorParams } from '../detector-params.js';
import { clamp01 } from './stats.js';

interface ActorState {
  /** Refusals in the window, oldest first: [at, idx, code, patientRef or ''] */
  recent: [number, number, string, string][];
  /** Start of the episode that fired and the count it was last sent at (0: none). */
  firedStart: number;
  firedAt: number;
}

/**
 * refused_burst: an authenticated actor refused again and again in a short window: `access.denied`
 * (403: no care-team relationship, missing permission; written by the error path) and refused
 * break-glass (wrong second factor). One refusal is a mis-click; a run of them across patients is
 * someone trying doors.
 */
export class RefusedBurstDetector implements Detector {
  readonly ids = ['refused_burst'] as const;
  private actors = new Map<string, ActorState>();

  constructor(private readonly p: DetectorParams = PARAMS) {}

  observe(f: AuditFact): Finding[] {
    const refused = f.action === ACCESS_DENIED || (f.action === BREAK_GLASS_GRANT && f.outcome === 'failure');
    if (!refused || !isAccessor(f.actor)) return [];
    const p = this.p;
    const key = `${f.tenant}|${f.actor}`;
    let s = this.actors.get(key);
    if (!s) this.actors.set(key, (s = { recent: [], firedStart: 0, firedAt: 0 }));
    const code = typeof f.details?.code === 'string' ? f.details.code : f.action;
    s.recent.push([f.at, f.idx, code, f.patient ?? '']);
    while (s.recent.length > 0 && s.recent[0]![0] <= f.at - p.refusedWindowMs) s.recent.shift();
    if (s.recent.length > 4 * p.refusedMin + 200) s.recent.shift();
    const n = s.recent.length;
    if (s.firedAt && f.at - s.firedStart > p.refusedWindowMs && n < p.refusedMin) s.firedAt = 0;
    if (n < p.refusedMin || (s.firedAt && n < 2 * s.firedAt)) return [];
    if (!s.firedAt) s.firedStart = s.recent[0]![0];
    s.firedAt = n;
    const patients = new Set(s.recent.map((r) => r[3]).filter(Boolean)).size;
    const codes = [...new Set(s.recent.map((r) => r[2]))].sort().join(', ');
    return [
      {
        detector: 'refused_burst',
        tenantId: f.tenant,
        subject: f.actor,
        at: f.at,
        windowStart: s.recent[0]![0],
        score: clamp01(0.6 + 0.05 * (n - p.refusedMin) + 0.05 * patients),
        reason: `${n} refused accesses in ${p.refusedWindowMs / 60_000} min (${patients} patients; ${codes})`,
        evidence: capEvidence(s.recent.map((r) => r[1])),
        key: `refused_burst:${f.actor}:${s.firedStart}`,
      },
    ];
  }

  advance(nowMs: number): Finding[] {
    for (const [k, s] of this.actors)
      if (s.recent.length === 0 || s.recent[s.recent.length - 1]![0] <= nowMs - this.p.refusedWindowMs)
        this.actors.delete(k);
    return [];
  }

  snapshot(): unknown {
    return { actors: [...this.actors] };
  }

  restore(state: unknown): void {
    this.actors = new Map(((state ?? { actors: [] }) as { actors: [string, ActorState][] }).actors);
  }
}
