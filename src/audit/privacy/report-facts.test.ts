import { describe, expect, it } from 'vitest';
import { BUILT_IN_TEMPLATES } from '../../core/templates/built-in-templates.js';
import { deriveFacts, NOTIFICATION_FIELD_KINDS, type ParsedEntry } from './report-facts.js';

const entry = (over: Partial<ParsedEntry>): ParsedEntry => ({
  v: 1,
  at: '2024-03-01T01:00:00.000Z',
  tenant: 'default',
  actor: 'user:u-1',
  action: 'patient.read',
  outcome: 'success',
  target: null,
  patient: 'ref-1',
  request: null,
  ip: '10.0.0.1',
  details: null,
  ...over,
});

describe('report facts', () => {
  it('names a kind of information for every PHI variable of every built-in template', () => {
    for (const t of BUILT_IN_TEMPLATES)
      for (const v of t.variables.filter((x) => x.phi))
        expect(NOTIFICATION_FIELD_KINDS[v.name], `${t.type}.${v.name}`).toBeDefined();
  });

  it('derives patients, kinds of information, channels, sign-ins and sessions from the entries alone', () => {
    const facts = deriveFacts(
      [
        entry({}),
        entry({ action: 'patient.contact_points_read', patient: 'ref-2' }),
        entry({ action: 'patient.read', outcome: 'failure', patient: 'ref-3' }),
        entry({
          actor: 'system:worker:w',
          action: 'delivery.sent',
          target: { type: 'delivery', id: 'd-1' },
          details: { channel: 'sms', notification: 'n-1' },
        }),
        entry({ action: 'auth.login_succeeded', patient: null, target: { type: 'session', id: 's-1' } }),
        entry({ action: 'auth.login_failed', outcome: 'failure', patient: null, target: { type: 'user', id: 'u-1' } }),
      ],
      { notificationTypes: { 'n-1': 'test_result_ready' }, templateFields: { test_result_ready: ['testName'] } },
    );
    expect(facts.patientRefs).toEqual(['ref-1', 'ref-2']);
    expect(facts.refused).toEqual({ attempts: 1, patientRefs: ['ref-3'] });
    expect(facts.phi.map((p) => p.kind)).toEqual([
      'contact details',
      'demographics (name, date of birth, language)',
      'tests',
    ]);
    expect(facts.sentByChannel).toEqual({ sms: 1 });
    expect(facts.notifications).toEqual([
      {
        id: 'n-1',
        type: 'test_result_ready',
        created: false,
        deliveries: [{ id: 'd-1', channel: 'sms', actions: ['delivery.sent'] }],
      },
    ]);
    expect(facts.signIns).toEqual({ attempts: 2, succeeded: 1, failed: 1 });
    expect(facts.sessions.map((s) => s.id)).toEqual(['s-1']);
    expect(facts.failures).toBe(2);
  });

  it('counts a refused access as an attempt, never as a patient affected', () => {
    const facts = deriveFacts(
      [
        entry({
          action: 'access.denied',
          outcome: 'failure',
          patient: 'ref-refused',
          details: { code: 'SP_AUTH_NO_RELATIONSHIP', method: 'GET', route: '/v1/patients/:id' },
        }),
        entry({ action: 'access.denied', outcome: 'failure', patient: null, details: { code: 'SP_AUTH_FORBIDDEN' } }),
        entry({ action: 'patient.read', patient: 'ref-read' }),
        entry({ action: 'access.denied', outcome: 'failure', patient: 'ref-read' }),
      ],
      { notificationTypes: {}, templateFields: {} },
    );
    expect(facts.patientRefs).toEqual(['ref-read']);
    expect(facts.refused).toEqual({ attempts: 3, patientRefs: ['ref-read', 'ref-refused'] });
    // A refusal showed nothing: only the successful read names kinds of information.
    expect(facts.phi.map((p) => p.entries)).toEqual([1, 1]);
  });
});
