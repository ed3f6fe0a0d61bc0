import { describe, expect, it } from 'vitest';
import type { Appointment } from 'fhir/r4.js';
import { appointmentFromFhir, appointmentToFhir } from './appointment.js';
import { externalIdOf, fhirAppointmentId } from './fhir-appointments.js';

const base = (over: Partial<Appointment> = {}): Appointment => ({
  resourceType: 'Appointment',
  status: 'booked',
  start: '2031-02-03T15:30:00-06:00',
  end: '2031-02-03T16:00:00-06:00',
  participant: [
    { actor: { reference: 'Patient/p-1' }, status: 'accepted' },
    { actor: { reference: 'Location/l-1', display: 'Clinic A' }, status: 'accepted' },
    { actor: { type: 'Practitioner', display: 'Dr. Who' }, status: 'accepted' },
  ],
  patientInstruction: 'Fasting',
  comment: 'internal',
  ...over,
});
const refused = (a: Appointment) => {
  try {
    appointmentFromFhir(a);
  } catch (e) {
    expect(e).toMatchObject({ code: 'SP_FHIR_INVALID_RESOURCE' });
    return (e as { detail: string }).detail;
  }
  throw new Error('accepted');
};

describe('FHIR Appointment ↔ Sealpost appointment', () => {
  it('maps the patient, times, location, clinician and patient instruction (never the staff comment)', () => {
    expect(appointmentFromFhir(base({ identifier: [{ system: 'urn:s', value: 'A1' }] }))).toEqual({
      patientId: 'p-1',
      input: {
        patientId: 'p-1',
        start: '2031-02-03T15:30:00-06:00',
        end: '2031-02-03T16:00:00-06:00',
        location: 'Clinic A',
        clinicianName: 'Dr. Who',
        instructions: 'Fasting',
      },
      extras: { status: 'booked', identifiers: [{ system: 'urn:s', value: 'A1' }] },
    });
  });

  it('needs exactly one Patient participant, a start with an offset and an end after it', () => {
    expect(refused(base({ participant: [{ actor: { display: 'x' }, status: 'accepted' }] }))).toMatch(
      /^Appointment.participant: exactly one/,
    );
    const two = base();
    two.participant.push({ actor: { reference: 'Patient/p-2' }, status: 'accepted' });
    expect(refused(two)).toMatch(/exactly one/);
    expect(refused(base({ participant: [{ actor: { reference: 'Group/g' }, status: 'accepted' }] }))).toMatch(
      /participant\[0\].actor.reference/,
    );
    expect(refused(base({ start: undefined }))).toMatch(/^Appointment.start: is required/);
    expect(refused(base({ start: '2031-02-03T15:30:00' }))).toMatch(/offset/);
    expect(refused(base({ end: '2031-02-03T15:00:00-06:00' }))).toMatch(/^Appointment.end: must be after start/);
    expect(refused(base({ identifier: [{ value: 'x' }] }))).toMatch(/identifier\[0\]/);
  });

  it('answers the status written last when the stored state agrees with it', () => {
    const d = { ...appointmentFromFhir(base()).input, fhir: { status: 'noshow' as const } };
    const row = { startMs: 0, updatedAtMs: 5 };
    expect(appointmentToFhir('fa-1', d, { ...row, cancelled: true }).status).toBe('noshow');
    expect(appointmentToFhir('fa-1', d, { ...row, cancelled: false }).status).toBe('booked');
    const rest = appointmentFromFhir(base()).input; // booked through /v1: no FHIR status
    expect(appointmentToFhir('a', rest, { ...row, cancelled: true }).status).toBe('cancelled');
    const out = appointmentToFhir('a', rest, { ...row, cancelled: false });
    expect(out).toMatchObject({
      meta: { versionId: '5' },
      participant: [
        { actor: { reference: 'Patient/p-1' } },
        { actor: { type: 'Location', display: 'Clinic A' } },
        { actor: { type: 'Practitioner', display: 'Dr. Who' } },
      ],
      patientInstruction: 'Fasting',
    });
  });

  it('gives every external id a FHIR id, and back', () => {
    const hl7 = `hl7-${'0123456789abcdef'.repeat(4)}`;
    expect(fhirAppointmentId(hl7)).toMatch(/^z\.hl7\./);
    for (const ext of [
      'fa-0123',
      'appt:42',
      'x.literal',
      'z.hl7.AAAA',
      'a_b',
      'SCH.1-2',
      hl7,
      `ab-${'f'.repeat(80)}`,
    ]) {
      const id = fhirAppointmentId(ext)!;
      expect(id).toMatch(/^[A-Za-z0-9.-]{1,64}$/);
      expect(externalIdOf(id)).toBe(ext);
    }
    expect(fhirAppointmentId('fa-0123')).toBe('fa-0123');
    expect(fhirAppointmentId('x'.repeat(40) + ':')).toBeNull();
  });
});
