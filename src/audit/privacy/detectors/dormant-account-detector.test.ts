import { describe, expect, it } from 'vitest';
import { DormantAccountDetector } from './dormant-account-detector.js';
import { DAY, FactStream, T0 } from './fact-builder.js';

const run = (s: FactStream) => {
  const d = new DormantAccountDetector();
  return s.facts.flatMap((f) => d.observe(f));
};

describe('dormant account detector', () => {
  it('fires when an account silent for 90 days acts again', () => {
    const s = new FactStream();
    s.add({ at: T0, actor: 'user:leaver', action: 'auth.login_succeeded' });
    s.add({ at: T0 + 100 * DAY, actor: 'user:leaver', action: 'auth.login_succeeded' });
    s.read(T0 + 100 * DAY + 1, 'user:leaver', 'p1');
    const found = run(s);
    expect(found.map((f) => [f.subject, f.reason])).toEqual([
      ['user:leaver', 'first activity (auth.login_succeeded) after 100 days without any'],
    ]);
  });

  it('stays quiet on 80 days of leave, on accounts never seen before and on failed attempts', () => {
    const s = new FactStream();
    s.add({ at: T0, actor: 'user:a', action: 'auth.login_succeeded' });
    s.add({ at: T0 + 80 * DAY, actor: 'user:a', action: 'auth.login_succeeded' });
    s.add({ at: T0, actor: 'user:b', action: 'auth.login_succeeded' });
    s.add({ at: T0 + 95 * DAY, actor: 'user:b', action: 'auth.login_failed', outcome: 'failure' });
    s.add({ at: T0 + 200 * DAY, actor: 'user:c', action: 'auth.login_succeeded' });
    s.add({ at: T0 + 200 * DAY, actor: 'system:worker', action: 'delivery.sent' });
    expect(run(s)).toEqual([]);
  });
});
