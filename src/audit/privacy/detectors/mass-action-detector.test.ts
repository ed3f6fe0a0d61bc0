import { describe, expect, it } from 'vitest';
import { DAY, FactStream, HOUR, MINUTE, T0 } from './fact-builder.js';
import { MassActionDetector } from './mass-action-detector.js';

const run = (s: FactStream) => {
  const d = new MassActionDetector();
  return s.facts.flatMap((f) => d.observe(f));
};

describe('mass action detector', () => {
  it('fires on 150 PHI reads in ten minutes', () => {
    const s = new FactStream();
    for (let i = 0; i < 160; i++) s.read(T0 + i * 3_000, 'api-key:scraper', `p${i}`);
    const found = run(s);
    expect(found.map((f) => f.reason)).toEqual(['150 PHI accesses in 10 min']);
  });

  it('fires on exports disclosing many records and on five erasures a day', () => {
    const s = new FactStream();
    for (let i = 0; i < 3; i++)
      s.add({
        at: T0 + i * MINUTE,
        actor: 'user:a',
        action: 'notification.searched',
        details: { filterHash: 'h', resultCount: 800 },
      });
    for (let i = 0; i < 5; i++)
      s.add({
        at: T0 + i * HOUR,
        actor: 'user:admin',
        action: 'patient.erased',
        patient: `p${i}`,
        targetType: 'patient',
      });
    expect(run(s).map((f) => [f.subject, f.reason])).toEqual([
      ['user:a', '3 exports or searches disclosing 2400 records in 60 min'],
      ['user:admin', '5 patient erasures in 1440 min'],
    ]);
  });

  it('stays quiet on a busy day spread out, and on the erasure worker', () => {
    const s = new FactStream();
    for (let i = 0; i < 600; i++) s.read(T0 + i * 30_000, 'user:n', `p${i % 40}`);
    for (let i = 0; i < 4; i++)
      s.add({ at: T0 + i * HOUR, actor: 'user:admin', action: 'patient.erased', patient: `p${i}` });
    for (let i = 0; i < 4; i++)
      s.add({ at: T0 + 2 * DAY + i * HOUR, actor: 'user:admin', action: 'patient.erased', patient: `q${i}` });
    for (let i = 0; i < 9; i++)
      s.add({ at: T0 + i, actor: 'system:worker', action: 'patient.erased', patient: `w${i}` });
    expect(run(s)).toEqual([]);
  });
});
