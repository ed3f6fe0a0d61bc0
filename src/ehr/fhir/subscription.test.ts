import { describe, expect, it } from 'vitest';
import { mergeHeaders, parseSubscription, REDACTED, toFhirSubscription } from './subscription.js';
import { notificationBundle, subscriptionStatus } from './subscription-notifications.js';
import { communicationStatus, TOPICS } from './subscription-topics.js';
import { EVENT_STATUS } from './communication.js';

const BP = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
const base = (over: Record<string, unknown> = {}, channel: Record<string, unknown> = {}) => ({
  resourceType: 'Subscription',
  status: 'requested',
  reason: 'feed',
  criteria: 'https://sealpost.dev/fhir/SubscriptionTopic/communication-status',
  ...over,
  channel: { type: 'rest-hook', endpoint: 'https://ehr.example/hook', payload: 'application/fhir+json', ...channel },
});
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'accepted';
};

describe('R4 Subscription mapping (Backport IG)', () => {
  it('reads topic, filters, channel extensions and payload content', () => {
    const spec = parseSubscription(
      base(
        {
          end: '2031-01-01T00:00:00Z',
          _criteria: {
            extension: [
              { url: `${BP}/backport-filter-criteria`, valueString: 'Communication?patient=Patient/p-1' },
              { url: `${BP}/backport-filter-criteria`, valueString: 'Communication?status=completed,not-done' },
            ],
          },
        },
        {
          extension: [
            { url: `${BP}/backport-heartbeat-period`, valueUnsignedInt: 60 },
            { url: `${BP}/backport-timeout`, valueUnsignedInt: 5 },
            { url: `${BP}/backport-max-count`, valuePositiveInt: 3 },
          ],
          _payload: { extension: [{ url: `${BP}/backport-payload-content`, valueCode: 'full-resource' }] },
          header: ['Authorization: Bearer x'],
        },
      ),
    );
    expect(spec).toMatchObject({
      status: 'requested',
      filters: { patient: 'p-1', status: ['completed', 'not-done'] },
      heartbeatSeconds: 60,
      timeoutSeconds: 5,
      maxCount: 3,
      payloadContent: 'full-resource',
      headers: ['Authorization: Bearer x'],
      end: Date.parse('2031-01-01T00:00:00Z'),
    });
    expect(spec.topic.key).toBe('communication-status');
    expect(parseSubscription(base({}, { payload: undefined })).payloadContent).toBe('empty');
    expect(parseSubscription(base()).payloadContent).toBe('id-only');
  });

  it('refuses with a specific code what it cannot run', () => {
    const cases: [unknown, string][] = [
      [base({ criteria: 'Communication?' }), 'SP_FHIR_SUBSCRIPTION_TOPIC_UNKNOWN'],
      [base({}, { type: 'websocket' }), 'SP_FHIR_SUBSCRIPTION_CHANNEL_UNSUPPORTED'],
      [base({}, { payload: 'application/fhir+xml' }), 'SP_FHIR_SUBSCRIPTION_CHANNEL_UNSUPPORTED'],
      [base({}, { endpoint: 'ftp://x/y' }), 'SP_FHIR_SUBSCRIPTION_ENDPOINT_REFUSED'],
      [base({}, { endpoint: 'https://u:p@x/y' }), 'SP_FHIR_SUBSCRIPTION_ENDPOINT_REFUSED'],
      [base({}, { endpoint: 'not a url' }), 'SP_FHIR_SUBSCRIPTION_ENDPOINT_REFUSED'],
      [base({ status: 'error' }), 'SP_FHIR_SUBSCRIPTION_INVALID'],
      [base({ reason: ' ' }), 'SP_FHIR_SUBSCRIPTION_INVALID'],
      [base({ extension: [{ url: 'x', valueString: 'y' }] }), 'SP_FHIR_SUBSCRIPTION_INVALID'],
      [base({}, { header: ['no colon'] }), 'SP_FHIR_SUBSCRIPTION_INVALID'],
      [base({}, { header: ['Content-Type: text/plain'] }), 'SP_FHIR_SUBSCRIPTION_INVALID'],
      [base({}, { header: ['X-A: 1\r\nX-B: 2'] }), 'SP_FHIR_SUBSCRIPTION_INVALID'],
      [
        base({}, { extension: [{ url: `${BP}/backport-heartbeat-period`, valueUnsignedInt: 0 }] }),
        'SP_FHIR_SUBSCRIPTION_INVALID',
      ],
      [
        base({}, { extension: [{ url: `${BP}/backport-max-count`, valuePositiveInt: 1000 }] }),
        'SP_FHIR_SUBSCRIPTION_INVALID',
      ],
      [base({}, { extension: [{ url: `${BP}/other`, valueString: 'x' }] }), 'SP_FHIR_SUBSCRIPTION_INVALID'],
      [
        base(
          {},
          {
            payload: undefined,
            _payload: { extension: [{ url: `${BP}/backport-payload-content`, valueCode: 'id-only' }] },
          },
        ),
        'SP_FHIR_SUBSCRIPTION_INVALID',
      ],
    ];
    const filter = (v: string) =>
      base({ _criteria: { extension: [{ url: `${BP}/backport-filter-criteria`, valueString: v }] } });
    for (const v of [
      'Appointment?patient=Patient/1',
      'Communication?name=x',
      'Communication?patient=Group/1',
      'Communication?patient=Patient/1&patient=Patient/2',
      'Communication?status=done',
      'Communication?based-on=Patient/1',
    ])
      cases.push([filter(v), 'SP_FHIR_SUBSCRIPTION_FILTER_INVALID']);
    for (const [body, code] of cases)
      expect({ body, code: codeOf(() => parseSubscription(body)) }).toEqual({ body, code });
  });

  it('never shows a header value in a read, and keeps the stored value when a read is sent back', () => {
    const read = toFhirSubscription({
      id: 's1',
      status: 'active',
      topic: TOPICS[0]!.url,
      errorCode: null,
      end: null,
      payloadContent: 'id-only',
      heartbeatSeconds: null,
      timeoutSeconds: null,
      maxCount: 10,
      updatedAt: 0,
      sealed: { endpoint: 'https://e/h', headers: ['Authorization: Bearer s3cret'], reason: 'r', filterCriteria: [] },
    });
    expect(JSON.stringify(read)).not.toContain('s3cret');
    expect((read.channel as { header: string[] }).header).toEqual([`Authorization: ${REDACTED}`]);
    expect(mergeHeaders([`Authorization: ${REDACTED}`, 'X-New: 1'], ['Authorization: Bearer s3cret'])).toEqual([
      'Authorization: Bearer s3cret',
      'X-New: 1',
    ]);
    expect(codeOf(() => mergeHeaders([`X-Other: ${REDACTED}`], ['Authorization: a']))).toBe(
      'SP_FHIR_SUBSCRIPTION_INVALID',
    );
    // A read goes back through the parser unchanged (read-modify-update).
    expect(codeOf(() => parseSubscription(read))).toBe('accepted');
  });

  it('maps delivery statuses to the Communication status its read shows', () => {
    for (const s of ['sent', 'delivered', 'read', 'failed', 'dead', 'cancelled', 'suppressed'] as const)
      expect(communicationStatus(s)).toBe(EVENT_STATUS[s]);
  });
});

describe('notification Bundles', () => {
  const facts = {
    base: 'https://s/fhir/R4',
    subscriptionId: 's1',
    topic: TOPICS[0]!.url,
    status: 'active',
    eventsSinceStart: 7,
  };
  const ev = {
    eventNumber: 7,
    at: 0,
    focus: { type: 'Communication', id: 'd1' },
    context: ['CommunicationRequest/n1'],
  };

  it('leaves focus out of empty notifications and resources out of id-only ones', () => {
    const empty = notificationBundle(facts, 'event-notification', [ev], 'empty', new Date(0)) as any;
    expect(empty.entry).toHaveLength(1);
    expect(JSON.stringify(empty)).not.toContain('Communication/d1'); // ids are random hex: match the reference, not two letters
    expect(JSON.stringify(empty)).not.toContain('SubscriptionTopic');
    const idOnly = notificationBundle(facts, 'event-notification', [ev], 'id-only', new Date(0)) as any;
    expect(idOnly.entry[1]).toEqual({
      fullUrl: 'https://s/fhir/R4/Communication/d1',
      request: { method: 'PUT', url: 'Communication/d1' },
      response: { status: '200' },
    });
    const full = notificationBundle(
      facts,
      'event-notification',
      [ev],
      'full-resource',
      new Date(0),
      new Map([['Communication/d1', { resourceType: 'Communication', id: 'd1' }]]),
    ) as any;
    expect(full.entry[1].resource).toEqual({ resourceType: 'Communication', id: 'd1' });
  });

  it('reports an error code only in query-status', () => {
    const q = subscriptionStatus(
      { ...facts, status: 'error', errorCode: 'SP_CHANNEL_TIMEOUT' },
      'query-status',
      [],
      'empty',
    ) as any;
    expect(q.parameter.at(-1)).toEqual({
      name: 'error',
      valueCodeableConcept: { coding: [{ system: 'https://sealpost.dev/errors', code: 'SP_CHANNEL_TIMEOUT' }] },
    });
    const hb = subscriptionStatus({ ...facts, errorCode: 'SP_CHANNEL_TIMEOUT' }, 'heartbeat', [], 'empty') as any;
    expect(hb.parameter.map((p: { name: string }) => p.name)).not.toContain('error');
  });
});
