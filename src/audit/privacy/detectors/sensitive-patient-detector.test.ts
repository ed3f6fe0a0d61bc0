import { describe, expect, it } from 'vitest';
import { FactStream, T0, tableContext } from './fact-builder.js';
import { SensitivePatientDetector } from './sensitive-patient-detector.js';

const ctx = tableContext(
  { 'user:rec': ['receptionist'], 'user:nurse': ['nurse'], 'user:doc': ['physician', 'admin'] },
  { vip: 'vip', colleague: 'staff' },
);

describe('sensitive patient detector', () => {
  it('fires when someone outside the clinical roles reads a flagged patient', () => {
    const s = new FactStream();
    s.read(T0, 'user:rec', 'vip');
    s.add({ at: T0 + 1, actor: 'user:rec', action: 'patient.contact_points_read', patient: 'colleague' });
    const found = s.facts.flatMap((f) => new SensitivePatientDetector().observe(f, ctx));
    expect(found.map((f) => [f.subject, f.score])).toEqual([
      ['user:rec', 0.8],
      ['user:rec', 0.8],
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
    expect(s.facts.flatMap((f) => new SensitivePatientDetector().observe(f, ctx))).toEqual([]);
  });

  it('fires on break-glass to a flagged patient, even by a clinician', () => {
    const s = new FactStream();
    s.add({
      at: T0,
      actor: 'user:nurse',
      action: 'access.break_glass',
      patient: 'vip',
      targetType: 'break_glass_grant',
    });
    s.read(T0 + 1, 'user:nurse', 'vip', { details: { breakGlass: 'g1' } });
    const found = s.facts.flatMap((f) => new SensitivePatientDetector().observe(f, ctx));
    expect(found).toHaveLength(2);
    expect(found.every((f) => f.score === 0.9 && /break-glass/.test(f.reason))).toBe(true);
    expect(new Set(found.map((f) => f.key)).size).toBe(1);
  });
});
