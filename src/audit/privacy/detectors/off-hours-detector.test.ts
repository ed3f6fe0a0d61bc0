import { describe, expect, it } from 'vitest';
import { DAY, FactStream, HOUR, MINUTE, T0 } from './fact-builder.js';
import { OffHoursDetector } from './off-hours-detector.js';

function shifts(s: FactStream, actor: string, days: number, hours: number[]) {
  for (let d = 0; d < days; d++)
    for (const h of hours)
      for (let i = 0; i < 4; i++) s.read(T0 + d * DAY + h * HOUR + i * 10 * MINUTE, actor, `p${i}`);
}

const run = (s: FactStream) => {
  const d = new OffHoursDetector();
  return s.facts.flatMap((f) => d.observe(f));
};

describe('off-hours detector', () => {
  it('fires when a day worker reads records at 2 a.m.', () => {
    const s = new FactStream();
    shifts(s, 'user:day', 14, [8, 9, 10, 11, 12, 13, 14, 15]);
    const at = T0 + 14 * DAY + 2 * HOUR;
    for (let i = 0; i < 4; i++) s.read(at + i * MINUTE, 'user:day', `x${i}`);
    const found = run(s);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ detector: 'off_hours', subject: 'user:day', score: 0.75 });
    expect(found[0]!.reason).toMatch(/at 02:00 UTC; 0% of the person's 112 active hours/);
  });

  it('stays quiet for a night-shift nurse at 3 a.m. (her usual hours are learned)', () => {
    const s = new FactStream();
    shifts(s, 'user:night', 14, [0, 1, 2, 3, 4, 5, 22, 23]);
    for (let i = 0; i < 6; i++) s.read(T0 + 14 * DAY + 3 * HOUR + i * MINUTE, 'user:night', `x${i}`);
    expect(run(s)).toEqual([]);
  });

  it('stays quiet for a shift that starts an hour early, and for one look at night', () => {
    const s = new FactStream();
    shifts(s, 'user:day', 14, [8, 9, 10, 11, 12, 13, 14, 15]);
    for (let i = 0; i < 5; i++) s.read(T0 + 14 * DAY + 7 * HOUR + i * MINUTE, 'user:day', `x${i}`);
    s.read(T0 + 15 * DAY + 2 * HOUR, 'user:day', 'on-call');
    expect(run(s)).toEqual([]);
  });

  it('does not judge a person in their first days', () => {
    const s = new FactStream();
    shifts(s, 'user:new', 5, [9, 10]);
    for (let i = 0; i < 5; i++) s.read(T0 + 5 * DAY + 2 * HOUR + i * MINUTE, 'user:new', `x${i}`);
    expect(run(s)).toEqual([]);
  });
});
