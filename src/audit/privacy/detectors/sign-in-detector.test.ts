import { describe, expect, it } from 'vitest';
import { FactStream, MINUTE, T0 } from './fact-builder.js';
import { SignInDetector } from './sign-in-detector.js';

const fail = (s: FactStream, at: number, ip: string, login: string) =>
  s.add({
    at,
    actor: 'anonymous',
    action: 'auth.login_failed',
    outcome: 'failure',
    ip,
    targetType: 'login',
    targetId: login,
    details: { reason: 'unknown_account' },
  });
const ok = (s: FactStream, at: number, ip: string, user: string) =>
  s.add({ at, actor: user, action: 'auth.login_succeeded', ip, targetType: 'session', targetId: 's' });

const run = (s: FactStream) => {
  const d = new SignInDetector();
  return s.facts.flatMap((f) => d.observe(f));
};

describe('sign-in detector', () => {
  it('fires credential_stuffing on one address failing across ten accounts within an hour', () => {
    const s = new FactStream();
    for (let i = 0; i < 12; i++) fail(s, T0 + i * MINUTE, '203.0.113.9', `h${i}`);
    const found = run(s);
    expect(found.map((f) => [f.detector, f.subject])).toEqual([['credential_stuffing', 'ip:203.0.113.9']]);
    expect(found[0]!.reason).toBe(
      '10 failed sign-ins on 10 accounts from one address in 60 min (100% of its attempts)',
    );
  });

  it("stays quiet on a hospital's shared address where most sign-ins succeed", () => {
    const s = new FactStream();
    for (let i = 0; i < 120; i++) {
      ok(s, T0 + i * 20_000, '198.51.100.1', `user:u${i}`);
      if (i % 8 === 0)
        s.add({
          at: T0 + i * 20_000 + 1,
          actor: `user:u${i}`,
          action: 'auth.login_failed',
          outcome: 'failure',
          ip: '198.51.100.1',
          targetType: 'user',
          targetId: `u${i}`,
          details: { reason: 'bad_password' },
        });
    }
    expect(run(s)).toEqual([]);
  });

  it('fires account_many_addresses on one account failing from five addresses', () => {
    const s = new FactStream();
    for (let i = 0; i < 5; i++)
      s.add({
        at: T0 + i * MINUTE,
        actor: 'user:u1',
        action: 'auth.login_failed',
        outcome: 'failure',
        ip: `192.0.2.${i + 1}`,
        targetType: 'user',
        targetId: 'u1',
      });
    const found = run(s);
    expect(found.map((f) => [f.detector, f.subject])).toEqual([['account_many_addresses', 'user:u1']]);
  });

  it('stays quiet on a person mistyping from a phone and a desk', () => {
    const s = new FactStream();
    for (let i = 0; i < 6; i++) fail(s, T0 + i * MINUTE, i % 2 ? '192.0.2.1' : '192.0.2.2', 'h1');
    expect(run(s)).toEqual([]);
  });
});
