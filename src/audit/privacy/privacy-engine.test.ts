import { describe, expect, it } from 'vitest';
import { encodeAuditEntry } from '../audit-entry.js';
import { AuditFactError, parseFact, type AuditFact } from './audit-fact.js';
import type { Finding } from './detector.js';
import { DAY, FactStream, HOUR, MINUTE, T0, seeded, tableContext } from './detectors/fact-builder.js';
import { PARAMS } from './detector-params.js';
import { PrivacyEngine, type AlertCandidate } from './privacy-engine.js';

const PARAMS_LOW = { ...PARAMS, alertThreshold: 70 };

const roles: Record<string, string[]> = { 'user:rec': ['receptionist'] };
for (let p = 0; p < 12; p++) roles[`user:n${p}`] = ['nurse'];
const ctx = tableContext(roles, { vip: 'vip' });

/** A month of a small ward (day and night nurses), with incidents of several kinds, in time order. */
function month(): AuditFact[] {
  const s = new FactStream();
  const rnd = seeded(42);
  for (let d = 0; d < 30; d++) {
    for (let p = 0; p < 12; p++) {
      const start = p < 8 ? 7 : 19;
      for (let h = 0; h < 8; h++) {
        const n = 5 + Math.floor(rnd() * 15);
        for (let i = 0; i < n; i++)
          s.read(
            T0 + d * DAY + (start + h) * HOUR + Math.floor(rnd() * HOUR),
            `user:n${p}`,
            `p${p}-${Math.floor(rnd() * 6)}`,
          );
      }
      s.add({
        at: T0 + d * DAY + start * HOUR - MINUTE,
        actor: `user:n${p}`,
        action: 'auth.login_succeeded',
        ip: '198.51.100.1',
      });
    }
    for (let i = 0; i < 20; i++) s.read(T0 + d * DAY + 9 * HOUR + i * 10 * MINUTE, 'user:rec', `r${d}-${i}`);
    for (let i = 0; i < 30; i++)
      s.add({
        at: T0 + d * DAY + i * 30 * MINUTE,
        actor: 'api-key:ehr',
        action: 'notification.created',
        ip: '10.1.1.5',
      });
  }
  // Incidents: a snooping nurse on day 20, the receptionist reading a VIP, stuffing, the EHR key elsewhere.
  for (let i = 0; i < 150; i++) s.read(T0 + 20 * DAY + 10 * HOUR + i * 20_000, 'user:n3', `snoop${i}`);
  s.read(T0 + 21 * DAY + 10 * HOUR, 'user:rec', 'vip');
  for (let i = 0; i < 15; i++)
    s.add({
      at: T0 + 22 * DAY + i * MINUTE,
      actor: 'anonymous',
      action: 'auth.login_failed',
      outcome: 'failure',
      ip: '203.0.113.66',
      targetType: 'login',
      targetId: `h${i}`,
    });
  s.add({ at: T0 + 23 * DAY, actor: 'api-key:ehr', action: 'notification.created', ip: '203.0.113.99' });
  s.add({ at: T0 + 23 * DAY + 1, actor: 'system:privacy', action: 'privacy_alert.raised' });
  const facts = [...s.facts].sort((a, b) => a.at - b.at || a.idx - b.idx);
  return facts.map((f, idx) => ({ ...f, idx }));
}

function latest(batches: AlertCandidate[][]): AlertCandidate[] {
  const m = new Map<string, AlertCandidate>();
  for (const b of batches) for (const c of b) m.set(c.key, c);
  return [...m.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
}

describe('privacy engine', () => {
  it('raises the incidents of a month and nothing about the ward at work', () => {
    const facts = month();
    const all = latest([new PrivacyEngine().run(facts, ctx)]);
    expect(all.map((c) => [c.subject, c.detectors])).toEqual([
      ['api-key:ehr', ['credential_new_origin']],
      ['ip:203.0.113.66', ['credential_stuffing']],
      ['user:n3', ['distinct_patients', 'volume_role', 'volume_self']],
      ['user:rec', ['sensitive_patient']],
    ]);
    const snoop = all.find((c) => c.subject === 'user:n3')!;
    expect(snoop.key).toBe('user:n3:2025-01-26');
    expect(snoop.score).toBeGreaterThan(90);
    expect(snoop.evidence.length).toBeLessThanOrEqual(50);
    expect(snoop.evidence).toEqual([...snoop.evidence].sort((a, b) => a - b));
  });

  it('gives the same alerts when the month is cut into batches with the state saved as JSON between them', () => {
    const facts = month();
    const whole = latest([new PrivacyEngine().run(facts, ctx)]);
    const batches: AlertCandidate[][] = [];
    let state: string | null = null;
    const cuts = [0, 1, 4_000, 11_111, 20_000, 20_001, 29_999, facts.length];
    expect(facts.length).toBeGreaterThan(30_000);
    for (let i = 0; i + 1 < cuts.length; i++) {
      const e = new PrivacyEngine();
      e.restore(state === null ? null : JSON.parse(state));
      batches.push(e.run(facts.slice(cuts[i], cuts[i + 1]), ctx));
      state = JSON.stringify(e.snapshot());
    }
    expect(latest(batches)).toEqual(whole);
  });

  it('merges one subject’s findings within 24 h into one candidate with the combined score', () => {
    const s = new FactStream();
    s.read(T0, 'user:rec', 'vip');
    s.read(T0 + HOUR, 'user:rec', 'vip2');
    s.add({ at: T0 + 2 * HOUR, actor: 'user:n1', action: 'auth.login_succeeded' }); // the grace has passed
    const got = new PrivacyEngine().run(
      s.facts,
      tableContext({ 'user:rec': ['receptionist'] }, { vip: 'vip', vip2: 'flagged' }),
    );
    // 100 × (1 − (1 − 0.9·0.8)(1 − 0.9·0.7)) = 89.6
    expect(got).toEqual([
      expect.objectContaining({
        subject: 'user:rec',
        score: 89.6,
        firstAt: T0,
        lastAt: T0 + HOUR,
        evidence: [0, 1],
        key: 'user:rec:2025-01-06',
      }),
    ]);
  });

  it('hands out every candidate of a subject when one batch holds several of them days apart', () => {
    const s = new FactStream();
    s.read(T0, 'user:rec', 'vip');
    s.read(T0 + 3 * DAY, 'user:rec', 'vip');
    s.read(T0 + 9 * DAY, 'user:rec', 'vip');
    s.add({ at: T0 + 10 * DAY, actor: 'user:n1', action: 'auth.login_succeeded' });
    const got = new PrivacyEngine().run(s.facts, ctx);
    expect(got.map((c) => c.key).sort()).toEqual(['user:rec:2025-01-06', 'user:rec:2025-01-09', 'user:rec:2025-01-15']);
  });

  it('drops findings a live suppression matches, and not after it expires', () => {
    const s = new FactStream();
    s.read(T0, 'user:rec', 'vip');
    s.read(T0 + 2 * DAY, 'user:rec', 'vip');
    s.add({ at: T0 + 3 * DAY, actor: 'user:n1', action: 'auth.login_succeeded' });
    const seen: [Finding, boolean][] = [];
    const e = new PrivacyEngine({ onFinding: (f, suppressed) => seen.push([f, suppressed]) });
    const got = e.run(s.facts, ctx, [
      { detector: 'sensitive_patient', subject: 'user:rec', expiresAt: T0 + DAY },
      { expiresAt: T0 + 9 * DAY },
    ]);
    expect(got.map((c) => c.firstAt)).toEqual([T0 + 2 * DAY]);
    expect(seen.map(([, sup]) => sup)).toEqual([true, false]);
  });

  it('does not raise a candidate below the threshold', () => {
    const s = new FactStream();
    s.read(T0, 'user:rec', 'vip');
    // One flagged-patient finding alone: 100 × 0.9 × 0.7 = 63 < 70.
    const weak = { ...ctx, sensitivity: () => 'flagged' as const };
    expect(new PrivacyEngine({ params: PARAMS_LOW }).run(s.facts, weak)).toEqual([]);
  });
});

describe('audit facts', () => {
  it('parses a canonical entry as the store writes it', () => {
    const { entry } = encodeAuditEntry({
      tenantId: 't1',
      at: new Date(T0),
      actor: 'user:u1',
      action: 'patient.read',
      outcome: 'success',
      targetType: 'patient',
      targetId: 'ref1',
      patientRef: 'ref1',
      sourceIp: '192.0.2.1',
      details: { count: 2 },
    });
    expect(parseFact(7, entry)).toEqual({
      idx: 7,
      tenant: 't1',
      at: T0,
      actor: 'user:u1',
      action: 'patient.read',
      outcome: 'success',
      targetType: 'patient',
      targetId: 'ref1',
      patient: 'ref1',
      ip: '192.0.2.1',
      details: { count: 2 },
    });
  });

  it('refuses text that is not a canonical entry, naming the index', () => {
    expect(() => parseFact(3, '{nope')).toThrow(AuditFactError);
    expect(() => parseFact(3, '{"at":"x","tenant":"t","actor":"a","action":"b","outcome":"success"}')).toThrow(
      /entry 3 .*bad time/,
    );
    expect(() =>
      parseFact(3, '{"at":"2025-01-01T00:00:00Z","tenant":"t","actor":"a","action":"b","outcome":"maybe"}'),
    ).toThrow(/bad outcome/);
  });
});
