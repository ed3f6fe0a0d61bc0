import { describe, expect, it } from 'vitest';
import type { AuditFact } from '../audit-fact.js';
import type { Finding } from '../detector.js';
import { DAY, FactStream, HOUR, MINUTE, T0, tableContext } from './fact-builder.js';
import { SensitivePatientDetector } from './sensitive-patient-detector.js';

const ctx = tableContext(
  {
    'user:rec': ['receptionist'],
    'user:rec2': ['receptionist'],
    'user:nurse': ['nurse'],
    'user:doc': ['physician', 'admin'],
    'user:bill': ['billing'],
  },
  { vip: 'vip', colleague: 'staff' },
);

/** One detector over the stream, then the stream's time moves a day on (pending findings come out). */
function run(facts: AuditFact[], d = new SensitivePatientDetector()): Finding[] {
  const found = facts.flatMap((f) => d.observe(f, ctx));
  return [...found, ...d.advance(facts[facts.length - 1]!.at + DAY)];
}

const book = (s: FactStream, at: number, actor: string, patient: string) =>
  s.add({ at, actor, action: 'appointment.booked', patient, targetType: 'appointment', targetId: `a-${at}` });

describe('sensitive patient detector', () => {
  it('fires when someone outside the clinical roles reads a flagged patient with no reason in the log', () => {
    const s = new FactStream();
    s.read(T0, 'user:rec', 'vip');
    s.add({ at: T0 + 1, actor: 'user:rec', action: 'patient.contact_points_read', patient: 'colleague' });
    const found = run(s.facts);
    expect(found.map((f) => [f.subject, f.score, f.evidence])).toEqual([
      ['user:rec', 0.8, [0]],
      ['user:rec', 0.8, [1]],
    ]);
    expect(found[1]!.reason).toMatch(/flagged staff by a person outside the clinical roles \(receptionist\)/);
    expect(found[0]!.reason).not.toMatch(/vip\b.*vip/);
  });

  it('stays quiet for the care team (a clinician without break-glass), credentials and unflagged patients', () => {
    const s = new FactStream();
    s.read(T0, 'user:nurse', 'vip');
    s.read(T0, 'user:doc', 'colleague');
    s.read(T0, 'api-key:ehr', 'vip');
    s.read(T0, 'user:rec', 'ordinary');
    s.add({ at: T0, actor: 'user:rec', action: 'patient.read', patient: 'vip', outcome: 'failure' });
    expect(run(s.facts)).toEqual([]);
  });

  it('fires on break-glass to a flagged patient, even by a clinician on the schedule', () => {
    const s = new FactStream();
    book(s, T0 - HOUR, 'user:nurse', 'vip');
    s.add({
      at: T0,
      actor: 'user:nurse',
      action: 'access.break_glass',
      patient: 'vip',
      targetType: 'break_glass_grant',
    });
    s.read(T0 + 1, 'user:nurse', 'vip', { details: { breakGlass: 'g1' } });
    const found = run(s.facts);
    expect(found).toHaveLength(2);
    expect(found.every((f) => f.score === 0.9 && /break-glass/.test(f.reason))).toBe(true);
    expect(new Set(found.map((f) => f.key)).size).toBe(1);
  });

  it('stays quiet when the receptionist books the patient right after looking them up, not when nothing follows', () => {
    const s = new FactStream();
    s.add({ at: T0, actor: 'user:rec', action: 'patient.looked_up', patient: 'colleague' });
    s.read(T0 + MINUTE, 'user:rec', 'colleague');
    book(s, T0 + 3 * MINUTE, 'user:rec', 'colleague');
    // Beside it, another receptionist opens the VIP and books nothing (a booking 20 min later is too late).
    s.read(T0 + 2 * MINUTE, 'user:rec2', 'vip');
    s.add({ at: T0 + 22 * MINUTE, actor: 'user:bill', action: 'notification.searched' });
    book(s, T0 + 22 * MINUTE, 'user:rec2', 'vip');
    const found = run(s.facts);
    expect(found.map((f) => [f.subject, f.evidence])).toEqual([['user:rec2', [3]]]);
  });

  it('stays quiet for the person’s own earlier workflow with the patient, and fires for a patient they never dealt with', () => {
    const s = new FactStream();
    s.add({ at: T0, actor: 'user:bill', action: 'notification.created', patient: 'colleague' });
    s.add({
      at: T0,
      actor: 'api-key:adt',
      action: 'care_team.member_added',
      patient: 'vip',
      targetType: 'user',
      targetId: 'rec',
    });
    s.read(T0 + 5 * DAY, 'user:bill', 'colleague');
    s.read(T0 + 5 * DAY, 'user:rec', 'vip');
    s.read(T0 + 5 * DAY + HOUR, 'user:bill', 'vip');
    expect(run(s.facts).map((f) => [f.subject, f.evidence])).toEqual([['user:bill', [4]]]);
  });

  it('stays quiet while the patient is on the schedule, and fires once the booking is older than the schedule window', () => {
    const s = new FactStream();
    book(s, T0, 'api-key:ehr', 'vip');
    s.read(T0 + 3 * DAY, 'user:rec', 'vip');
    s.read(T0 + 25 * DAY, 'user:rec', 'vip');
    expect(run(s.facts).map((f) => f.evidence)).toEqual([[2]]);
  });

  it('gives the same findings when its state is saved as JSON while a finding waits out its grace', () => {
    const s = new FactStream();
    s.read(T0, 'user:rec', 'vip');
    s.read(T0 + MINUTE, 'user:rec2', 'colleague');
    book(s, T0 + 5 * MINUTE, 'user:rec2', 'colleague');
    s.add({ at: T0 + HOUR, actor: 'user:bill', action: 'notification.searched' });
    const whole = run(s.facts);
    const first = new SensitivePatientDetector();
    const before = s.facts.slice(0, 2).flatMap((f) => first.observe(f, ctx));
    const second = new SensitivePatientDetector();
    second.restore(JSON.parse(JSON.stringify(first.snapshot())));
    expect([...before, ...run(s.facts.slice(2), second)]).toEqual(whole);
    expect(whole.map((f) => f.subject)).toEqual(['user:rec']);
  });
});
