import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'fhir-kit-client';
import { Agent, setGlobalDispatcher } from 'undici';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import {
  eventually,
  form,
  httpsJson,
  samplePatient,
  startSealpost,
  type Harness,
} from '../helpers/sealpost-harness.js';
import { startWebhookReceiver, type WebhookReceiver, type WebhookRequestRecord } from '../helpers/webhook-receiver.js';
import { createTenant } from '../../src/auth/tenants.js';
import { staffWithSession } from '../helpers/identity.js';

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
const COMMUNICATION_TOPIC = 'https://sealpost.dev/fhir/SubscriptionTopic/communication-status';
const REMINDER_TOPIC = 'https://sealpost.dev/fhir/SubscriptionTopic/appointment-reminders';
const PHI = 'PHIMARKER-Lipid-panel-9931';
const SECRET_HEADER = 'Bearer endpoint-secret-7741';

type Json = any;

/** The SubscriptionStatus Parameters of a notification Bundle, as a name → value map (parts kept as arrays). */
function statusOf(bundle: Json): { type: string; since: string; status: string; events: Json[]; raw: Json } {
  const p = bundle.entry[0].resource;
  const get = (n: string) => p.parameter.find((x: Json) => x.name === n);
  return {
    type: get('type').valueCode,
    since: get('events-since-subscription-start').valueString,
    status: get('status').valueCode,
    events: p.parameter.filter((x: Json) => x.name === 'notification-event'),
    raw: p,
  };
}
const part = (ev: Json, n: string) => ev.part.find((x: Json) => x.name === n);
const ofType = (records: WebhookRequestRecord[], type: string) =>
  records.filter((r) => r.body && statusOf(r.body).type === type);

function subscription(endpoint: string, over: Json = {}, channel: Json = {}): Json {
  return {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'EHR delivery feed',
    criteria: COMMUNICATION_TOPIC,
    ...over,
    channel: {
      type: 'rest-hook',
      endpoint,
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: 'id-only' }] },
      ...channel,
    },
  };
}
const filter = (value: string) => ({
  _criteria: { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: value }] },
});

for (const backend of BACKENDS) {
  describe(`FHIR Subscriptions (R5 Backport IG, rest-hook) on ${backend}`, () => {
    let h: Harness;
    let db: TestDatabase | null = null;
    let fhir: Client;
    let nudges: WebhookReceiver;
    const hooks: WebhookReceiver[] = [];
    let otherKey = '';
    const hook = async () => {
      const r = await startWebhookReceiver({ secret: 'unused' });
      hooks.push(r);
      return r;
    };
    const raw = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      httpsJson(h.url, h.cert, method, path, body, {
        authorization: `Bearer ${h.apiKey}`,
        'content-type': 'application/fhir+json',
        ...headers,
      });
    const read = (id: string) => fhir.read({ resourceType: 'Subscription', id }) as Promise<Json>;
    const activeSubscription = async (body: Json) => {
      const created = (await fhir.create({ resourceType: 'Subscription', body })) as Json;
      await eventually(async () => (await read(created.id)).status === 'active', 'subscription active');
      return created;
    };

    beforeAll(async () => {
      nudges = await startWebhookReceiver({ secret: 'nudge-secret' });
      if (backend === 'postgres') db = await createTestDatabase('postgres');
      h = await startSealpost({
        ...(db ? { SEALPOST_DATABASE_URL: db.url } : {}),
        SEALPOST_WEBHOOK_PROVIDER: 'http',
        SEALPOST_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
        SEALPOST_WEBHOOK_SECRET: 'nudge-secret',
        SEALPOST_BACKOFF_BASE_MS: '10',
        SEALPOST_BACKOFF_CAP_MS: '20',
        SEALPOST_FHIR_SUBSCRIPTION_MAX_FAILURES: '3',
      });
      setGlobalDispatcher(new Agent({ connect: { ca: h.cert } }));
      fhir = new Client({ baseUrl: `${h.url}/fhir/R4`, customHeaders: { Authorization: `Bearer ${h.apiKey}` } });
      for (const id of ['sub-p1', 'sub-p3', 'sub-p4', 'sub-p5', 'sub-p6'])
        expect(
          (
            await h.request(
              'PUT',
              `/v1/patients/${id}`,
              samplePatient({ telecom: [{ system: 'webhook', value: nudges.url, rank: 1 }] }),
            )
          ).status,
        ).toBe(201);
      expect((await h.request('PUT', '/v1/patients/sub-p2', samplePatient())).status).toBe(201);
      const other = await createTenant(h.app.store, `subs-other-${backend}`, 'Other clinic', new Date());
      otherKey = other.apiKey;
      expect(
        (await h.request('PUT', '/v1/patients/other-p', samplePatient(), { authorization: `Bearer ${otherKey}` }))
          .status,
      ).toBe(201);
    }, 120_000);

    afterAll(async () => {
      await h?.close();
      await nudges?.close();
      for (const r of hooks) await r.close();
      await db?.drop();
    });

    it('activates a subscription after a handshake the endpoint answers 2xx, with the channel headers, and never reads the header value back', async () => {
      const endpoint = await hook();
      const created = (await fhir.create({
        resourceType: 'Subscription',
        body: subscription(endpoint.url, filter('Communication?patient=Patient/sub-p1'), {
          header: [`Authorization: ${SECRET_HEADER}`],
          extension: [{ url: `${BACKPORT}/backport-max-count`, valuePositiveInt: 5 }],
        }),
      })) as Json;
      expect(created.status).toBe('requested');
      expect(created.meta.profile).toEqual([`${BACKPORT}/backport-subscription`]);
      await eventually(async () => (await read(created.id)).status === 'active', 'subscription active');
      const [handshake] = ofType(endpoint.records, 'handshake');
      expect(handshake.headers['content-type']).toBe('application/fhir+json');
      expect(handshake.headers.authorization).toBe(SECRET_HEADER);
      const b = handshake.body as Json;
      expect(b).toMatchObject({ resourceType: 'Bundle', type: 'history' });
      expect(b.entry[0].resource.meta.profile).toEqual([`${BACKPORT}/backport-subscription-status-r4`]);
      expect(b.entry[0].resource.parameter.slice(0, 5)).toEqual([
        { name: 'subscription', valueReference: { reference: `${h.url}/fhir/R4/Subscription/${created.id}` } },
        { name: 'topic', valueCanonical: COMMUNICATION_TOPIC },
        { name: 'status', valueCode: 'requested' },
        { name: 'type', valueCode: 'handshake' },
        { name: 'events-since-subscription-start', valueString: '0' },
      ]);
      const again = await raw('GET', `/fhir/R4/Subscription/${created.id}`);
      expect(again.text).not.toContain('endpoint-secret-7741');
      expect(again.body.channel.header).toEqual(['Authorization: [redacted]']);
      expect(again.body._criteria.extension[0].valueString).toBe('Communication?patient=Patient/sub-p1');
      const listed = (await fhir.search({ resourceType: 'Subscription', searchParams: { status: 'active' } })) as Json;
      expect(listed.entry.map((e: Json) => e.resource.id)).toContain(created.id);
      expect(JSON.stringify(listed)).not.toContain('endpoint-secret-7741');
    });

    it('puts a subscription in error when its handshake is answered 500', async () => {
      const endpoint = await hook();
      endpoint.failNext(1, 500);
      const created = (await fhir.create({ resourceType: 'Subscription', body: subscription(endpoint.url) })) as Json;
      const failed = await eventually(async () => {
        const r = await read(created.id);
        return r.status === 'error' ? r : null;
      }, 'subscription in error');
      expect(failed.error).toContain('SP_CHANNEL_SEND_FAILED');
      const status = await raw('GET', `/fhir/R4/Subscription/${created.id}/$status`);
      const p = statusOf({ entry: [{ resource: status.body.entry[0].resource }] });
      expect(p.type).toBe('query-status');
      expect(p.status).toBe('error');
    });

    it('notifies id-only events when a delivery is sent and when it is read, in order, with ids and no PHI', async () => {
      const endpoint = await hook();
      const sub = await activeSubscription(subscription(endpoint.url, filter('Communication?patient=Patient/sub-p3')));
      const n = await h.request('POST', '/v1/notifications', {
        type: 'test_result_ready',
        patientId: 'sub-p3',
        data: { testName: PHI },
      });
      expect(n.status).toBe(202);
      const deliveryId = n.body.deliveries[0].id;
      const nudge = await eventually(
        async () => nudges.records.find((r) => (r.body as Json)?.deliveryId === deliveryId),
        'nudge posted',
      );
      const token = /\/m\/([\w-]+)$/.exec((nudge.body as Json).link)![1];
      await eventually(async () => ofType(endpoint.records, 'event-notification').length >= 1, 'delivered event');
      const verified = await form(h, `/m/${token}/verify`, { birthDate: '1980-04-02' });
      expect(verified.status).toBeLessThan(400);
      const events = await eventually(async () => {
        const all = ofType(endpoint.records, 'event-notification').flatMap((r) => statusOf(r.body).events);
        return all.length >= 2 ? all : null;
      }, 'read event');
      expect(events.map((e) => part(e, 'event-number').valueString)).toEqual(['1', '2']);
      for (const e of events) {
        expect(part(e, 'focus').valueReference.reference).toBe(`${h.url}/fhir/R4/Communication/${deliveryId}`);
        expect(part(e, 'additional-context').valueReference.reference).toBe(
          `${h.url}/fhir/R4/CommunicationRequest/${n.body.id}`,
        );
        expect(Date.parse(part(e, 'timestamp').valueInstant)).not.toBeNaN();
      }
      for (const r of ofType(endpoint.records, 'event-notification')) {
        const b = r.body as Json;
        expect(b.entry[1]).toEqual({
          fullUrl: `${h.url}/fhir/R4/Communication/${deliveryId}`,
          request: { method: 'PUT', url: `Communication/${deliveryId}` },
          response: { status: '200' },
        });
        expect(r.rawBody).not.toContain(PHI);
        expect(r.rawBody).not.toContain('Lopez');
      }
      const s = await raw('GET', `/fhir/R4/Subscription/${sub.id}/$status`);
      expect(s.body.type).toBe('searchset');
      const q = s.body.entry[0].resource.parameter;
      expect(q.find((x: Json) => x.name === 'events-since-subscription-start').valueString).toBe('2');
      expect(q.find((x: Json) => x.name === 'type').valueCode).toBe('query-status');
      // Another patient's deliveries do not match the patient filter: once one is delivered (its event,
      // had there been one, committed with it), the counter has not moved.
      const other = await h.request('POST', '/v1/notifications', {
        type: 'test_result_ready',
        patientId: 'sub-p1',
        data: { testName: 'Panel' },
      });
      await eventually(
        async () =>
          (await h.request('GET', `/v1/notifications/${other.body.id}`)).body.deliveries[0].status === 'delivered',
        'other patient delivered',
      );
      const after = await raw('GET', `/fhir/R4/Subscription/$status?id=${sub.id}`);
      const counter = after.body.entry[0].resource.parameter.find(
        (x: Json) => x.name === 'events-since-subscription-start',
      );
      expect(counter.valueString).toBe('2');
      const all = await raw('GET', '/fhir/R4/Subscription/$status');
      expect(all.body.entry.length).toBeGreaterThanOrEqual(1);
    });

    it('carries the Communication itself in full-resource notifications', async () => {
      const endpoint = await hook();
      await activeSubscription(
        subscription(endpoint.url, filter('Communication?patient=Patient/sub-p2&status=completed'), {
          _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: 'full-resource' }] },
        }),
      );
      const n = await h.request('POST', '/v1/notifications', {
        type: 'test_result_ready',
        patientId: 'sub-p2',
        data: { testName: PHI },
      });
      const deliveryId = n.body.deliveries[0].id;
      const rec = await eventually(
        async () => ofType(endpoint.records, 'event-notification')[0],
        'full-resource notification',
      );
      const b = rec.body as Json;
      expect(b.entry[1].fullUrl).toBe(`${h.url}/fhir/R4/Communication/${deliveryId}`);
      expect(b.entry[1].resource).toMatchObject({
        resourceType: 'Communication',
        id: deliveryId,
        status: 'completed',
        basedOn: [{ reference: `CommunicationRequest/${n.body.id}` }],
      });
      expect(rec.rawBody).not.toContain(PHI);
    });

    it('retries a failing endpoint with backoff, then delivers every event once and in order', async () => {
      const endpoint = await hook();
      await activeSubscription(
        subscription(endpoint.url, filter('Communication?patient=Patient/sub-p4'), {
          extension: [{ url: `${BACKPORT}/backport-max-count`, valuePositiveInt: 1 }],
        }),
      );
      endpoint.failNext(2, 503);
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const n = await h.request('POST', '/v1/notifications', {
          type: 'test_result_ready',
          patientId: 'sub-p4',
          data: { testName: 'Panel' },
        });
        expect(n.status, JSON.stringify(n.body)).toBe(202);
        ids.push(n.body.deliveries[0].id);
      }
      const delivered = await eventually(async () => {
        const ok = ofType(endpoint.records, 'event-notification').filter((r) => r.status === 204);
        const events = ok.flatMap((r) => statusOf(r.body).events);
        return events.length >= 3 ? events : null;
      }, 'three events delivered');
      expect(ofType(endpoint.records, 'event-notification').filter((r) => r.status === 503)).toHaveLength(2);
      expect(delivered.map((e) => part(e, 'event-number').valueString)).toEqual(['1', '2', '3']);
      expect(new Set(delivered.map((e) => part(e, 'focus').valueReference.reference)).size).toBe(3);
    });

    it('puts a subscription in error after SEALPOST_FHIR_SUBSCRIPTION_MAX_FAILURES failed notifications in a row, and sends the kept events once restarted', async () => {
      const endpoint = await hook();
      const sub = await activeSubscription(subscription(endpoint.url, filter('Communication?patient=Patient/sub-p5')));
      endpoint.failNext(3, 500);
      await h.request('POST', '/v1/notifications', {
        type: 'test_result_ready',
        patientId: 'sub-p5',
        data: { testName: 'Panel' },
      });
      const failed = await eventually(async () => {
        const r = await read(sub.id);
        return r.status === 'error' ? r : null;
      }, 'subscription in error');
      expect(failed.error).toContain('SP_CHANNEL_SEND_FAILED');
      expect(ofType(endpoint.records, 'event-notification').map((r) => r.status)).toEqual([500, 500, 500]);
      const q = await raw('GET', `/fhir/R4/Subscription/$status?status=error&id=${sub.id}`);
      const params = q.body.entry[0].resource.parameter;
      expect(params.find((x: Json) => x.name === 'error').valueCodeableConcept.coding[0].code).toBe(
        'SP_CHANNEL_SEND_FAILED',
      );
      await fhir.update({ resourceType: 'Subscription', id: sub.id, body: { ...failed, status: 'requested' } });
      const delivered = await eventually(
        async () => ofType(endpoint.records, 'event-notification').find((r) => r.status === 204),
        'event delivered after restart',
      );
      expect(statusOf(delivered.body).events.map((e) => part(e, 'event-number').valueString)).toEqual(['1']);
    });

    it('announces the cancellation of pending deliveries when a notification is cancelled or its patient erased', async () => {
      const endpoint = await hook();
      await activeSubscription(
        subscription(endpoint.url, filter('Communication?patient=Patient/sub-p6&status=stopped')),
      );
      const later = new Date(Date.now() + 86_400_000).toISOString();
      const make = async () =>
        (
          await h.request('POST', '/v1/notifications', {
            type: 'test_result_ready',
            patientId: 'sub-p6',
            data: { testName: 'Panel' },
            sendAt: later,
          })
        ).body;
      const first = await make();
      const second = await make();
      expect((await h.request('POST', `/v1/notifications/${first.id}/cancel`)).status).toBe(200);
      expect((await h.request('DELETE', '/v1/patients/sub-p6?erase=true')).status).toBe(202);
      const events = await eventually(async () => {
        const all = ofType(endpoint.records, 'event-notification').flatMap((r) => statusOf(r.body).events);
        return all.length >= 2 ? all : null;
      }, 'two cancellations');
      expect(events.map((e) => part(e, 'focus').valueReference.reference)).toEqual([
        `${h.url}/fhir/R4/Communication/${first.deliveries[0].id}`,
        `${h.url}/fhir/R4/Communication/${second.deliveries[0].id}`,
      ]);
    });

    it('sends heartbeats when nothing happens for the heartbeat period', async () => {
      const endpoint = await hook();
      await activeSubscription(
        subscription(endpoint.url, filter('Communication?patient=Patient/sub-p2&status=stopped'), {
          extension: [{ url: `${BACKPORT}/backport-heartbeat-period`, valueUnsignedInt: 1 }],
        }),
      );
      const beat = await eventually(async () => ofType(endpoint.records, 'heartbeat')[0], 'heartbeat');
      expect(statusOf(beat.body).events).toEqual([]);
      expect((beat.body as Json).entry).toHaveLength(1);
    });

    it('announces an appointment’s reminders being scheduled and then cancelled', async () => {
      const endpoint = await hook();
      await activeSubscription(
        subscription(endpoint.url, { criteria: REMINDER_TOPIC, ...filter('Appointment?patient=Patient/sub-p2') }),
      );
      const fullEndpoint = await hook();
      const fullSub = await activeSubscription(
        subscription(
          fullEndpoint.url,
          { criteria: REMINDER_TOPIC, ...filter('Appointment?patient=Patient/sub-p2') },
          { _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: 'full-resource' }] } },
        ),
      );
      const start = new Date(Date.now() + 10 * 86_400_000).toISOString();
      const booked = await h.request('PUT', '/v1/appointments/sub-appt-1', { patientId: 'sub-p2', start });
      expect(booked.status).toBe(201);
      expect((await h.request('DELETE', '/v1/appointments/sub-appt-1')).status).toBeLessThan(300);
      const events = await eventually(async () => {
        const all = ofType(endpoint.records, 'event-notification').flatMap((r) => statusOf(r.body).events);
        return all.length >= 2 ? all : null;
      }, 'two reminder events');
      for (const e of events)
        expect(part(e, 'focus').valueReference.reference).toBe(`${h.url}/fhir/R4/Appointment/sub-appt-1`);
      const full = await eventually(
        async () => ofType(fullEndpoint.records, 'event-notification')[0],
        'full-resource appointment notification',
      );
      expect((full.body as Json).entry[1].resource).toMatchObject({ resourceType: 'Appointment', id: 'sub-appt-1' });
      // The focus read is on the record as the subscription's, not an anonymous system's.
      const reads = await h.request(
        'GET',
        `/v1/audit/events?actor=${encodeURIComponent(`subscription:${fullSub.id}`)}&action=appointment.read`,
      );
      expect(reads.status).toBe(200);
      expect(reads.body.items.length).toBeGreaterThanOrEqual(1);
      const contexts = events[0].part.filter((x: Json) => x.name === 'additional-context');
      expect(contexts.map((c: Json) => c.valueReference.reference).sort()).toEqual(
        booked.body.reminders.map((r: Json) => `${h.url}/fhir/R4/CommunicationRequest/${r.notificationId}`).sort(),
      );
    });

    it('refuses what it cannot run, with a clear code, and creates nothing', async () => {
      const endpoint = await hook();
      const before = ((await fhir.search({ resourceType: 'Subscription', searchParams: {} })) as Json).total;
      const cases: [Json, number, string][] = [
        [subscription(endpoint.url, filter('Communication?patient=Patient/other-p')), 404, 'SP_PATIENT_NOT_FOUND'],
        [subscription('https://169.254.169.254/latest/meta-data'), 422, 'SP_FHIR_SUBSCRIPTION_ENDPOINT_REFUSED'],
        [subscription('http://example.com/hook'), 422, 'SP_FHIR_SUBSCRIPTION_ENDPOINT_REFUSED'],
        [subscription('https://10.1.2.3/hook'), 422, 'SP_FHIR_SUBSCRIPTION_ENDPOINT_REFUSED'],
        [subscription(endpoint.url, {}, { type: 'websocket' }), 422, 'SP_FHIR_SUBSCRIPTION_CHANNEL_UNSUPPORTED'],
        [subscription(endpoint.url, {}, { type: 'email' }), 422, 'SP_FHIR_SUBSCRIPTION_CHANNEL_UNSUPPORTED'],
        [
          subscription(endpoint.url, { criteria: 'Communication?status=completed' }),
          422,
          'SP_FHIR_SUBSCRIPTION_TOPIC_UNKNOWN',
        ],
        [subscription(endpoint.url, filter('Patient?name=Lopez')), 422, 'SP_FHIR_SUBSCRIPTION_FILTER_INVALID'],
        [subscription(endpoint.url, filter('Communication?subject=x')), 422, 'SP_FHIR_SUBSCRIPTION_FILTER_INVALID'],
        [subscription(endpoint.url, {}, { header: ['Host: evil'] }), 422, 'SP_FHIR_SUBSCRIPTION_INVALID'],
        [subscription(endpoint.url, { unknownElement: true }), 400, 'SP_FHIR_INVALID_RESOURCE'],
      ];
      for (const [body, status, code] of cases) {
        const r = await raw('POST', '/fhir/R4/Subscription', body);
        expect({ status: r.status, code: r.body?.issue?.[0]?.details?.coding?.[0]?.code }).toEqual({ status, code });
        expect(r.body.resourceType).toBe('OperationOutcome');
        expect(r.text).not.toContain('Lopez');
        expect(r.text).not.toContain('169.254');
      }
      // A person with the admin role may manage subscriptions but reads no notification: no full-resource feed.
      const admin = await staffWithSession(h, ['admin']);
      const fullFeed = subscription(
        endpoint.url,
        {},
        {
          _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: 'full-resource' }] },
        },
      );
      const refused = await raw('POST', '/fhir/R4/Subscription', fullFeed, admin.headers);
      expect([refused.status, refused.body.issue[0].details.coding[0].code]).toEqual([403, 'SP_AUTH_FORBIDDEN']);
      const after = ((await fhir.search({ resourceType: 'Subscription', searchParams: {} })) as Json).total;
      expect(after).toBe(before);
      expect(endpoint.records).toEqual([]);
      // Another tenant neither sees nor reaches this tenant's subscriptions.
      const mine = ((await fhir.search({ resourceType: 'Subscription', searchParams: {} })) as Json).entry[0].resource;
      const theirs = await raw('GET', `/fhir/R4/Subscription/${mine.id}`, undefined, {
        authorization: `Bearer ${otherKey}`,
      });
      expect(theirs.status).toBe(404);
    });

    it('turns a subscription off and sends nothing once the key that created it is revoked', async () => {
      const endpoint = await hook();
      const made = await h.request('POST', '/v1/api-keys', { name: 'Feed owner' });
      expect(made.status).toBe(201);
      const owner = { authorization: `Bearer ${made.body.key}` };
      const created = await raw(
        'POST',
        '/fhir/R4/Subscription',
        subscription(endpoint.url, filter('Communication?patient=Patient/sub-p1'), {
          _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: 'full-resource' }] },
        }),
        owner,
      );
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      await eventually(async () => (await read(id)).status === 'active', 'subscription active');
      expect((await h.request('POST', `/v1/api-keys/${made.body.apiKey.id}/revoke`, {})).status).toBe(204);
      const n = await h.request('POST', '/v1/notifications', {
        type: 'test_result_ready',
        patientId: 'sub-p1',
        data: { testName: PHI },
      });
      expect(n.status).toBe(202);
      const off = await eventually(async () => {
        const r = await read(id);
        return r.status === 'off' ? r : null;
      }, 'subscription off');
      expect(off.error).toContain('SP_FHIR_SUBSCRIPTION_AUTHORITY_LOST');
      expect(ofType(endpoint.records, 'event-notification')).toEqual([]);
      const q = await raw('GET', `/fhir/R4/Subscription/${id}/$status`);
      const params = q.body.entry[0].resource.parameter;
      expect(params.find((x: Json) => x.name === 'status').valueCode).toBe('off');
      const audited = await h.request('GET', '/v1/audit/events?action=subscription.authority_lost');
      const entry = audited.body.items.find((e: Json) => e.target?.id === id);
      expect(entry).toMatchObject({ outcome: 'failure' });
      expect(entry.details).toMatchObject({
        reason: 'owner-revoked',
        errorCode: 'SP_FHIR_SUBSCRIPTION_AUTHORITY_LOST',
      });
      // Delivered events stay undelivered; nothing reaches the endpoint afterwards either.
      expect(endpoint.records.filter((r) => r.rawBody.includes(n.body.deliveries[0].id))).toEqual([]);
    });

    it('refuses patient and based-on filters to a caller who may not read that patient or that notification', async () => {
      const endpoint = await hook();
      const n = await h.request('POST', '/v1/notifications', {
        type: 'test_result_ready',
        patientId: 'sub-p2',
        data: { testName: 'Panel' },
      });
      expect(n.status).toBe(202);
      const byPatient = subscription(endpoint.url, filter('Communication?patient=Patient/sub-p2'));
      const byNotification = subscription(
        endpoint.url,
        filter(`Communication?based-on=CommunicationRequest/${n.body.id}`),
      );
      const codeOf = (r: { status: number; body: Json }) => [r.status, r.body?.issue?.[0]?.details?.coding?.[0]?.code];
      // The admin role manages subscriptions but reads no patient and no notification.
      const admin = await staffWithSession(h, ['admin']);
      expect(codeOf(await raw('POST', '/fhir/R4/Subscription', byPatient, admin.headers))).toEqual([
        403,
        'SP_AUTH_FORBIDDEN',
      ]);
      expect(codeOf(await raw('POST', '/fhir/R4/Subscription', byNotification, admin.headers))).toEqual([
        403,
        'SP_AUTH_FORBIDDEN',
      ]);
      // A receptionist reads reminders, not clinical notices.
      const desk = await staffWithSession(h, ['admin', 'receptionist']);
      expect(codeOf(await raw('POST', '/fhir/R4/Subscription', byNotification, desk.headers))).toEqual([
        403,
        'SP_AUTH_FORBIDDEN',
      ]);
      // A physician reads a notification only of a patient whose care team they are on.
      const doctor = await staffWithSession(h, ['admin', 'physician']);
      expect(codeOf(await raw('POST', '/fhir/R4/Subscription', byNotification, doctor.headers))).toEqual([
        403,
        'SP_AUTH_NO_RELATIONSHIP',
      ]);
      expect(codeOf(await raw('POST', '/fhir/R4/Subscription', byPatient, doctor.headers))).toEqual([
        403,
        'SP_AUTH_NO_RELATIONSHIP',
      ]);
      expect(endpoint.records).toEqual([]);
      // An integration reads every notification of its tenant: the same filter is accepted.
      expect((await raw('POST', '/fhir/R4/Subscription', byNotification)).status).toBe(201);
    });

    it('stops a subscription set to off, restarts it with a new handshake, and deletes it', async () => {
      const endpoint = await hook();
      const sub = await activeSubscription(
        subscription(endpoint.url, filter('Communication?patient=Patient/sub-p2'), {
          header: [`Authorization: ${SECRET_HEADER}`],
        }),
      );
      const current = await read(sub.id);
      const off = (await fhir.update({
        resourceType: 'Subscription',
        id: sub.id,
        body: { ...current, status: 'off' },
      })) as Json;
      expect(off.status).toBe('off');
      const on = (await fhir.update({
        resourceType: 'Subscription',
        id: sub.id,
        body: { ...current, status: 'requested' },
      })) as Json;
      expect(on.status).toBe('requested');
      await eventually(async () => ofType(endpoint.records, 'handshake').length === 2, 'second handshake');
      // The redacted header sent back kept its stored value.
      expect(ofType(endpoint.records, 'handshake')[1].headers.authorization).toBe(SECRET_HEADER);
      await fhir.delete({ resourceType: 'Subscription', id: sub.id });
      const gone = await raw('GET', `/fhir/R4/Subscription/${sub.id}`);
      expect(gone.status).toBe(404);
      expect(gone.body.issue[0].details.coding[0].code).toBe('SP_FHIR_SUBSCRIPTION_NOT_FOUND');
    });

    it('lists its topics in the CapabilityStatement', async () => {
      const cs = (await fhir.capabilityStatement()) as Json;
      const sub = cs.rest[0].resource.find((r: Json) => r.type === 'Subscription');
      expect(sub.extension.map((e: Json) => e.valueCanonical)).toEqual([
        COMMUNICATION_TOPIC,
        REMINDER_TOPIC,
        'https://sealpost.dev/fhir/SubscriptionTopic/appointment-response',
      ]);
      expect(sub.operation[0].name).toBe('status');
    });
  });
}
