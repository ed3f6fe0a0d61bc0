import { isAccessor, type AuditFact } from '../audit-fact.js';
import { DAY_MS, type Detector, type Finding } from '../detector.js';
import { PARAMS, type DetectorParams } from '../detector-params.js';

/**
 * dormant_account: a person, API key or SMART client that did nothing successful for `dormantMs`
 * (90 days) acting again: a leaver's account or a forgotten integration key reused. Failed attempts
 * are not activity (they neither wake an account nor count as its last use). An account never seen
 * in the log before is not dormant: the state is the last successful activity per actor, one number
 * per account, kept as long as the account acts (accounts are bounded; a year of silence drops it).
 */
export class DormantAccountDetector implements Detector {
  readonly ids = ['dormant_account'] as const;
  private last = new Map<string, number>();

  constructor(private readonly p: DetectorParams = PARAMS) {}

  observe(f: AuditFact): Finding[] {
    if (f.outcome !== 'success' || !isAccessor(f.actor)) return [];
    const key = `${f.tenant}|${f.actor}`;
    const prev = this.last.get(key);
    if (prev === undefined || f.at > prev) this.last.set(key, f.at);
    if (prev === undefined || f.at - prev < this.p.dormantMs) return [];
    const days = Math.floor((f.at - prev) / DAY_MS);
    return [
      {
        detector: 'dormant_account',
        tenantId: f.tenant,
        subject: f.actor,
        at: f.at,
        windowStart: prev,
        score: Math.min(1, 0.7 + 0.1 * Math.floor(days / 90 - 1)),
        reason: `first activity (${f.action}) after ${days} days without any`,
        evidence: [f.idx],
        key: `dormant_account:${f.actor}:${prev}`,
      },
    ];
  }

  advance(nowMs: number): Finding[] {
    for (const [k, at] of this.last) if (at < nowMs - 365 * DAY_MS) this.last.delete(k);
    return [];
  }

  snapshot(): unknown {
    return { last: [...this.last] };
  }

  restore(state: unknown): void {
    this.last = new Map(((state ?? { last: [] }) as { last: [string, number][] }).last);
  }
}
