import { describe, expect, it } from 'vitest';
import type { DetectorContext, Finding } from '../detector.js';
import { DAY, FactStream, HOUR, MINUTE, T0, seeded, tableContext } from './fact-builder.js';
import { VolumeDetector } from './volume-detector.js';

function runAll(d: VolumeDetector, s: FactStream, ctx: DetectorContext): Finding[] {
  return s.facts.flatMap((f) => d.observe(f, ctx));
}

/** `perHour(day, hour)` accesses spread over the hour, for each day and each working hour. */
function workDays(
  s: FactStream,
  actor: string,
  days: number,
  hours: number[],
  perHour: (d: number) => number,
  fromDay = 0,
) {
  const rnd = seeded(actor.length * 7 + days);
  for (let d = fromDay; d < fromDay + days; d++)
    for (const h of hours) {
      const n = perHour(d);
      for (let i = 0; i < n; i++)
        s.read(T0 + d * DAY + h * HOUR + Math.floor((i * HOUR) / n), actor, `p${Math.floor(rnd() * 40)}`);
    }
}

describe('volume detector', () => {
  const ctx = tableContext({ 'user:nurse': ['nurse'], 'user:clerk': ['billing'], 'user:new': ['billing'] });

  it("fires volume_self when a quiet person's hour far exceeds their own baseline", () => {
    const s = new FactStream();
    workDays(s, 'user:clerk', 10, [9, 10, 11, 13, 14], () => 6);
    const at = T0 + 10 * DAY + 10 * HOUR;
    for (let i = 0; i < 120; i++) s.read(at + i * 20_000, 'user:clerk', `x${i}`);
    const found = runAll(new VolumeDetector(), s, ctx).filter((f) => f.detector === 'volume_self');
    expect(found.length).toBeGreaterThan(0);
    expect(found[0]).toMatchObject({ subject: 'user:clerk', key: `volume_self:user:clerk:${Math.floor(at / HOUR)}` });
    expect(found[0]!.reason).toMatch(/PHI accesses this hour; usual 6/);
    expect(found[0]!.evidence.every((i) => s.facts[i]!.at >= at)).toBe(true);
  });

  it('stays quiet for a nurse on a busy ward whose busy hour is within her own range', () => {
    const s = new FactStream();
    const rnd = seeded(3);
    workDays(s, 'user:nurse', 20, [7, 8, 9, 10, 11, 12, 13, 14], () => 30 + Math.floor(rnd() * 25));
    // A heavy day: 80 an hour is busy for her, not an incident.
    workDays(s, 'user:nurse', 1, [7, 8], () => 80, 20);
    expect(runAll(new VolumeDetector(), s, ctx).filter((f) => f.detector === 'volume_self')).toEqual([]);
  });

  it('does not judge a person against their own baseline before the warm-up', () => {
    const s = new FactStream();
    for (let i = 0; i < 300; i++) s.read(T0 + i * 10_000, 'user:clerk', `x${i}`);
    expect(runAll(new VolumeDetector(), s, ctx).filter((f) => f.detector === 'volume_self')).toEqual([]);
  });

  it("fires volume_role for a newcomer far above the role's hours, and not for one within them", () => {
    const s = new FactStream();
    const rnd = seeded(9);
    for (let p = 0; p < 8; p++) workDays(s, `user:b${p}`, 6, [9, 10, 11, 14], () => 5 + Math.floor(rnd() * 6));
    const roles: Record<string, string[]> = { 'user:new': ['billing'], 'user:ok': ['billing'] };
    for (let p = 0; p < 8; p++) roles[`user:b${p}`] = ['billing'];
    const at = T0 + 7 * DAY + 9 * HOUR;
    for (let i = 0; i < 12; i++) s.read(at + i * MINUTE, 'user:ok', `o${i}`);
    for (let i = 0; i < 200; i++) s.read(at + i * 15_000, 'user:new', `n${i}`);
    const found = runAll(new VolumeDetector(), s, tableContext(roles));
    expect(found.length).toBeGreaterThan(0);
    expect(new Set(found.map((f) => `${f.detector} ${f.subject}`))).toEqual(new Set(['volume_role user:new']));
    expect(found[0]!.reason).toMatch(/role billing usual/);
  });

  it('sends a repeat of the same hour under the same key only when the count doubles', () => {
    const s = new FactStream();
    workDays(s, 'user:clerk', 10, [9, 10, 11], () => 4);
    const at = T0 + 10 * DAY + 10 * HOUR;
    for (let i = 0; i < 400; i++) s.read(at + i * 5_000, 'user:clerk', `x${i}`);
    const found = runAll(new VolumeDetector(), s, ctx).filter((f) => f.detector === 'volume_self');
    expect(new Set(found.map((f) => f.key)).size).toBe(1);
    expect(found.length).toBeGreaterThan(1);
    expect(found.length).toBeLessThanOrEqual(4);
  });
});
