import { describe, expect, it } from 'vitest';
import { FactStream, HOUR, MINUTE, T0 } from './fact-builder.js';
import { RefusedBurstDetector } from './refused-burst-detector.js';

const denied = (s: FactStream, at: number, actor: string, patient: string | null) =>
  s.add({
    at,
    actor,
    action: 'access.denied',
    outcome: 'failure',
    patient,
    details: { code: 'SP_AUTH_NO_RELATIONSHIP', method: 'GET', route: '/v1/patients/:id' },
  });

describe('refused-access burst detector', () => {
  it('fires on five refusals across patients within 15 minutes', () => {
    const s = new FactStream();
    for (let i = 0; i < 5; i++) denied(s, T0 + i * 2 * MINUTE, 'user:r', `p${i}`);
    const d = new RefusedBurstDetector();
    const found = s.facts.flatMap((f) => d.observe(f));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ detector: 'refused_burst', subject: 'user:r', evidence: [0, 1, 2, 3, 4] });
    expect(found[0]!.reason).toBe('5 refused accesses in 15 min (5 patients; SP_AUTH_NO_RELATIONSHIP)');
  });

  it('counts refused break-glass attempts too', () => {
    const s = new FactStream();
    for (let i = 0; i < 3; i++) denied(s, T0 + i * MINUTE, 'user:r', 'p1');
    for (let i = 0; i < 2; i++)
      s.add({
        at: T0 + (5 + i) * MINUTE,
        actor: 'user:r',
        action: 'access.break_glass',
        outcome: 'failure',
        patient: 'p2',
        details: { code: 'SP_AUTH_MFA_FAILED' },
      });
    const d = new RefusedBurstDetector();
    expect(s.facts.flatMap((f) => d.observe(f)).map((f) => f.detector)).toEqual(['refused_burst']);
  });

  it('stays quiet on a few refusals, or the same number spread over the day', () => {
    const s = new FactStream();
    for (let i = 0; i < 4; i++) denied(s, T0 + i * MINUTE, 'user:a', 'p1');
    for (let i = 0; i < 8; i++) denied(s, T0 + i * HOUR, 'user:b', `p${i}`);
    // Unauthenticated callers are not written by B's path; were one there, it is not a person.
    for (let i = 0; i < 8; i++) denied(s, T0 + i * 1000, 'anonymous', null);
    const d = new RefusedBurstDetector();
    expect(s.facts.flatMap((f) => d.observe(f))).toEqual([]);
  });
});
