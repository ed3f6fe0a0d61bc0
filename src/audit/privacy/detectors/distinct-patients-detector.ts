import { isPhiAccess, type AuditFact } from '../audit-fact.js';
import { HOUR_MS, capEvidence, type Detector, type Finding } from '../detector.js';
import { PARAMS, type DetectorParams } from '../detector-params.js';
import { clamp01, quantile, ringPush, type Ring } from './stats.js';

interface ActorState {
  /** Recent accesses, oldest first: [at, idx, patientRef]. */
  recent: [number, number, string][];
  /** The open hour and the patients seen in it (closed into `hist` as a distinct count). */
  hour: number;
  hourRefs: string[];
  hist: Ring;
  /** The window start of the episode that fired and the distinct count it fired at (0: none). */
  firedStart: number;
  firedAt: number;
}

/**
 * distinct_patients: how many different patients one actor touched in a sliding window. Fires at
 * `distinctMin` and at `distinctSelfRatio` × the person's own usual (the 90th percentile of distinct
 * patients in their active hours), so a registration clerk who checks in 20 patients an hour is
 * measured against that, and a nurse with 6 patients is not allowed 24.
 */
export class DistinctPatientsDetector implements Detector {
  readonly ids = ['distinct_patients'] as const;
  private actors = new Map<string, ActorState>();
  /** Runtime only: per actor, patient → occurrences in `recent` (rebuilt from it on restore). */
  private counts = new Map<string, Map<string, number>>();
  private hourSets = new Map<string, Set<string>>();

  constructor(private readonly p: DetectorParams = PARAMS) {}

  observe(f: AuditFact): Finding[] {
    if (!isPhiAccess(f)) return [];
    const p = this.p;
    const key = `${f.tenant}|${f.actor}`;
    const ref = f.patient!;
    let s = this.actors.get(key);
    const hour = Math.floor(f.at / HOUR_MS);
    if (!s) {
      s = { recent: [], hour, hourRefs: [], hist: { buf: [], pos: 0 }, firedStart: 0, firedAt: 0 };
      this.actors.set(key, s);
    }
    const counts = this.countsOf(key, s);
    let hs = this.hourSetOf(key, s);
    if (hour > s.hour) {
      ringPush(s.hist, hs.size, p.distinctHistoryHours);
      s.hour = hour;
      s.hourRefs = [];
      hs = new Set();
      this.hourSets.set(key, hs);
    }
    if (!hs.has(ref)) {
      hs.add(ref);
      s.hourRefs.push(ref);
    }
    s.recent.push([f.at, f.idx, ref]);
    counts.set(ref, (counts.get(ref) ?? 0) + 1);
    const from = f.at - p.distinctWindowMs;
    while (s.recent.length > 0 && (s.recent[0]![0] <= from || s.recent.length > p.distinctRing)) {
      const [, , old] = s.recent.shift()!;
      const n = counts.get(old)! - 1;
      if (n === 0) counts.delete(old);
      else counts.set(old, n);
    }
    const distinct = counts.size;
    if (distinct < p.distinctMin) {
      if (s.firedAt && f.at - s.firedStart > p.distinctWindowMs) s.firedAt = 0;
      return [];
    }
    const usual = s.hist.buf.length >= 8 ? quantile(s.hist.buf, 0.9) : 0;
    const bar = Math.max(p.distinctMin, Math.ceil(p.distinctSelfRatio * usual));
    if (distinct < bar) return [];
    // One episode per burst: re-sent (same key) only when the count has grown by half again.
    if (s.firedAt && distinct < 1.5 * s.firedAt) return [];
    if (!s.firedAt) s.firedStart = s.recent[0]![0];
    s.firedAt = distinct;
    return [
      {
        detector: 'distinct_patients',
        tenantId: f.tenant,
        subject: f.actor,
        at: f.at,
        windowStart: s.recent[0]![0],
        score: clamp01(0.6 + (0.4 * (distinct - bar)) / (2 * bar)),
        reason: `${distinct} distinct patients in ${p.distinctWindowMs / 60_000} min; usual ${usual} per active hour`,
        evidence: capEvidence(s.recent.map((r) => r[1])),
        key: `distinct_patients:${f.actor}:${s.firedStart}`,
      },
    ];
  }

  private countsOf(key: string, s: ActorState): Map<string, number> {
    let c = this.counts.get(key);
    if (!c) {
      c = new Map();
      for (const [, , ref] of s.recent) c.set(ref, (c.get(ref) ?? 0) + 1);
      this.counts.set(key, c);
    }
    return c;
  }

  private hourSetOf(key: string, s: ActorState): Set<string> {
    let h = this.hourSets.get(key);
    if (!h) this.hourSets.set(key, (h = new Set(s.hourRefs)));
    return h;
  }

  advance(nowMs: number): Finding[] {
    const oldest = Math.floor((nowMs - this.p.stateTtlMs) / HOUR_MS);
    for (const [k, s] of this.actors)
      if (s.hour < oldest) {
        this.actors.delete(k);
        this.counts.delete(k);
        this.hourSets.delete(k);
      } else if (s.recent.length > 0 && s.recent[s.recent.length - 1]![0] <= nowMs - this.p.distinctWindowMs) {
        // The window is empty now: drop the accesses (and their counts) rather than keep them till the next one.
        s.recent = [];
        this.counts.delete(k);
      }
    return [];
  }

  snapshot(): unknown {
    return { actors: [...this.actors] };
  }

  restore(state: unknown): void {
    const st = (state ?? { actors: [] }) as { actors: [string, ActorState][] };
    this.actors = new Map(st.actors);
    this.counts.clear();
    this.hourSets.clear();
  }
}
