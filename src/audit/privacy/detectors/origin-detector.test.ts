import { describe, expect, it } from 'vitest';
import { DAY, FactStream, HOUR, T0 } from './fact-builder.js';
import { OriginDetector } from './origin-detector.js';

const use = (s: FactStream, at: number, actor: string, ip: string, cert?: string) =>
  s.add({ at, actor, action: 'notification.created', ip, ...(cert ? { details: { certThumbprint: cert } } : {}) });

const run = (s: FactStream) => {
  const d = new OriginDetector();
  return s.facts.flatMap((f) => d.observe(f));
};

describe('credential origin detector', () => {
  it("learns a new API key's addresses in its first week, then fires once on a new network", () => {
    const s = new FactStream();
    for (let i = 0; i < 5; i++) use(s, T0 + i * DAY, 'api-key:k1', `10.0.${i}.7`);
    use(s, T0 + 8 * DAY, 'api-key:k1', '10.0.3.99'); // same /24 as a learned one
    use(s, T0 + 9 * DAY, 'api-key:k1', '203.0.113.5');
    use(s, T0 + 9 * DAY + HOUR, 'api-key:k1', '203.0.113.6');
    const found = run(s);
    expect(found.map((f) => [f.subject, f.evidence])).toEqual([['api-key:k1', [6]]]);
    expect(found[0]!.reason).toBe('api-key used from a new address after its learning period (5 known)');
  });

  it('fires on a client certificate never presented before, and on IPv6 by /64', () => {
    const s = new FactStream();
    use(s, T0, 'client:c1', '2001:db8:1:2::10', 'aa11');
    use(s, T0 + 8 * DAY, 'client:c1', '2001:db8:1:2:ffff::1', 'aa11');
    use(s, T0 + 9 * DAY, 'client:c1', '2001:db8:1:2::10', 'bb22');
    use(s, T0 + 9 * DAY, 'client:c1', '2001:db8:9::1', 'aa11');
    expect(run(s).map((f) => [f.evidence[0], f.reason.split(' from ')[1]])).toEqual([
      [2, 'a new client certificate after its learning period (2 known)'],
      [3, 'a new address after its learning period (3 known)'],
    ]);
  });

  it('ignores people: their addresses change all day', () => {
    const s = new FactStream();
    use(s, T0, 'user:u', '10.0.0.1');
    use(s, T0 + 30 * DAY, 'user:u', '203.0.113.1');
    expect(run(s)).toEqual([]);
  });
});
