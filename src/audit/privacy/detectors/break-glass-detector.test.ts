import { describe, expect, it } from 'vitest';
import { BreakGlassDetector } from './break-glass-detector.js';
import { DAY, FactStream, HOUR, T0 } from './fact-builder.js';

const grant = (s: FactStream, at: number, actor: string) =>
  s.add({
    at,
    actor,
    action: 'access.break_glass',
    patient: `p${at}`,
    targetType: 'break_glass_grant',
    targetId: `g${at}`,
  });

const run = (s: FactStream) => {
  const d = new BreakGlassDetector();
  return s.facts.flatMap((f) => d.observe(f));
};

describe('break-glass detector', () => {
  it('fires on a third grant in a day by someone who never uses it', () => {
    const s = new FactStream();
    for (let i = 0; i < 3; i++) grant(s, T0 + i * HOUR, 'user:rec');
    const found = run(s);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ detector: 'break_glass', subject: 'user:rec', evidence: [0, 1, 2] });
    expect(found[0]!.reason).toBe('3 break-glass grants in 24 h; usual 0 a day over the previous 30 days');
  });

  it("stays quiet on an emergency physician's routine and fires past four times it", () => {
    const s = new FactStream();
    for (let d = 0; d < 30; d++) for (let i = 0; i < 2; i++) grant(s, T0 + d * DAY + (8 + i) * HOUR, 'user:ed');
    const quiet = run(s);
    expect(quiet).toEqual([]);
    for (let i = 0; i < 8; i++) grant(s, T0 + 31 * DAY + i * HOUR, 'user:ed');
    expect(run(s).map((f) => f.reason)).toEqual([
      '8 break-glass grants in 24 h; usual 2 a day over the previous 30 days',
    ]);
  });

  it('does not count refused break-glass attempts as grants', () => {
    const s = new FactStream();
    for (let i = 0; i < 5; i++)
      s.add({ at: T0 + i, actor: 'user:x', action: 'access.break_glass', outcome: 'failure', patient: 'p' });
    expect(run(s)).toEqual([]);
  });
});
