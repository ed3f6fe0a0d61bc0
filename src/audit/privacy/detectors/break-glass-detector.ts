import { BREAK_GLASS_GRANT, actorKind, type AuditFact } from '../audit-fact.js';
import { DAY_MS, type Detector, type Finding, utcDay } from '../detector.js';
import { PARAMS, type DetectorParams } from '../detector-params.js';
import { clamp01, round1 } from './stats.js';

interface ActorState {
  /** Grants taken, oldest first: [at, idx]; pruned past the norm window. */
  grants: [number, number][];
}

/**
 * break_glass: a person taking more break-glass grants in 24 h than their own norm allows. Every
 * grant already raises an operational alert for its review (break-glass-service); this detector is
 * about the pattern: `breakGlassMin` grants in a day from someone who rarely uses it, or
 * `breakGlassRatio` × their daily rate over the previous 30 days from someone who does (an emergency
 * physician's routine is not an incident; a receptionist's third grant today is).
 */
export class BreakGlassDetector implements Detector {
  readonly ids = ['break_glass'] as const;
  private actors = new Map<string, ActorState>();

  constructor(private readonly p: DetectorParams = PARAMS) {}

  observe(f: AuditFact): Finding[] {
    if (f.action !== BREAK_GLASS_GRANT || f.outcome !== 'success' || actorKind(f.actor) !== 'person') return [];
    const p = this.p;
    const key = `${f.tenant}|${f.actor}`;
    let s = this.actors.get(key);
    if (!s) this.actors.set(key, (s = { grants: [] }));
    s.grants.push([f.at, f.idx]);
    const normFrom = f.at - p.breakGlassWindowMs - p.breakGlassNormMs;
    while (s.grants.length > 0 && (s.grants[0]![0] <= normFrom || s.grants.length > p.breakGlassRing)) s.grants.shift();
    const dayFrom = f.at - p.breakGlassWindowMs;
    const today = s.grants.filter((g) => g[0] > dayFrom);
    const before = s.grants.length - today.length;
    const rate = before / (p.breakGlassNormMs / DAY_MS);
    const bar = Math.max(p.breakGlassMin, Math.ceil(p.breakGlassRatio * rate));
    if (today.length < bar) return [];
    return [
      {
        detector: 'break_glass',
        tenantId: f.tenant,
        subject: f.actor,
        at: f.at,
        windowStart: today[0]![0],
        score: clamp01(0.6 + (0.4 * (today.length - bar)) / (bar + 2)),
        reason: `${today.length} break-glass grants in 24 h; usual ${round1(rate)} a day over the previous 30 days`,
        evidence: today.map((g) => g[1]).slice(-50),
        key: `break_glass:${f.actor}:${utcDay(today[0]![0])}`,
      },
    ];
  }

  advance(nowMs: number): Finding[] {
    const from = nowMs - this.p.breakGlassWindowMs - this.p.breakGlassNormMs;
    for (const [k, s] of this.actors)
      if (s.grants.length === 0 || s.grants[s.grants.length - 1]![0] <= from) this.actors.delete(k);
    return [];
  }

  snapshot(): unknown {
    return { actors: [...this.actors] };
  }

  restore(state: unknown): void {
    this.actors = new Map(((state ?? { actors: [] }) as { actors: [string, ActorState][] }).actors);
  }
}
