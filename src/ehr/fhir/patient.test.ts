import { describe, expect, it } from 'vitest';
import type { Patient } from 'fhir/r4.js';
import { mergedPatientToFhir, patientFromFhir, patientToFhir, TIMEZONE_EXTENSION } from './patient.js';

const now = new Date('2026-06-01T00:00:00Z');
const base = (over: Partial<Patient> = {}): Patient => ({
  resourceType: 'Patient',
  name: [{ family: 'Doe', given: ['Jane'] }],
  birthDate: '1980-02-29',
  extension: [{ url: TIMEZONE_EXTENSION, valueCode: 'America/Chicago' }],
  ...over,
});
const refused = (p: Patient, current?: { timeZone: string }) => {
  try {
    patientFromFhir(p, { now, ...(current ? { current } : {}) });
  } catch (e) {
    expect(e).toMatchObject({ code: 'SP_FHIR_INVALID_RESOURCE' });
    return (e as { detail: string }).detail;
  }
  throw new Error('accepted');
};

describe('FHIR Patient → Sealpost patient', () => {
  it('keeps one name, the birth date, the zone, the language and the identifiers', () => {
    const input = patientFromFhir(
      base({
        name: [
          { use: 'old', family: 'Maiden' },
          { use: 'usual', given: ['Janie'] },
          { use: 'official', family: 'Doe', given: ['Jane', ''], text: 'Jane Doe' },
        ],
        identifier: [{ system: 'urn:oid:1.2', value: 'MRN1', type: { text: 'MR' } }],
        communication: [
          { language: { coding: [{ code: 'fr' }] } },
          { language: { coding: [{ code: 'es-MX' }] }, preferred: true },
        ],
      }),
      { now },
    );
    expect(input).toEqual({
      name: { family: 'Doe', given: ['Jane'], text: 'Jane Doe' },
      birthDate: '1980-02-29',
      telecom: [],
      language: 'es',
      timeZone: 'America/Chicago',
      identifiers: [{ system: 'urn:oid:1.2', value: 'MRN1' }],
    });
  });

  it('texts mobile (or unlabelled) phones, mails e-mail addresses, and keeps no home, work, old or ended number', () => {
    const input = patientFromFhir(
      base({
        telecom: [
          { system: 'phone', use: 'home', value: '+15550001' },
          { system: 'phone', use: 'work', value: '+15550002' },
          { system: 'phone', use: 'mobile', value: '+15550003', rank: 2 },
          { system: 'phone', value: '+15550004' },
          { system: 'email', value: 'a@example.com', rank: 1 },
          { system: 'email', use: 'old', value: 'old@example.com' },
          { system: 'phone', use: 'mobile', value: '+15550005', period: { end: '2020-01-01' } },
          { system: 'fax', value: '+15550006' },
          { system: 'url', value: 'https://hooks.example.com/x' },
        ],
      }),
      { now },
    );
    expect(input.telecom).toEqual([
      { system: 'email', value: 'a@example.com', rank: 1 },
      { system: 'sms', value: '+15550003', rank: 2 },
      { system: 'sms', value: '+15550004', rank: 3 },
      { system: 'webhook', value: 'https://hooks.example.com/x', rank: 4 },
    ]);
  });

  it('needs the time-zone extension on create, keeps the stored zone on update, and falls back to English', () => {
    expect(refused(base({ extension: undefined }))).toMatch(/time-zone extension .* is required on create/);
    const input = patientFromFhir(base({ extension: undefined }), { now, current: { timeZone: 'Europe/Madrid' } });
    expect(input.timeZone).toBe('Europe/Madrid');
    expect(input.language).toBe('en');
    expect(input.identifiers).toBeUndefined(); // absent: the stored identifiers stay
  });

  it('refuses what Sealpost cannot keep, naming the element and never the value', () => {
    expect(refused(base({ name: undefined }))).toMatch(/^Patient.name: is required/);
    expect(refused(base({ name: [{ use: 'old', family: 'X' }] }))).toMatch(/^Patient.name: is required/);
    expect(refused(base({ name: [{ prefix: ['Dr'] }] }))).toMatch(/^Patient.name\[0\]/);
    expect(refused(base({ birthDate: undefined }))).toMatch(/^Patient.birthDate: is required/);
    expect(refused(base({ birthDate: '1980-02' }))).toMatch(/^Patient.birthDate: must be a full date/);
    expect(refused(base({ active: false }))).toMatch(/^Patient.active/);
    expect(refused(base({ identifier: [{ system: 'urn:x' }] }))).toBe(
      'Patient.identifier[0]: needs both system and value',
    );
    const twice = [
      { url: TIMEZONE_EXTENSION, valueCode: 'UTC' },
      { url: TIMEZONE_EXTENSION, valueCode: 'UTC' },
    ];
    expect(refused(base({ extension: twice }))).toMatch(/at most one/);
    expect(refused(base({ extension: [{ url: TIMEZONE_EXTENSION, valueString: 'UTC' }] }))).toMatch(/valueCode/);
  });
});

describe('Sealpost patient → FHIR Patient', () => {
  it('answers the stored patient as R4 with its version, and a merged one as an inactive replaced-by stub', () => {
    const p = patientToFhir(
      {
        id: 'p-1',
        name: { given: ['Jane'], family: 'Doe' },
        birthDate: '1980-02-29',
        telecom: [
          { system: 'sms', value: '+15550003', rank: 1 },
          { system: 'email', value: 'a@example.com', rank: 2 },
        ],
        language: 'es',
        timeZone: 'America/Chicago',
        identifiers: [{ system: 'urn:oid:1.2', value: 'MRN1' }],
      },
      1_780_000_000_000,
    );
    expect(p).toMatchObject({
      id: 'p-1',
      meta: { versionId: '1780000000000', lastUpdated: new Date(1_780_000_000_000).toISOString() },
      active: true,
      telecom: [
        { system: 'phone', use: 'mobile', value: '+15550003', rank: 1 },
        { system: 'email', value: 'a@example.com', rank: 2 },
      ],
      communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'es' }] }, preferred: true }],
      extension: [{ url: TIMEZONE_EXTENSION, valueCode: 'America/Chicago' }],
    });
    expect(mergedPatientToFhir('p-old', 'p-new')).toEqual({
      resourceType: 'Patient',
      id: 'p-old',
      active: false,
      link: [{ other: { reference: 'Patient/p-new' }, type: 'replaced-by' }],
    });
  });
});
