import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'fhir-kit-client';
import { Agent, setGlobalDispatcher } from 'undici';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { eventually, httpsJson, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession } from '../helpers/identity.js';

const TYPE_SYSTEM = 'https://sealpost.dev/fhir/CodeSystem/sealpost-notification-type';
const CHANNEL_SYSTEM = 'https://sealpost.dev/fhir/CodeSystem/sealpost-channel';
const V3_MODE = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationMode';
const PHI = 'PHIMARKER-Thyroid-panel-5521';

type Json = any;

/** A CommunicationRequest for `patient`, with `over` replacing elements. */
function cr(patient: string, over: Json = {}): Json {
  return {
    resourceType: 'CommunicationRequest',
    status: 'active',
    category: [{ coding: [{ system: TYPE_SYSTEM, code: 'test_result_ready' }] }],
    subject: { reference: `Patient/${patient}` },
    payload: [{ contentString: JSON.stringify({ testName: `TSH ${PHI}`, orderingClinician: `Dr. ${PHI}` }) }],
    ...over,
  };
}

function consent(patient: string, type: 'deny' | 'permit', channel?: Json, over: Json = {}): Json {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patient}` },
    provision: { type, ...(channel ? { code: [channel] } : {}) },
    ...over,
  };
}

const codeOf = (r: { body: Json }) => r.body?.issue?.[0]?.details?.coding?.[0]?.code;
/** A date-time `ms` from now, to the second, in UTC. */
const inMs = (ms: number) => new Date(Date.now() + ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

for (const backend of BACKENDS) {
  describe(`FHIR CommunicationRequest, Communication and Consent on ${backend}`, () => {
    let h: Harness;
    let db: TestDatabase | null = null;
    let fhir: Client;
    const raw = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      httpsJson(h.url, h.cert, method, path, body, {
        authorization: `Bearer ${h.apiKey}`,
        ...(body !== undefined ? { 'content-type': 'application/fhir+json' } : {}),
        ...headers,
      });
    const communications = async (crId: string): Promise<Json[]> => {
      const b = (await fhir.search({
        resourceType: 'Communication',
        searchParams: { 'based-on': `CommunicationRequest/${crId}` },
      })) as Json;
      return (b.entry ?? []).map((e: Json) => e.resource);
    };
    const crCount = async (patient: string) =>
      ((await fhir.search({ resourceType: 'CommunicationRequest', searchParams: { patient, _count: 100 } })) as Json)
        .total as number;

    beforeAll(async () => {
      if (backend === 'postgres') db = await createTestDatabase('postgres');
      h = await startSealpost({ ...(db ? { SEALPOST_DATABASE_URL: db.url } : {}) });
      setGlobalDispatcher(new Agent({ connect: { ca: h.cert } }));
      fhir = new Client({ baseUrl: `${h.url}/fhir/R4`, customHeaders: { Authorization: `Bearer ${h.apiKey}` } });
      for (const id of ['cr-p1', 'cr-p2', 'cr-p3'])
        expect((await h.request('PUT', `/v1/patients/${id}`, samplePatient())).status).toBe(201);
    }, 120_000);

    afterAll(async () => {
      await h?.close();
      await db?.drop();
    });

    it('lists CommunicationRequest, Communication and Consent in the CapabilityStatement with exactly their interactions', async () => {
      const cs = (await fhir.capabilityStatement()) as Json;
      const byType = (t: string) => cs.rest[0].resource.find((r: Json) => r.type === t);
      expect(byType('CommunicationRequest').interaction.map((i: Json) => i.code)).toEqual([
        'read',
        'create',
        'update',
        'search-type',
      ]);
      expect(byType('CommunicationRequest').searchParam.map((p: Json) => p.name)).toEqual([
        'patient',
        'status',
        'identifier',
      ]);
      expect(byType('Communication').interaction.map((i: Json) => i.code)).toEqual(['read', 'search-type']);
      expect(byType('Consent').interaction.map((i: Json) => i.code)).toEqual(['read', 'create', 'search-type']);
      // The vocabularies their codings use are published, without a credential.
      for (const id of ['sealpost-channel', 'sealpost-notification-status', 'sealpost-consent-source']) {
        const r = await raw('GET', `/fhir/R4/CodeSystem/${id}`, undefined, { authorization: '' });
        expect(r.status, id).toBe(200);
        expect(r.body).toMatchObject({ resourceType: 'CodeSystem', url: `https://sealpost.dev/fhir/CodeSystem/${id}` });
      }
      const channels = (await fhir.read({ resourceType: 'CodeSystem', id: 'sealpost-channel' })) as Json;
      expect(channels.concept.map((c: Json) => c.code)).toEqual(['sms', 'email', 'webhook', 'push']);
    });

    it('creates a notification from a CommunicationRequest; the worker delivers it and its Communication shows completed', async () => {
      const res = await raw(
        'POST',
        '/fhir/R4/CommunicationRequest',
        cr('cr-p1', { medium: [{ coding: [{ system: V3_MODE, code: 'SMSWRIT' }] }] }),
      );
      expect(res.status).toBe(201);
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
      const created = res.body;
      expect(res.headers.location).toBe(`${h.url}/fhir/R4/CommunicationRequest/${created.id}`);
      expect(created).toMatchObject({
        resourceType: 'CommunicationRequest',
        status: 'active',
        category: [{ coding: [{ system: TYPE_SYSTEM, code: 'test_result_ready' }] }],
        subject: { reference: 'Patient/cr-p1' },
        priority: 'routine',
      });
      expect(created.payload).toBeUndefined();
      expect(created.medium[0].coding[0]).toMatchObject({ system: CHANNEL_SYSTEM, code: 'sms' });
      // The same notification through the REST API.
      const rest = await h.request('GET', `/v1/notifications/${created.id}`);
      expect(rest.body.type).toBe('test_result_ready');

      const done = await eventually(async () => {
        const cs = await communications(created.id);
        return cs.length === 1 && cs[0].status === 'completed' ? cs[0] : null;
      }, 'the delivery is sent');
      expect(done).toMatchObject({
        resourceType: 'Communication',
        basedOn: [{ reference: `CommunicationRequest/${created.id}` }],
        subject: { reference: 'Patient/cr-p1' },
        medium: [
          {
            coding: [
              { system: CHANNEL_SYSTEM, code: 'sms' },
              { system: V3_MODE, code: 'SMSWRIT' },
            ],
          },
        ],
      });
      expect(Date.parse(done.sent)).toBeGreaterThan(0);
      expect(((await fhir.read({ resourceType: 'Communication', id: done.id })) as Json).id).toBe(done.id);
      expect(((await fhir.read({ resourceType: 'CommunicationRequest', id: created.id })) as Json).status).toBe(
        'completed',
      );
      const byStatus = (await fhir.search({
        resourceType: 'Communication',
        searchParams: { patient: 'Patient/cr-p1', status: 'completed' },
      })) as Json;
      expect(byStatus.entry.map((e: Json) => e.resource.id)).toContain(done.id);
      const none = (await fhir.search({
        resourceType: 'Communication',
        searchParams: { patient: 'cr-p1', status: 'stopped' },
      })) as Json;
      expect(none.entry ?? []).toEqual([]);

      // No PHI of the payload in the nudge that left, in any answer or in the log.
      const outbox = (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items as Json[];
      const nudge = outbox.find((i) => i.deliveryId === done.id);
      expect(nudge).toBeDefined();
      expect(JSON.stringify(nudge)).not.toContain(PHI);
      expect(JSON.stringify(done)).not.toContain(PHI);
      expect(readFileSync(h.logFile, 'utf8')).not.toContain(PHI);
    });

    it('answers a second create with the same identifier (or If-None-Exist) with the first, creating nothing', async () => {
      const identifier = [{ system: 'urn:oid:1.2.3.4.5', value: `order-${backend}-77` }];
      const first = await raw('POST', '/fhir/R4/CommunicationRequest', cr('cr-p2', { identifier }));
      expect(first.status).toBe(201);
      expect(first.body.identifier).toEqual(identifier);
      const before = await crCount('cr-p2');
      const again = await raw('POST', '/fhir/R4/CommunicationRequest', cr('cr-p2', { identifier }));
      expect(again.status).toBe(200);
      expect(again.body.id).toBe(first.body.id);
      const conditional = await raw('POST', '/fhir/R4/CommunicationRequest', cr('cr-p2'), {
        'if-none-exist': `identifier=${encodeURIComponent(`${identifier[0].system}|${identifier[0].value}`)}`,
      });
      expect(conditional.status).toBe(200);
      expect(conditional.body.id).toBe(first.body.id);
      // The same identifier for another patient or another type hands nothing out.
      for (const body of [
        cr('cr-p1', { identifier }),
        cr('cr-p2', { identifier, category: [{ coding: [{ system: TYPE_SYSTEM, code: 'follow_up' }] }] }),
      ]) {
        const reused = await raw('POST', '/fhir/R4/CommunicationRequest', body);
        expect(reused.status).toBe(422);
        expect(codeOf(reused)).toBe('SP_IDEMPOTENCY_KEY_REUSED');
        expect(reused.text).not.toContain(first.body.id);
      }
      expect(await crCount('cr-p2')).toBe(before);
      const found = (await fhir.search({
        resourceType: 'CommunicationRequest',
        searchParams: { identifier: `${identifier[0].system}|${identifier[0].value}` },
      })) as Json;
      expect(found.entry.map((e: Json) => e.resource.id)).toEqual([first.body.id]);
      // The identifier is stored as a keyed blind index and sealed: never in clear in the database.
      if (db) {
        const rows = await db.query<Json>('select * from notification_identifiers');
        expect(JSON.stringify(rows)).not.toContain(identifier[0].value);
      }
    });

    it('revokes a scheduled CommunicationRequest (its Communication stops), and refuses other changes and revoking a sent one', async () => {
      const created = (await fhir.create({
        resourceType: 'CommunicationRequest',
        body: cr('cr-p2', { occurrenceDateTime: inMs(86_400_000) }),
      })) as Json;
      expect(created.status).toBe('active');
      expect((await communications(created.id))[0].status).toBe('preparation');
      const changed = await raw('PUT', `/fhir/R4/CommunicationRequest/${created.id}`, {
        ...cr('cr-p2'),
        id: created.id,
        status: 'revoked',
        category: [{ coding: [{ system: TYPE_SYSTEM, code: 'follow_up' }] }],
      });
      expect(changed.status).toBe(422);
      expect(codeOf(changed)).toBe('SP_FHIR_CHANGE_UNSUPPORTED');
      const notRevoked = await raw('PUT', `/fhir/R4/CommunicationRequest/${created.id}`, {
        ...cr('cr-p2'),
        id: created.id,
      });
      expect(codeOf(notRevoked)).toBe('SP_FHIR_CHANGE_UNSUPPORTED');
      expect((await communications(created.id))[0].status).toBe('preparation');

      const revoked = (await fhir.update({
        resourceType: 'CommunicationRequest',
        id: created.id,
        body: { ...cr('cr-p2'), id: created.id, status: 'revoked' },
      })) as Json;
      expect(revoked.status).toBe('revoked');
      expect((await communications(created.id))[0].status).toBe('stopped');
      const revokedList = (await fhir.search({
        resourceType: 'CommunicationRequest',
        searchParams: { patient: 'Patient/cr-p2', status: 'revoked' },
      })) as Json;
      expect(revokedList.entry.map((e: Json) => e.resource.id)).toContain(created.id);

      const sent = (await fhir.create({ resourceType: 'CommunicationRequest', body: cr('cr-p2') })) as Json;
      await eventually(async () => (await communications(sent.id))[0]?.status === 'completed', 'sent');
      const late = await raw('PUT', `/fhir/R4/CommunicationRequest/${sent.id}`, {
        ...cr('cr-p2'),
        id: sent.id,
        status: 'revoked',
      });
      expect(late.status).toBe(409);
      expect(codeOf(late)).toBe('SP_NOTIFICATION_NOT_CANCELLABLE');
      expect(((await fhir.read({ resourceType: 'CommunicationRequest', id: sent.id })) as Json).status).toBe(
        'completed',
      );
    });

    it('refuses bad CommunicationRequests with a clear OperationOutcome and creates nothing', async () => {
      const before = await crCount('cr-p1');
      const cases: [string, Json, number, string][] = [
        [
          'unknown category',
          cr('cr-p1', { category: [{ coding: [{ system: TYPE_SYSTEM, code: 'lottery' }] }] }),
          400,
          'SP_FHIR_UNKNOWN_CODE',
        ],
        [
          'category of another system',
          cr('cr-p1', { category: [{ coding: [{ system: 'urn:x', code: 'test_result_ready' }] }] }),
          400,
          'SP_FHIR_UNKNOWN_CODE',
        ],
        [
          'unknown medium',
          cr('cr-p1', { medium: [{ coding: [{ system: V3_MODE, code: 'FAXWRIT' }] }] }),
          400,
          'SP_FHIR_UNKNOWN_CODE',
        ],
        ['patient not found', cr('nobody-here'), 422, 'SP_FHIR_REFERENCE_NOT_FOUND'],
        ['unknown element', cr('cr-p1', { favouriteColour: 'blue' }), 400, 'SP_FHIR_INVALID_RESOURCE'],
        ['R4 element Sealpost cannot honour', cr('cr-p1', { doNotPerform: true }), 400, 'SP_FHIR_INVALID_RESOURCE'],
        [
          'past occurrenceDateTime',
          cr('cr-p1', { occurrenceDateTime: '2020-01-01T00:00:00Z' }),
          400,
          'SP_NOTIFICATION_SEND_AT_PAST',
        ],
        [
          'malformed occurrenceDateTime',
          cr('cr-p1', { occurrenceDateTime: 'tomorrow' }),
          400,
          'SP_FHIR_INVALID_RESOURCE',
        ],
        [
          'date-only occurrenceDateTime',
          cr('cr-p1', { occurrenceDateTime: '2031-01-01' }),
          400,
          'SP_FHIR_INVALID_RESOURCE',
        ],
        [
          'payload that is not JSON',
          cr('cr-p1', { payload: [{ contentString: `not json ${PHI}` }] }),
          400,
          'SP_FHIR_INVALID_RESOURCE',
        ],
        [
          'data the template refuses',
          cr('cr-p1', { payload: [{ contentString: JSON.stringify({ testName: 5 }) }] }),
          400,
          'SP_NOTIFICATION_INVALID_DATA',
        ],
        ['status other than active', cr('cr-p1', { status: 'draft' }), 400, 'SP_FHIR_INVALID_RESOURCE'],
        [
          'a channel the patient lacks',
          cr('cr-p1', { medium: [{ coding: [{ system: CHANNEL_SYSTEM, code: 'webhook' }] }] }),
          422,
          'SP_NOTIFICATION_NO_CHANNEL',
        ],
      ];
      for (const [what, body, status, code] of cases) {
        const r = await raw('POST', '/fhir/R4/CommunicationRequest', body);
        expect(r.status, what).toBe(status);
        expect(r.body.resourceType, what).toBe('OperationOutcome');
        expect(codeOf(r), what).toBe(code);
        expect(r.text, what).not.toContain(PHI);
      }
      expect(await crCount('cr-p1')).toBe(before);
      expect(readFileSync(h.logFile, 'utf8')).not.toContain(PHI);
    });

    it('suppresses an SMS created before a Consent deny and sent after it, then sends by e-mail; a later permit restores SMS', async () => {
      // Scheduled a few seconds ahead, so that the consent is recorded between creation and sending.
      const created = (await fhir.create({
        resourceType: 'CommunicationRequest',
        body: cr('cr-p3', { occurrenceDateTime: inMs(3_000), priority: 'urgent' }),
      })) as Json;
      expect((await communications(created.id)).map((c) => c.medium[0].coding[0].code)).toEqual(['sms']);
      const denied = await raw(
        'POST',
        '/fhir/R4/Consent',
        consent('cr-p3', 'deny', { coding: [{ system: V3_MODE, code: 'SMSWRIT' }] }),
      );
      expect(denied.status).toBe(201);
      expect(denied.body).toMatchObject({ resourceType: 'Consent', status: 'active', provision: { type: 'deny' } });
      expect(denied.body.provision.code[0].coding[0]).toMatchObject({ system: CHANNEL_SYSTEM, code: 'sms' });

      const settled = await eventually(async () => {
        const cs = await communications(created.id);
        return cs.length === 2 && cs.some((c) => c.status === 'completed') ? cs : null;
      }, 'the sms suppressed and the e-mail sent');
      const sms = settled.find((c: Json) => c.medium[0].coding[0].code === 'sms');
      const email = settled.find((c: Json) => c.medium[0].coding[0].code === 'email');
      expect(sms.status).toBe('not-done');
      expect(sms.statusReason.coding[0]).toEqual({ system: 'https://sealpost.dev/errors', code: 'SP_CONSENT_DENIED' });
      expect(sms.sent).toBeUndefined();
      expect(email.status).toBe('completed');
      const rest = await h.request('GET', `/v1/notifications/${created.id}`);
      expect(rest.body.deliveries.find((d: Json) => d.channel === 'sms')).toMatchObject({
        status: 'suppressed',
        lastErrorCode: 'SP_CONSENT_DENIED',
      });
      const outbox = (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items as Json[];
      expect(outbox.some((i) => i.deliveryId === sms.id)).toBe(false);

      // Permit every channel: the deny is superseded (inactive) and SMS goes out again.
      const permitted = (await fhir.create({ resourceType: 'Consent', body: consent('cr-p3', 'permit') })) as Json;
      expect(permitted.provision.code).toBeUndefined();
      const list = (await fhir.search({ resourceType: 'Consent', searchParams: { patient: 'Patient/cr-p3' } })) as Json;
      expect(list.entry.map((e: Json) => [e.resource.id, e.resource.status])).toEqual([
        [permitted.id, 'active'],
        [denied.body.id, 'inactive'],
      ]);
      expect(((await fhir.read({ resourceType: 'Consent', id: denied.body.id })) as Json).status).toBe('inactive');
      const again = (await fhir.create({ resourceType: 'CommunicationRequest', body: cr('cr-p3') })) as Json;
      await eventually(async () => (await communications(again.id))[0]?.status === 'completed', 'sms sent again');
    });

    it('refuses Consents it cannot honour and records nothing', async () => {
      const before = ((await fhir.search({ resourceType: 'Consent', searchParams: { patient: 'cr-p1' } })) as Json)
        .total;
      const cases: [string, Json, number, string][] = [
        ['a draft', consent('cr-p1', 'deny', undefined, { status: 'draft' }), 422, 'SP_FHIR_CONSENT_UNSUPPORTED'],
        [
          'another scope',
          consent('cr-p1', 'deny', undefined, {
            scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'research' }] },
          }),
          422,
          'SP_FHIR_CONSENT_UNSUPPORTED',
        ],
        [
          'a period',
          consent('cr-p1', 'deny', undefined, { provision: { type: 'deny', period: { start: '2030-01-01' } } }),
          422,
          'SP_FHIR_CONSENT_UNSUPPORTED',
        ],
        [
          'nested provisions',
          consent('cr-p1', 'deny', undefined, { provision: { type: 'deny', provision: [{ type: 'permit' }] } }),
          422,
          'SP_FHIR_CONSENT_UNSUPPORTED',
        ],
        [
          'an unknown channel',
          consent('cr-p1', 'deny', { coding: [{ system: V3_MODE, code: 'FAXWRIT' }] }),
          400,
          'SP_FHIR_UNKNOWN_CODE',
        ],
        ['a bad provision type', consent('cr-p1', 'maybe' as never), 400, 'SP_FHIR_INVALID_RESOURCE'],
        ['an unknown patient', consent('nobody-here', 'deny'), 422, 'SP_FHIR_REFERENCE_NOT_FOUND'],
        ['an unknown element', consent('cr-p1', 'deny', undefined, { mood: 'x' }), 400, 'SP_FHIR_INVALID_RESOURCE'],
      ];
      for (const [what, body, status, code] of cases) {
        const r = await raw('POST', '/fhir/R4/Consent', body);
        expect(r.status, what).toBe(status);
        expect(codeOf(r), what).toBe(code);
      }
      expect(((await fhir.search({ resourceType: 'Consent', searchParams: { patient: 'cr-p1' } })) as Json).total).toBe(
        before,
      );
      const noPatient = await raw('GET', '/fhir/R4/Consent');
      expect(codeOf(noPatient)).toBe('SP_FHIR_INVALID_SEARCH');
      const unknown = await raw('GET', '/fhir/R4/Consent/does-not-exist');
      expect(unknown.status).toBe(404);
      expect((await raw('GET', '/fhir/R4/Communication/does-not-exist')).status).toBe(404);
      expect((await raw('GET', '/fhir/R4/CommunicationRequest/does-not-exist')).status).toBe(404);
    });

    it('applies the REST API’s permissions and care-team rule to people: types by role, patients by care team', async () => {
      const as = (token: string) => (method: string, path: string, body?: unknown) =>
        raw(method, path, body, { authorization: `Bearer ${token}` });
      const receptionist = as((await staffWithSession(h, ['receptionist'])).token);
      const physician = await staffWithSession(h, ['physician']);
      const doctor = as(physician.token);
      const clinical = (await fhir.create({ resourceType: 'CommunicationRequest', body: cr('cr-p1') })) as Json;

      // A receptionist sends scheduling notices only, and does not see clinical ones or their deliveries.
      expect(codeOf(await receptionist('POST', '/fhir/R4/CommunicationRequest', cr('cr-p1')))).toBe(
        'SP_AUTH_FORBIDDEN',
      );
      expect((await receptionist('GET', `/fhir/R4/CommunicationRequest/${clinical.id}`)).status).toBe(403);
      const seen = await receptionist('GET', '/fhir/R4/Communication?patient=cr-p1');
      expect(seen.status).toBe(200);
      const [delivery] = await communications(clinical.id);
      expect((seen.body.entry ?? []).map((e: Json) => e.resource.id)).not.toContain(delivery.id);
      const listed = await receptionist('GET', '/fhir/R4/CommunicationRequest?patient=cr-p1');
      expect((listed.body.entry ?? []).map((e: Json) => e.resource.id)).not.toContain(clinical.id);

      // A physician outside the patient's care team reaches nothing of theirs, and must name a patient.
      expect(codeOf(await doctor('POST', '/fhir/R4/CommunicationRequest', cr('cr-p1')))).toBe(
        'SP_AUTH_NO_RELATIONSHIP',
      );
      expect(codeOf(await doctor('GET', `/fhir/R4/CommunicationRequest/${clinical.id}`))).toBe(
        'SP_AUTH_NO_RELATIONSHIP',
      );
      expect(codeOf(await doctor('GET', `/fhir/R4/Communication/${delivery.id}`))).toBe('SP_AUTH_NO_RELATIONSHIP');
      expect(codeOf(await doctor('POST', '/fhir/R4/Consent', consent('cr-p1', 'deny')))).toBe(
        'SP_AUTH_NO_RELATIONSHIP',
      );
      expect(codeOf(await doctor('GET', '/fhir/R4/Consent?patient=cr-p1'))).toBe('SP_AUTH_NO_RELATIONSHIP');
      expect(codeOf(await doctor('GET', '/fhir/R4/CommunicationRequest'))).toBe('SP_FHIR_INVALID_SEARCH');
      // On the care team, the same physician reads them.
      expect((await h.request('PUT', `/v1/patients/cr-p1/care-team/${physician.userId}`)).status).toBe(201);
      expect((await doctor('GET', `/fhir/R4/CommunicationRequest/${clinical.id}`)).status).toBe(200);
      expect((await doctor('GET', `/fhir/R4/Communication/${delivery.id}`)).status).toBe(200);
      expect((await doctor('GET', '/fhir/R4/Consent?patient=cr-p1')).status).toBe(200);
      // An auditor holds no notification or patient permission at all.
      const auditor = as((await staffWithSession(h, ['auditor'])).token);
      expect((await auditor('GET', `/fhir/R4/Communication/${delivery.id}`)).status).toBe(403);
      expect((await auditor('GET', '/fhir/R4/Consent?patient=cr-p1')).status).toBe(403);
    });

    it('answers searches with POST _search and refuses unknown search parameters', async () => {
      const r = await raw('POST', '/fhir/R4/CommunicationRequest/_search', 'patient=Patient%2Fcr-p1', {
        'content-type': 'application/x-www-form-urlencoded',
      });
      expect(r.status).toBe(200);
      expect(r.body.type).toBe('searchset');
      expect(r.body.entry.length).toBeGreaterThan(0);
      const bad = await raw('GET', '/fhir/R4/CommunicationRequest?colour=blue');
      expect(bad.status).toBe(400);
      expect(codeOf(bad)).toBe('SP_FHIR_INVALID_SEARCH');
      const badStatus = await raw('GET', '/fhir/R4/Communication?status=exploded');
      expect(codeOf(badStatus)).toBe('SP_FHIR_INVALID_SEARCH');
    });
  });
}
