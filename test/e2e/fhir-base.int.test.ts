import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'fhir-kit-client';
import { Agent, setGlobalDispatcher } from 'undici';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { form, httpsJson, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { RESOURCE_CAPABILITIES } from '../../src/ehr/fhir/capability.js';
import { NOTIFICATION_TYPES } from '../../src/core/domain.js';

describe('FHIR R4 base: CapabilityStatement, vocabulary, media types and OperationOutcome errors', () => {
  let h: Harness;
  let fhir: Client;
  const raw = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    httpsJson(h.url, h.cert, method, path, body, { authorization: `Bearer ${h.apiKey}`, ...headers });

  beforeAll(async () => {
    h = await startSealpost();
    // fhir-kit-client uses the global fetch: trust the test server's self-signed certificate there.
    setGlobalDispatcher(new Agent({ connect: { ca: h.cert } }));
    fhir = new Client({ baseUrl: `${h.url}/fhir/R4` });
  }, 120_000);
  afterAll(() => h?.close());

  it('publishes a CapabilityStatement without a credential: R4 4.0.1, JSON, SMART security, exactly the listed resources', async () => {
    const cs = (await fhir.capabilityStatement()) as any;
    expect(cs.resourceType).toBe('CapabilityStatement');
    expect(cs.fhirVersion).toBe('4.0.1');
    expect(cs.format).toEqual(['json', 'application/fhir+json']);
    const rest = cs.rest[0];
    expect(rest.mode).toBe('server');
    expect(rest.security.service[0].coding[0].code).toBe('SMART-on-FHIR');
    expect(rest.security.extension[0].extension[0]).toEqual({ url: 'token', valueUri: `${h.url}/oauth2/token` });
    expect(rest.resource.map((r: { type: string }) => r.type)).toEqual(RESOURCE_CAPABILITIES.map((r) => r.type));
    expect(rest.resource.find((r: { type: string }) => r.type === 'AuditEvent').interaction).toEqual([
      { code: 'search-type' },
    ]);
    const r = await raw('GET', '/fhir/R4/metadata', undefined, { authorization: '' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(r.text).not.toMatch(/sp_[A-Za-z0-9]+_|tenant/);
  });

  it('lists exactly the interactions the routes implement, for every resource type', () => {
    const has = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string) =>
      h.app.server.hasRoute({ method, url: `/fhir/R4${url}` });
    for (const r of RESOURCE_CAPABILITIES) {
      const t = r.type;
      const readUrl = t === 'CodeSystem' ? '/CodeSystem/sealpost-notification-type' : `/${t}/:id`;
      const routes: Record<string, boolean> = {
        read: has('GET', readUrl),
        create: has('POST', `/${t}`),
        update: has('PUT', `/${t}/:id`),
        delete: has('DELETE', `/${t}/:id`),
        'search-type': has('GET', `/${t}`),
      };
      for (const [interaction, implemented] of Object.entries(routes))
        expect(implemented, `${t} ${interaction}`).toBe((r.interaction as string[]).includes(interaction));
      // A type searched by GET is searched by POST _search too (AuditEvent predates the FHIR base: GET only).
      if (r.interaction.includes('search-type') && t !== 'AuditEvent')
        expect(has('POST', `/${t}/_search`), `${t} POST _search`).toBe(true);
    }
  });

  it('publishes the CodeSystem of notification types that CommunicationRequest.category uses', async () => {
    const cs = (await fhir.read({ resourceType: 'CodeSystem', id: 'sealpost-notification-type' })) as any;
    expect(cs.url).toBe('https://sealpost.dev/fhir/CodeSystem/sealpost-notification-type');
    expect(cs.content).toBe('complete');
    expect(cs.concept.map((c: { code: string }) => c.code)).toEqual([...NOTIFICATION_TYPES]);
  });

  it('answers an unknown FHIR path with a 404 OperationOutcome carrying the Sealpost code', async () => {
    const r = await raw('GET', '/fhir/R4/Nonexistent/1');
    expect(r.status).toBe(404);
    expect(r.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(r.body).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'not-found', details: { coding: [{ code: 'SP_REQ_NOT_FOUND' }] } }],
    });
    const anonymous = await raw('GET', '/fhir/R4/Nonexistent/1', undefined, { authorization: '' });
    expect(anonymous.status).toBe(404); // an unknown path names nothing: no credential needed to learn that
    expect(anonymous.body.resourceType).toBe('OperationOutcome');
    await expect(fhir.read({ resourceType: 'Nonexistent', id: '1' })).rejects.toMatchObject({
      response: { status: 404, data: { resourceType: 'OperationOutcome' } },
    });
  });

  it('takes _format=json and refuses XML (by _format or an XML-only Accept) with 415 as an OperationOutcome', async () => {
    expect((await raw('GET', '/fhir/R4/metadata?_format=json')).status).toBe(200);
    expect((await raw('GET', '/fhir/R4/metadata?_format=application/fhir%2Bjson')).status).toBe(200);
    for (const [path, headers] of [
      ['/fhir/R4/metadata?_format=xml', {}],
      ['/fhir/R4/metadata?_format=application/fhir%2Bxml', {}],
      ['/fhir/R4/metadata', { accept: 'application/fhir+xml' }],
    ] as const) {
      const r = await raw('GET', path, undefined, headers);
      expect(r.status, path).toBe(415);
      expect(r.body.resourceType).toBe('OperationOutcome');
      expect(r.body.issue[0].details.coding[0].code).toBe('SP_REQ_UNSUPPORTED_MEDIA_TYPE');
    }
    expect((await raw('GET', '/fhir/R4/metadata', undefined, { accept: 'application/fhir+json' })).status).toBe(200);
  });

  it('takes a SMART Backend Services access token with the permission its scopes grant', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
    const kid = `k-${randomBytes(4).toString('hex')}`;
    const client = await raw('POST', '/v1/oauth-clients', {
      name: 'EHR reader',
      scopes: ['system/Patient.rs'],
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid }] },
    });
    expect(client.status).toBe(201);
    const clientId = client.body.clientId as string;
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({
      iss: clientId,
      sub: clientId,
      aud: `${h.url}/oauth2/token`,
      jti: randomBytes(12).toString('hex'),
      iat: now,
      exp: now + 240,
    })
      .setProtectedHeader({ alg: 'ES384', kid, typ: 'JWT' })
      .sign(privateKey);
    const t = await form(h, '/oauth2/token', {
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      scope: 'system/Patient.rs',
    });
    expect(t.status).toBe(200);
    const patient = {
      resourceType: 'Patient',
      name: [{ family: 'Smart' }],
      birthDate: '1990-01-01',
      extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/timezone', valueCode: 'UTC' }],
      identifier: [{ system: 'urn:smart-test', value: 'S1' }],
    };
    const created = await raw('POST', '/fhir/R4/Patient', patient, { 'content-type': 'application/fhir+json' });
    expect(created.status).toBe(201);
    const smart = new Client({ baseUrl: `${h.url}/fhir/R4` });
    smart.bearerToken = t.body.access_token;
    expect(((await smart.read({ resourceType: 'Patient', id: created.body.id })) as any).id).toBe(created.body.id);
    const found = (await smart.search({
      resourceType: 'Patient',
      searchParams: { identifier: 'urn:smart-test|S1' },
    })) as any;
    expect(found.total).toBe(1);
    // Its scopes grant no patient.write: creating is refused with an OperationOutcome.
    await expect(smart.create({ resourceType: 'Patient', body: patient })).rejects.toMatchObject({
      response: { status: 403, data: { resourceType: 'OperationOutcome' } },
    });
  });

  it('answers the AuditEvent search as before (a searchset Bundle), and 401 as an OperationOutcome without a credential', async () => {
    const ok = await raw('GET', '/fhir/R4/AuditEvent?_count=1');
    expect(ok.status).toBe(200);
    expect(ok.body.type).toBe('searchset');
    const r = await raw('GET', '/fhir/R4/AuditEvent', undefined, { authorization: '' });
    expect(r.status).toBe(401);
    expect(r.body.resourceType).toBe('OperationOutcome');
  });
});
