import { describe, expect, it } from 'vitest';
import { parseCommunicationRequest, requestStatus, toFhirCommunicationRequest } from './communication-request.js';
import { EVENT_STATUS, toFhirCommunication } from './communication.js';
import { CONSENT_PURPOSE_SYSTEM, parseConsent, toFhirConsent } from './consent.js';
import { CHANNEL_SYSTEM, PARTICIPATION_MODE_SYSTEM } from './channels.js';
import { NOTIFICATION_TYPE_SYSTEM } from './capability.js';
import { AppError } from '../../core/errors.js';
import { DELIVERY_STATUSES } from '../../core/domain.js';
import { deliveryRow } from '../../../test/contract/fixtures.js';

const base = () => ({
  resourceType: 'CommunicationRequest',
  status: 'active',
  category: [{ coding: [{ system: NOTIFICATION_TYPE_SYSTEM, code: 'follow_up' }] }],
  subject: { reference: 'Patient/p-1' },
});

function refusal(fn: () => unknown): AppError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('CommunicationRequest → notification', () => {
  it('maps category, subject, payload, occurrence, priority and medium (Sealpost and v3 codes)', () => {
    const { input, identifiers } = parseCommunicationRequest(
      {
        ...base(),
        identifier: [{ system: 'urn:x', value: '1' }],
        priority: 'urgent',
        occurrenceDateTime: '2031-01-02T03:04:05+01:00',
        payload: [{ contentString: '{"reason":"r","dueDate":"2031-02-01"}' }],
        medium: [
          { coding: [{ system: PARTICIPATION_MODE_SYSTEM, code: 'EMAILWRIT' }] },
          {
            coding: [
              { system: 'urn:other', code: 'x' },
              { system: CHANNEL_SYSTEM, code: 'webhook' },
            ],
          },
        ],
      },
      'create',
    );
    expect(input).toEqual({
      type: 'follow_up',
      patientId: 'p-1',
      data: { reason: 'r', dueDate: '2031-02-01' },
      channels: ['email', 'webhook'],
      sendAt: '2031-01-02T03:04:05+01:00',
      priority: 'urgent',
    });
    expect(identifiers).toEqual([{ system: 'urn:x', value: '1' }]);
  });

  it('takes an absolute Patient reference and defaults data to {} without a payload', () => {
    const { input } = parseCommunicationRequest(
      { ...base(), subject: { reference: 'https://ehr.example/fhir/Patient/p-1' } },
      'create',
    );
    expect(input).toEqual({ type: 'follow_up', patientId: 'p-1', data: {} });
  });

  it.each([
    ['a subject of another type', { subject: { reference: 'Group/g1' } }, 'SP_FHIR_INVALID_RESOURCE'],
    ['a contained subject', { subject: { reference: '#p' } }, 'SP_FHIR_INVALID_RESOURCE'],
    ['no category', { category: undefined }, 'SP_FHIR_INVALID_RESOURCE'],
    ['two categories', { category: [base().category[0], base().category[0]] }, 'SP_FHIR_INVALID_RESOURCE'],
    ['an identifier without a system', { identifier: [{ value: 'x' }] }, 'SP_FHIR_INVALID_RESOURCE'],
    ['two payload items', { payload: [{ contentString: '{}' }, { contentString: '{}' }] }, 'SP_FHIR_INVALID_RESOURCE'],
    ['a payload array', { payload: [{ contentString: '[1]' }] }, 'SP_FHIR_INVALID_RESOURCE'],
    [
      'an attachment payload',
      { payload: [{ contentAttachment: { contentType: 'text/plain' } }] },
      'SP_FHIR_INVALID_RESOURCE',
    ],
    ['an occurrence without a zone', { occurrenceDateTime: '2031-01-01T10:00:00' }, 'SP_FHIR_INVALID_RESOURCE'],
    ['an occurrencePeriod', { occurrencePeriod: { start: '2031-01-01T10:00:00Z' } }, 'SP_FHIR_INVALID_RESOURCE'],
    ['a medium without a known coding', { medium: [{ text: 'pigeon' }] }, 'SP_FHIR_UNKNOWN_CODE'],
    ['a modifier extension', { modifierExtension: [{ url: 'urn:x', valueBoolean: true }] }, 'SP_FHIR_INVALID_RESOURCE'],
    ['a status other than active', { status: 'on-hold' }, 'SP_FHIR_INVALID_RESOURCE'],
  ])('refuses %s', (_what, over, code) => {
    expect(refusal(() => parseCommunicationRequest({ ...base(), ...over }, 'create')).code).toBe(code);
  });

  it('never echoes the value of an unknown element or code in the error', () => {
    const e = refusal(() => parseCommunicationRequest({ ...base(), 'PHI-secret-name': 1 }, 'create'));
    expect(e.message).not.toContain('PHI-secret');
  });

  it('maps notification statuses to request-status, with the Sealpost status as statusReason when it ended unsent', () => {
    expect(['scheduled', 'queued', 'sending'].map(requestStatus)).toEqual(['active', 'active', 'active']);
    expect(['sent', 'delivered', 'read', 'acknowledged'].map(requestStatus)).toEqual(Array(4).fill('completed'));
    expect(requestStatus('cancelled')).toBe('revoked');
    const view = {
      id: 'n1',
      type: 'follow_up' as const,
      priority: 'routine' as const,
      status: 'dead',
      patientId: 'p1',
      appointmentId: 'a1',
      sendAt: '2031-01-01T00:00:00.000Z',
      createdAt: '2030-12-31T00:00:00.000Z',
      cancelledAt: null,
      acknowledgedAt: null,
      deliveries: [],
    };
    expect(toFhirCommunicationRequest(view, [])).toMatchObject({
      status: 'completed',
      statusReason: { coding: [{ code: 'dead' }] },
      about: [{ reference: 'Appointment/a1' }],
    });
    expect(toFhirCommunicationRequest(view, [])).not.toHaveProperty('payload');
  });
});

describe('Communication ← delivery', () => {
  it('maps every delivery status to an R4 event-status', () => {
    for (const s of DELIVERY_STATUSES) expect(EVENT_STATUS[s]).toBeDefined();
  });

  it('shows a due scheduled delivery as in-progress, sent and received times, and the error code as statusReason', () => {
    const now = new Date(1_000_000);
    expect(toFhirCommunication(deliveryRow('d', { status: 'scheduled', run_at: 999 }) as never, now).status).toBe(
      'in-progress',
    );
    expect(toFhirCommunication(deliveryRow('d', { status: 'scheduled', run_at: 2_000_000 }) as never, now).status).toBe(
      'preparation',
    );
    const read = toFhirCommunication(
      deliveryRow('d', { status: 'read', sent_at: 10, delivered_at: 20, read_at: 30 }) as never,
      now,
    );
    expect(read).toMatchObject({
      status: 'completed',
      sent: new Date(10).toISOString(),
      received: new Date(30).toISOString(),
    });
    const dead = toFhirCommunication(
      deliveryRow('d', { status: 'dead', last_error_code: 'SP_CHANNEL_SEND_FAILED' }) as never,
      now,
    );
    expect(dead).toMatchObject({ status: 'not-done', statusReason: { coding: [{ code: 'SP_CHANNEL_SEND_FAILED' }] } });
  });
});

describe('Consent ↔ ledger record', () => {
  const consent = (provision: object, over: object = {}) => ({
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: 'Patient/p1' },
    provision,
    ...over,
  });

  it('reads a channel from provision.code, and every channel from its absence', () => {
    expect(
      parseConsent(consent({ type: 'deny', code: [{ coding: [{ system: CHANNEL_SYSTEM, code: 'email' }] }] })),
    ).toEqual({
      patientId: 'p1',
      channel: 'email',
      purpose: '*',
      decision: 'deny',
    });
    expect(parseConsent(consent({ type: 'permit' }))).toEqual({
      patientId: 'p1',
      channel: '*',
      purpose: '*',
      decision: 'permit',
    });
  });

  it('reads a purpose from provision.purpose (the Sealpost consent-purpose codes), every purpose from its absence', () => {
    expect(
      parseConsent(consent({ type: 'deny', purpose: [{ system: CONSENT_PURPOSE_SYSTEM, code: 'billing' }] })),
    ).toMatchObject({ channel: '*', purpose: 'billing', decision: 'deny' });
  });

  it.each([
    [
      'two channels',
      {
        type: 'deny',
        code: [
          { coding: [{ system: CHANNEL_SYSTEM, code: 'sms' }] },
          { coding: [{ system: CHANNEL_SYSTEM, code: 'email' }] },
        ],
      },
    ],
    ['an actor', { type: 'deny', actor: [{ role: { text: 'x' }, reference: { reference: 'Practitioner/1' } }] }],
    ['a purpose of another system', { type: 'deny', purpose: [{ system: 'urn:x', code: 'y' }] }],
    ['an unknown purpose', { type: 'deny', purpose: [{ system: CONSENT_PURPOSE_SYSTEM, code: 'marketing' }] }],
    [
      'two purposes',
      {
        type: 'deny',
        purpose: [
          { system: CONSENT_PURPOSE_SYSTEM, code: 'billing' },
          { system: CONSENT_PURPOSE_SYSTEM, code: 'results' },
        ],
      },
    ],
    ['no type', { code: [{ coding: [{ system: CHANNEL_SYSTEM, code: 'sms' }] }] }],
  ])('refuses a provision with %s', (_what, provision) => {
    expect(refusal(() => parseConsent(consent(provision))).code).toBe('SP_FHIR_CONSENT_UNSUPPORTED');
  });

  it('renders a record with OPTIN/OPTOUT, its source as a tag and its channel as provision.code', () => {
    const r = toFhirConsent({
      id: 'c1',
      patientId: 'p1',
      channel: 'sms',
      purpose: 'appointment',
      decision: 'deny',
      source: 'sms_keyword',
      recordedBy: 'x',
      recordedAt: '2030-01-01T00:00:00.000Z',
      active: false,
    });
    expect(r).toMatchObject({
      status: 'inactive',
      policyRule: { coding: [{ code: 'OPTOUT' }] },
      meta: { tag: [{ code: 'sms_keyword' }] },
      provision: {
        type: 'deny',
        code: [{ coding: [{ code: 'sms' }, { code: 'SMSWRIT' }] }],
        purpose: [{ system: CONSENT_PURPOSE_SYSTEM, code: 'appointment' }],
      },
    });
  });
});
