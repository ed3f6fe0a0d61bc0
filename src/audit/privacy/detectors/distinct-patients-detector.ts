import { isPhiAccess, type AuditFact } from '../audit-fact.js';
import { HOUR_MS, capEvidence, type Detector, type Finding } from '../detector.js';
import { PARAMS, type DetectorParams } from '../detector-params.js';
import { clamp01, quantile, ringPush, type Ring } from './stats.js';

interface ActorState {
  /** Recent accesses of the long window, oldest first: [at, idx, patientRef]. */
  recent: [number, number, string][];
  /** How many of `recent` (from the front) are older than the short window. */
  shortFrom: number;
  /** The open hour and the patients seen in it (closed into `hist` as a distinct count). */
  hour: number;
  hourRefs: string[];
  hist: Ring;
  /** The window start of the episode that fired and the distinct count it fired at (0: none). */
  firedStart: number;
  firedAt: number;
}

/**
 * distinct_patients: how many different patients one actor touched in two sliding windows, half an
 * hour (`distinctWindowMs`, fires at `distinctMin`) and an hour (`distinctLongWindowMs`, fires at
 * `distinctLongMin`: the slow snooper who keeps under the half-hour bar), each also at least
 * `distinctSelfRatio` × the person's own usual (the 90th percentile of distinct patients in their
 * active hours), so a registration clerk who checks in 20 patients an hour is measured against that,
 * and a nurse with 6 patients is not allowed 24.
 */
export class DistinctPatientsDetector implements Detector {
  readonly ids = ['distinct_patients'] as const;
  private actors = new Map<string, ActorState>();
  /** Runtime only: per actor, patient → occurrences in `recent` (rebuilt from it on restore). */
  private counts = new Map<string, Map<string, number>>();
  /** Runtime only: the same for the short window (`recent` after `shortFrom`). */
  private shortCounts = new Map<string, Map<string, number>>();
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
      s = { recent: [], shortFrom: 0, hour, hourRefs: [], hist: { buf: [], pos: 0 }, firedStart: 0, firedAt: 0 };
      this.actors.set(key, s);
    }
    const counts = this.countsOf(key, s);
    const shortCounts = this.shortCountsOf(key, s);
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
    shortCounts.set(ref, (shortCounts.get(ref) ?? 0) + 1);
    const from = f.at - p.distinctLongWindowMs;
    while (s.recent.length > 0 && (s.recent[0]![0] <= from || s.recent.length > p.distinctRing)) {
      const [, , old] = s.recent.shift()!;
      dec(counts, old);
      if (s.shortFrom > 0) s.shortFrom--;
      else dec(shortCounts, old);
    }
    const shortStart = f.at - p.distinctWindowMs;
    while (s.shortFrom < s.recent.length && s.recent[s.shortFrom]![0] <= shortStart)
      dec(shortCounts, s.recent[s.shortFrom++]![2]);
    const short = shortCounts.size;
    const long = counts.size;
    if (short < p.distinctMin && long < p.distinctLongMin) {
      if (s.firedAt && f.at - s.firedStart > p.distinctLongWindowMs) s.firedAt = 0;
      return [];
    }
    const usual = s.hist.buf.length >= 8 ? quantile(s.hist.buf, 0.9) : 0;
    const self = Math.ceil(p.distinctSelfRatio * usual);
    const shortBar = Math.max(p.distinctMin, self);
    const longBar = Math.max(p.distinctLongMin, self);
    let distinct: number, bar: number, windowMs: number, first: number;
    if (short >= shortBar) [distinct, bar, windowMs, first] = [short, shortBar, p.distinctWindowMs, s.shortFrom];
    else if (long >= longBar) [distinct, bar, windowMs, first] = [long, longBar, p.distinctLongWindowMs, 0];
    else return [];
    // One episode per burst: re-sent (same key) only when the count has grown by half again.
    if (s.firedAt && distinct < 1.5 * s.firedAt) return [];
    const windowStart = s.recent[first]![0];
    if (!s.firedAt) s.firedStart = windowStart;
    s.firedAt = distinct;
    return [
      {
        detector: 'distinct_patients',
        tenantId: f.tenant,
        subject: f.actor,
        at: f.at,
        windowStart,
        score: clamp01(0.6 + (0.4 * (distinct - bar)) / (2 * bar)),
        reason: `${distinct} distinct patients in ${windowMs / 60_000} min; usual ${usual} per active hour`,
        evidence: capEvidence(s.recent.slice(first).map((r) => r[1])),
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

  private shortCountsOf(key: string, s: ActorState): Map<string, number> {
    let c = this.shortCounts.get(key);
    if (!c) {
      c = new Map();
      for (let i = s.shortFrom; i < s.recent.length; i++) c.set(s.recent[i]![2], (c.get(s.recent[i]![2]) ?? 0) + 1);
      this.shortCounts.set(key, c);
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
        this.shortCounts.delete(k);
        this.hourSets.delete(k);
      } else if (s.recent.length > 0 && s.recent[s.recent.length - 1]![0] <= nowMs - this.p.distinctLongWindowMs) {
        // The windows are empty now: drop the accesses (and their counts) rather than keep them till the next one.
        s.recent = [];
        s.shortFrom = 0;
        this.counts.delete(k);
        this.shortCounts.delete(k);
      }
    return [];
  }

  snapshot(): unknown {
    return { actors: [...this.actors] };
  }

  restore(state: unknown): void {
    const st = (state ?? { actors: [] }) as { actors: [string, ActorState][] };
    this.actors = new Map(st.actors);
    for (const [, a] of this.actors) a.shortFrom ??= 0; // state saved before the long window existed
    this.counts.clear();
    this.shortCounts.clear();
    this.hourSets.clear();
  }
}

function dec(m: Map<string, number>, ref: string): void {
  const n = m.get(ref)! - 1;
  if (n === 0) m.delete(ref);
  else m.set(ref, n);
}
