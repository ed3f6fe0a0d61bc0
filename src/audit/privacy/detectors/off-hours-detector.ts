import { isPhiAccess, type AuditFact } from '../audit-fact.js';
import { DAY_MS, HOUR_MS, capEvidence, utcDay, type Detector, type Finding } from '../detector.js';
import { PARAMS, type DetectorParams } from '../detector-params.js';

interface ActorState {
  /** Active hours per hour of the day (UTC), halved when the total passes the cap. */
  hod: number[];
  /** Distinct days with any access (the warm-up). */
  days: number;
  lastDay: number;
  /** The open hour: its index, accesses and evidence; `fired` once it raised a finding. */
  hour: number;
  count: number;
  ev: number[];
  fired: boolean;
}

/**
 * off_hours: PHI access in an hour of the day the person has (almost) never worked. The usual hours
 * are learned per person (a histogram of their active hours by hour of the day, the hour and its two
 * neighbours together so a shift that starts early or a DST change does not count), so a night nurse
 * at 3 a.m. is at work, not off hours. The open hour joins the histogram when it closes: an incident
 * is judged against the hours before it.
 */
export class OffHoursDetector implements Detector {
  readonly ids = ['off_hours'] as const;
  private actors = new Map<string, ActorState>();

  constructor(private readonly p: DetectorParams = PARAMS) {}

  observe(f: AuditFact): Finding[] {
    if (!isPhiAccess(f)) return [];
    const p = this.p;
    const key = `${f.tenant}|${f.actor}`;
    const hour = Math.floor(f.at / HOUR_MS);
    let s = this.actors.get(key);
    if (!s) {
      s = { hod: new Array<number>(24).fill(0), days: 0, lastDay: -1, hour, count: 0, ev: [], fired: false };
      this.actors.set(key, s);
    } else if (hour > s.hour) {
      this.close(s);
      s.hour = hour;
      s.count = 0;
      s.ev = [];
      s.fired = false;
    }
    const day = Math.floor(f.at / DAY_MS);
    if (day > s.lastDay) {
      s.days++;
      s.lastDay = day;
    }
    s.count++;
    if (s.ev.length < 50) s.ev.push(f.idx);
    if (s.fired || s.count < p.offHoursMinCount || s.days <= p.offHoursWarmupDays) return [];
    const h = s.hour % 24;
    const total = s.hod.reduce((a, b) => a + b, 0);
    const near = s.hod[(h + 23) % 24]! + s.hod[h]! + s.hod[(h + 1) % 24]!;
    const share = total > 0 ? near / total : 0;
    if (share >= p.offHoursMaxShare) return [];
    s.fired = true;
    return [
      {
        detector: 'off_hours',
        tenantId: f.tenant,
        subject: f.actor,
        at: f.at,
        windowStart: s.hour * HOUR_MS,
        score: share === 0 ? 0.75 : 0.6,
        reason: `${s.count} PHI accesses at ${String(h).padStart(2, '0')}:00 UTC; ${Math.round(share * 1000) / 10}% of the person's ${Math.round(total)} active hours fall within an hour of it`,
        evidence: capEvidence(s.ev),
        key: `off_hours:${f.actor}:${utcDay(f.at)}`,
      },
    ];
  }

  private close(s: ActorState): void {
    s.hod[s.hour % 24]!++;
    if (s.hod.reduce((a, b) => a + b, 0) > this.p.offHoursHistogramCap) s.hod = s.hod.map((n) => n / 2);
  }

  advance(nowMs: number): Finding[] {
    const oldest = Math.floor((nowMs - this.p.stateTtlMs) / HOUR_MS);
    for (const [k, s] of this.actors) if (s.hour < oldest) this.actors.delete(k);
    return [];
  }

  snapshot(): unknown {
    return { actors: [...this.actors] };
  }

  restore(state: unknown): void {
    this.actors = new Map(((state ?? { actors: [] }) as { actors: [string, ActorState][] }).actors);
  }
}
