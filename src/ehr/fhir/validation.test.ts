import { describe, expect, it } from 'vitest';
import { validateResource } from './validation.js';

const invalid = (type: Parameters<typeof validateResource>[0], body: unknown) => {
  try {
    validateResource(type, body);
  } catch (e) {
    expect(e).toMatchObject({ code: 'SP_FHIR_INVALID_RESOURCE' });
    return (e as { detail: string }).detail;
  }
  throw new Error('accepted');
};

describe('FHIR R4 validation against the official JSON Schema', () => {
  it('accepts valid R4 resources of each accepted type', () => {
    validateResource('Patient', {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:oid:1.2.3', value: 'MRN1' }],
      name: [{ family: 'Doe', given: ['Jane'] }],
      birthDate: '1980-02-29',
      telecom: [{ system: 'phone', use: 'mobile', value: '+15555550100' }],
      extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/timezone', valueCode: 'America/Chicago' }],
      _birthDate: { extension: [{ url: 'http://example.org/x', valueString: 'y' }] },
    });
    validateResource('Appointment', {
      resourceType: 'Appointment',
      status: 'booked',
      start: '2031-02-03T15:30:00-06:00',
      participant: [{ actor: { reference: 'Patient/p1' }, status: 'accepted' }],
    });
    validateResource('Consent', {
      resourceType: 'Consent',
      status: 'active',
      scope: { coding: [{ code: 'patient-privacy' }] },
      category: [{ coding: [{ code: 'x' }] }],
    });
  });

  it('refuses unknown elements, at any depth, without echoing their names', () => {
    const d = invalid('Patient', { resourceType: 'Patient', secretMarker_PHI: 'x' });
    expect(d).toBe('Patient: has an element that is not part of this R4 type');
    expect(invalid('Patient', { resourceType: 'Patient', name: [{ family: 'x', nickname: 'y' }] })).toBe(
      'Patient.name[0]: has an element that is not part of this R4 type',
    );
    // An element of another R4 version (R5's Appointment.class) is unknown in R4.
    expect(
      invalid('Appointment', {
        resourceType: 'Appointment',
        status: 'booked',
        participant: [{ status: 'accepted' }],
        class: [],
      }),
    ).toMatch(/not part of this R4 type/);
  });

  it('names the path and the rule for wrong types, bad primitives and bad codes, never the value', () => {
    expect(invalid('Patient', { resourceType: 'Patient', name: { family: 'Doe' } })).toBe(
      'Patient.name: must be of JSON type array',
    );
    expect(invalid('Patient', { resourceType: 'Patient', birthDate: '1980-02-30x' })).toBe(
      'Patient.birthDate: is not a valid value of its FHIR primitive type',
    );
    expect(invalid('Patient', { resourceType: 'Patient', active: 'yes' })).toBe(
      'Patient.active: must be of JSON type boolean',
    );
    const d = invalid('Appointment', {
      resourceType: 'Appointment',
      status: 'MARKER-42',
      participant: [{ status: 'accepted' }],
    });
    expect(d).toBe('Appointment.status: is not one of the codes allowed here');
    expect(d).not.toContain('MARKER');
  });

  it('refuses contained resources, empty arrays and objects, a wrong resourceType and non-objects', () => {
    expect(invalid('Patient', { resourceType: 'Patient', contained: [{ resourceType: 'Patient' }] })).toBe(
      'Patient.contained: contained resources are not accepted',
    );
    expect(invalid('Patient', { resourceType: 'Patient', name: [] })).toMatch(
      /^Patient.name: must not be an empty array/,
    );
    expect(invalid('Patient', { resourceType: 'Patient', name: [{}] })).toMatch(
      /^Patient.name\[0\]: must not be an empty object/,
    );
    expect(invalid('Patient', { resourceType: 'Appointment' })).toBe('Patient.resourceType: must be Patient');
    expect(invalid('Patient', { resourceType: 'x y <script>' })).toBe('Patient.resourceType: must be Patient');
    expect(invalid('Patient', [])).toBe('Patient: the body must be a JSON object');
    expect(invalid('Patient', null)).toBe('Patient: the body must be a JSON object');
  });

  it('allows null only as a placeholder in primitive-extension arrays', () => {
    validateResource('Patient', {
      resourceType: 'Patient',
      name: [{ given: ['A', 'B'], _given: [null, { extension: [{ url: 'http://example.org/x', valueString: 'y' }] }] }],
    });
    expect(invalid('Patient', { resourceType: 'Patient', name: [{ given: [null] }] })).toMatch(
      /^Patient.name\[0\].given\[0\]/,
    );
  });
});
