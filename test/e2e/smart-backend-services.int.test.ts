import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:https';
import { randomBytes } from 'node:crypto';
import {
  exportJWK,
  exportPKCS8,
  exportSPKI,
  generateKeyPair,
  importJWK,
  importPKCS8,
  SignJWT,
  base64url,
  type CryptoKey,
  type JWK,
} from 'jose';
import { form, httpsJson, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { query } from '../helpers/db-snapshot.js';
import { idpPki } from '../helpers/oidc-provider.js';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

interface KeyPair {
  kid: string;
  alg: 'RS384' | 'ES384';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function keyPair(alg: 'RS384' | 'ES384'): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `${alg.toLowerCase()}-${randomBytes(4).toString('hex')}`;
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid } };
}

/**
 * A real HTTPS server publishing a JWKS, counting its fetches. Its certificate is issued by a test CA
 * that no trust store knows (`caFile`: trusted by Sealpost only through SEALPOST_OUTBOUND_CA_FILE).
 */
async function jwksServer(
  keys: () => JWK[],
): Promise<{ url: string; caFile: string; fetches: () => number; close: () => Promise<void> }> {
  const { leaf, caFile } = await idpPki();
  let n = 0;
  const server: Server = createServer({ key: leaf.key, cert: leaf.cert }, (req, res) => {
    n++;
    if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: keys() }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}/.well-known/jwks.json`,
    caFile,
    fetches: () => n,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe('SMART Backend Services: client registration, client_credentials with private_key_jwt, access tokens', () => {
  let h: Harness;
  let offsetMs = 0;
  const clock = () => new Date(Date.now() + offsetMs);
  let rsa: KeyPair;
  let ec: KeyPair;
  let stranger: KeyPair;
  let jwks: Awaited<ReturnType<typeof jwksServer>>;
  let rsaClient: string;
  let ecClient: string;
  let tokenUrl: string;

  const count = (table: string) => query<{ n: number }>(h.dataDir, `select count(*) as n from ${table}`)[0]!.n;
  const lastAudit = () => {
    const r = query<{ actor: string; action: string; entry: string }>(
      h.dataDir,
      'select actor, action, entry from audit_entries order by idx desc limit 1',
    )[0]!;
    return { ...r, details: JSON.parse(r.entry).details, outcome: JSON.parse(r.entry).outcome };
  };
  const api = (token: string, method: string, path: string, body?: unknown) =>
    h.request(method, path, body, { authorization: `Bearer ${token}` });

  /** A client assertion as a SMART client builds it; `over` replaces claims or header members. */
  async function assertion(
    key: KeyPair,
    clientId: string,
    over: { claims?: Record<string, unknown>; header?: Record<string, unknown>; expIn?: number } = {},
  ) {
    const now = Math.floor(clock().getTime() / 1000);
    const claims = {
      iss: clientId,
      sub: clientId,
      aud: tokenUrl,
      jti: randomBytes(12).toString('hex'),
      iat: now,
      exp: now + (over.expIn ?? 240),
      ...over.claims,
    };
    for (const k of Object.keys(claims))
      if ((claims as Record<string, unknown>)[k] === undefined) delete (claims as Record<string, unknown>)[k];
    return new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...over.header } as { alg: string })
      .sign(key.privateKey);
  }
  const tokenRequest = (fields: Record<string, string>) => form(h, '/oauth2/token', fields);
  const grant = (clientAssertion: string, scope?: string) =>
    tokenRequest({
      grant_type: 'client_credentials',
      client_assertion_type: JWT_BEARER,
      client_assertion: clientAssertion,
      ...(scope ? { scope } : {}),
    });

  /** A refused token request: the OAuth error, one failure audit entry, nothing else written. */
  async function expectRefused(
    send: () => Promise<{ status: number; body: any; headers: Record<string, unknown> }>,
    error: string,
    reason: string,
    actor = 'anonymous',
  ) {
    const before = { jti: count('oauth_jti'), clients: count('oauth_clients'), audit: count('audit_entries') };
    const res = await send();
    expect(res.status).toBe(error === 'invalid_client' ? 401 : 400);
    expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
    expect(res.body.error).toBe(error);
    expect(typeof res.body.error_description).toBe('string');
    expect(res.body.access_token).toBeUndefined();
    expect({ jti: count('oauth_jti'), clients: count('oauth_clients'), audit: count('audit_entries') }).toEqual({
      ...before,
      audit: before.audit + 1,
    });
    const a = lastAudit();
    expect(a).toMatchObject({ action: 'oauth.token_refused', actor, outcome: 'failure' });
    expect(a.details).toEqual({ error, reason });
  }

  beforeAll(async () => {
    [rsa, ec, stranger] = await Promise.all([keyPair('RS384'), keyPair('ES384'), keyPair('RS384')]);
    jwks = await jwksServer(() => [ec.publicJwk]);
    // Certificates verified: the JWKS server's test CA is trusted through the extra-CA setting
    // (without it, refused: tested below).
    // The JWKS server listens on loopback, which a client's URL may reach only when allowed explicitly.
    h = await startSealpost(
      { SEALPOST_OUTBOUND_CA_FILE: jwks.caFile, SEALPOST_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' },
      { clock },
    );
    tokenUrl = `${h.url}/oauth2/token`;
    const a = await h.request('POST', '/v1/oauth-clients', {
      name: 'EHR bulk sender',
      scopes: ['system/Patient.cru'],
      jwks: { keys: [rsa.publicJwk] },
    });
    expect(a.status).toBe(201);
    rsaClient = a.body.clientId;
    const b = await h.request('POST', '/v1/oauth-clients', {
      name: 'Scheduler',
      scopes: ['system/Appointment.rs', 'system/Patient.rs'],
      jwksUrl: jwks.url,
    });
    expect(b.status).toBe(201);
    ecClient = b.body.clientId;
  }, 120_000);

  afterAll(async () => {
    await h?.close();
    await jwks?.close();
  });

  it('publishes its SMART configuration without authentication', async () => {
    const res = await httpsJson(h.url, h.cert, 'GET', '/.well-known/smart-configuration');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      token_endpoint: tokenUrl,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      grant_types_supported: ['client_credentials'],
      capabilities: ['client-confidential-asymmetric'],
    });
    expect(res.body.scopes_supported).toEqual(
      expect.arrayContaining([
        'system/*.rs',
        'system/*.cruds',
        'system/Patient.rs',
        'system/Communication.cruds',
        'system/AuditEvent.rs',
      ]),
    );
  });

  it('registers clients with public keys only, audited, and refuses bad registrations without creating anything', async () => {
    const listed = await h.request('GET', '/v1/oauth-clients');
    expect(listed.body.items.map((c: { clientId: string }) => c.clientId).sort()).toEqual([rsaClient, ecClient].sort());
    const one = await h.request('GET', `/v1/oauth-clients/${rsaClient}`);
    expect(one.body).toMatchObject({
      name: 'EHR bulk sender',
      scopes: ['system/Patient.cru'],
      jwksUrl: null,
      revokedAt: null,
    });
    expect(one.body.jwks.keys[0]).toEqual({ kty: 'RSA', kid: rsa.kid, n: rsa.publicJwk.n, e: rsa.publicJwk.e });
    const reg = query<{ actor: string }>(
      h.dataDir,
      "select actor from audit_entries where action = 'oauth_client.registered'",
    );
    expect(reg).toHaveLength(2);
    expect(reg[0]!.actor).toMatch(/^api-key:/);

    const privateJwk = { ...(await exportJWK(rsa.privateKey)), kid: 'leaked' };
    const symmetric = { kty: 'oct', k: base64url.encode(randomBytes(32)), kid: 'mac' };
    const before = { clients: count('oauth_clients'), audit: count('audit_entries') };
    const bad: [unknown, string][] = [
      [{ name: 'x', scopes: ['system/Patient.rs'], jwks: { keys: [privateJwk] } }, 'SP_OAUTH_INVALID_JWKS'],
      [{ name: 'x', scopes: ['system/Patient.rs'], jwks: { keys: [symmetric] } }, 'SP_OAUTH_INVALID_JWKS'],
      [
        { name: 'x', scopes: ['system/Patient.rs'], jwks: { keys: [{ ...rsa.publicJwk, kid: undefined }] } },
        'SP_OAUTH_INVALID_JWKS',
      ],
      [
        { name: 'x', scopes: ['system/Patient.rs'], jwks: { keys: [rsa.publicJwk] }, jwksUrl: jwks.url },
        'SP_OAUTH_INVALID_JWKS',
      ],
      [{ name: 'x', scopes: ['system/Patient.rs'] }, 'SP_OAUTH_INVALID_JWKS'],
      [
        { name: 'x', scopes: ['system/Patient.rs'], jwksUrl: 'http://127.0.0.1/jwks.json' },
        'SP_OAUTH_INVALID_JWKS_URL',
      ],
      [{ name: 'x', scopes: ['patient/Patient.rs'], jwks: { keys: [rsa.publicJwk] } }, 'SP_OAUTH_INVALID_SCOPE'],
      [{ name: 'x', scopes: ['system/Pharmacy.rs'], jwks: { keys: [rsa.publicJwk] } }, 'SP_OAUTH_INVALID_SCOPE'],
    ];
    for (const [body, code] of bad) {
      const res = await h.request('POST', '/v1/oauth-clients', body);
      expect([res.status, res.body.code]).toEqual([400, code]);
      expect(res.text).not.toContain(String(privateJwk.d));
    }
    expect({ clients: count('oauth_clients'), audit: count('audit_entries') }).toEqual(before);

    const auditKey = await h.request('POST', '/v1/api-keys', { name: 'auditor', scopes: ['audit'] });
    const forbidden = await h.request(
      'POST',
      '/v1/oauth-clients',
      { name: 'x', scopes: ['system/Patient.rs'], jwks: { keys: [rsa.publicJwk] } },
      { authorization: `Bearer ${auditKey.body.key}` },
    );
    expect([forbidden.status, forbidden.body.code]).toEqual([403, 'SP_AUTH_FORBIDDEN']);
  });

  it('issues an access token for an RS384 assertion verified with the inline JWKS; the token works only within its scopes', async () => {
    const res = await grant(await assertion(rsa, rsaClient));
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({ token_type: 'bearer', expires_in: 300, scope: 'system/Patient.cru' });
    const token: string = res.body.access_token;
    expect(lastAudit()).toMatchObject({
      action: 'oauth.token_issued',
      actor: `client:${rsaClient}`,
      outcome: 'success',
    });

    const put = await api(token, 'PUT', '/v1/patients/smart-p1', samplePatient());
    expect(put.status).toBe(201);
    expect(lastAudit()).toMatchObject({ action: 'patient.created', actor: `client:${rsaClient}` });
    expect((await api(token, 'GET', '/v1/patients/smart-p1')).status).toBe(200);
    for (const [method, path] of [
      ['GET', '/v1/api-keys'],
      ['DELETE', '/v1/patients/smart-p1?erase=true'],
      ['GET', '/v1/oauth-clients'],
    ]) {
      const r = await api(token, method!, path!);
      expect([r.status, r.body.code]).toEqual([403, 'SP_AUTH_FORBIDDEN']);
    }
    const client = await h.request('GET', `/v1/oauth-clients/${rsaClient}`);
    expect(client.body.lastUsedAt).not.toBeNull();
  });

  it('lets a system/Communication.rs client read, and a .u client cancel, notifications of every type (systems are tenant-wide)', async () => {
    const created = [];
    for (const body of [
      { type: 'test_result_ready', data: { testName: 'Ferritin' } },
      { type: 'billing_statement', data: { amount: '12.50', dueDate: '2031-04-01', statementId: 'S9' } },
      { type: 'appointment_reminder', data: { start: '2031-02-03T15:30:00Z' }, sendAt: '2031-01-01T00:00:00Z' },
    ]) {
      const r = await h.request('POST', '/v1/notifications', { patientId: 'smart-p1', ...body });
      expect(r.status).toBe(202);
      created.push(r.body.id as string);
    }
    const reg = await h.request('POST', '/v1/oauth-clients', {
      name: 'Status board',
      scopes: ['system/Communication.rs', 'system/Communication.u'],
      jwks: { keys: [rsa.publicJwk] },
    });
    expect(reg.status).toBe(201);
    const res = await grant(await assertion(rsa, reg.body.clientId));
    expect(res.status).toBe(200);
    for (const id of created)
      expect((await api(res.body.access_token, 'GET', `/v1/notifications/${id}`)).status).toBe(200);
    expect((await api(res.body.access_token, 'POST', `/v1/notifications/${created[2]}/cancel`)).status).toBe(200);
    // Reading is not sending: creating needs system/Communication.c.
    const send = await api(res.body.access_token, 'POST', '/v1/notifications', {
      patientId: 'smart-p1',
      type: 'test_result_ready',
      data: { testName: 'x' },
    });
    expect([send.status, send.body.code]).toEqual([403, 'SP_AUTH_FORBIDDEN']);
  });

  it('lets system/Consent scopes read and record Consents and nothing of the Patient itself', async () => {
    expect((await h.request('PUT', '/v1/patients/smart-consent-p', samplePatient())).status).toBe(201);
    const tokenFor = async (scope: string) => {
      const reg = await h.request('POST', '/v1/oauth-clients', {
        name: `Consent app ${scope}`,
        scopes: [scope],
        jwks: { keys: [rsa.publicJwk] },
      });
      expect(reg.status).toBe(201);
      const res = await grant(await assertion(rsa, reg.body.clientId));
      expect(res.status).toBe(200);
      return res.body.access_token as string;
    };
    const fhirCall = (token: string, method: string, path: string, body?: unknown) =>
      httpsJson(h.url, h.cert, method, path, body, {
        authorization: `Bearer ${token}`,
        'content-type': 'application/fhir+json',
      });
    const reader = await tokenFor('system/Consent.rs');
    const writer = await tokenFor('system/Consent.c');
    const consent = {
      resourceType: 'Consent',
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: 'Patient/smart-consent-p' },
      provision: { type: 'permit' },
    };
    const recorded = await fhirCall(writer, 'POST', '/fhir/R4/Consent', consent);
    expect(recorded.status).toBe(201);
    expect((await fhirCall(reader, 'GET', `/fhir/R4/Consent/${recorded.body.id}`)).status).toBe(200);
    expect((await fhirCall(reader, 'GET', '/fhir/R4/Consent?patient=Patient/smart-consent-p')).status).toBe(200);
    // Each scope does what it names only: reading is not recording, recording is not reading.
    expect((await fhirCall(reader, 'POST', '/fhir/R4/Consent', consent)).status).toBe(403);
    expect((await fhirCall(writer, 'GET', `/fhir/R4/Consent/${recorded.body.id}`)).status).toBe(403);
    // Neither reads nor changes the Patient, by FHIR or by /v1.
    const patient = {
      resourceType: 'Patient',
      id: 'smart-consent-p',
      name: [{ family: 'Changed' }],
      birthDate: '1970-01-01',
      telecom: [{ system: 'email', value: 'attacker@example.net' }],
      extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/timezone', valueCode: 'UTC' }],
    };
    for (const token of [reader, writer]) {
      const read = await fhirCall(token, 'GET', '/fhir/R4/Patient/smart-consent-p');
      expect(read.status).toBe(403);
      expect(read.text).not.toContain('Lopez');
      expect((await fhirCall(token, 'GET', '/fhir/R4/Patient?_id=smart-consent-p')).status).toBe(403);
      expect((await fhirCall(token, 'PUT', '/fhir/R4/Patient/smart-consent-p', patient)).status).toBe(403);
      expect((await api(token, 'GET', '/v1/patients/smart-consent-p')).status).toBe(403);
      expect((await api(token, 'PUT', '/v1/patients/smart-consent-p', samplePatient())).status).toBe(403);
    }
    const after = await h.request('GET', '/v1/patients/smart-consent-p');
    expect(JSON.stringify(after.body)).not.toContain('attacker@example.net');
  });

  it("fetches a client's JWKS URL once for a burst of assertions naming an unknown key, and refuses them all", async () => {
    offsetMs += 120_000; // past the key cache, so the burst has to look again
    const before = jwks.fetches();
    const unknownKid = { ...ec, kid: 'no-such-kid' };
    const answers = await Promise.all(
      Array.from({ length: 10 }, async () => grant(await assertion(unknownKid, ecClient))),
    );
    expect(answers.map((a) => [a.status, a.body.error])).toEqual(
      Array.from({ length: 10 }, () => [401, 'invalid_client']),
    );
    expect(jwks.fetches() - before).toBe(1);
  });

  it('grants a narrower scope on request, and the narrower token cannot write', async () => {
    const res = await grant(await assertion(rsa, rsaClient), 'system/Patient.r');
    expect([res.status, res.body.scope]).toEqual([200, 'system/Patient.r']);
    expect((await api(res.body.access_token, 'GET', '/v1/patients/smart-p1')).status).toBe(200);
    const put = await api(res.body.access_token, 'PUT', '/v1/patients/smart-p1', samplePatient());
    expect([put.status, put.body.code]).toEqual([403, 'SP_AUTH_FORBIDDEN']);
  });

  it('issues an access token for an ES384 assertion whose key is fetched from the JWKS URL over TLS', async () => {
    const res = await grant(await assertion(ec, ecClient));
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('system/Appointment.rs system/Patient.rs');
    expect(jwks.fetches()).toBeGreaterThanOrEqual(1);
    expect((await api(res.body.access_token, 'GET', '/v1/patients/smart-p1')).status).toBe(200);
    expect((await api(res.body.access_token, 'PUT', '/v1/patients/smart-p1', samplePatient())).status).toBe(403);
  });

  it('refuses a replayed assertion (same jti) and issues nothing for it', async () => {
    const once = await assertion(rsa, rsaClient);
    expect((await grant(once)).status).toBe(200);
    const issued = query(h.dataDir, "select idx from audit_entries where action = 'oauth.token_issued'").length;
    await expectRefused(() => grant(once), 'invalid_client', 'replayed_jti', `client:${rsaClient}`);
    expect(query(h.dataDir, "select idx from audit_entries where action = 'oauth.token_issued'")).toHaveLength(issued);
  });

  it('refuses assertions with a wrong audience, expired, or living longer than five minutes', async () => {
    const actor = `client:${rsaClient}`;
    await expectRefused(
      async () => grant(await assertion(rsa, rsaClient, { claims: { aud: `${h.url}/token` } })),
      'invalid_client',
      'audience',
      actor,
    );
    await expectRefused(
      async () =>
        grant(await assertion(rsa, rsaClient, { claims: { aud: [tokenUrl, 'https://other.example/token'] } })),
      'invalid_client',
      'audience',
      actor,
    );
    await expectRefused(
      async () => grant(await assertion(rsa, rsaClient, { expIn: -120 })),
      'invalid_client',
      'expired',
      actor,
    );
    await expectRefused(
      async () => grant(await assertion(rsa, rsaClient, { expIn: 600 })),
      'invalid_client',
      'lifetime',
      actor,
    );
    await expectRefused(
      async () => grant(await assertion(rsa, rsaClient, { claims: { exp: undefined } })),
      'invalid_client',
      'claims',
      actor,
    );
    await expectRefused(
      async () => grant(await assertion(rsa, rsaClient, { claims: { jti: undefined } })),
      'invalid_client',
      'claims',
      actor,
    );
    await expectRefused(
      async () =>
        grant(await assertion(rsa, rsaClient, { claims: { nbf: Math.floor(clock().getTime() / 1000) + 180 } })),
      'invalid_client',
      'claims',
      actor,
    );
  });

  it('refuses assertions signed by a key the client did not register or naming another key', async () => {
    const actor = `client:${rsaClient}`;
    // The registered kid, signed by a key nobody registered.
    await expectRefused(
      async () => grant(await assertion({ ...stranger, kid: rsa.kid }, rsaClient)),
      'invalid_client',
      'signature',
      actor,
    );
    // A kid the client never registered (it belongs to another client).
    await expectRefused(async () => grant(await assertion(ec, rsaClient)), 'invalid_client', 'unknown_kid', actor);
    await expectRefused(
      async () => grant(await assertion(stranger, rsaClient)),
      'invalid_client',
      'unknown_kid',
      actor,
    );
    // alg ES384 naming the RSA key: the kty does not fit the algorithm.
    await expectRefused(
      async () => grant(await assertion({ ...ec, kid: rsa.kid }, rsaClient)),
      'invalid_client',
      'unknown_kid',
      actor,
    );
  });

  it('refuses alg none, HS256 keyed with the public key, and algorithms outside the allow-list', async () => {
    const now = Math.floor(clock().getTime() / 1000);
    const claims = {
      iss: rsaClient,
      sub: rsaClient,
      aud: tokenUrl,
      jti: randomBytes(8).toString('hex'),
      exp: now + 120,
    };
    const enc = (o: object) => base64url.encode(JSON.stringify(o));
    const actor = `client:${rsaClient}`;
    await expectRefused(
      () => grant(`${enc({ alg: 'none', kid: rsa.kid })}.${enc(claims)}.`),
      'invalid_client',
      'alg',
      actor,
    );
    // The classic confusion: the client's public key (PEM, as a server might hold it) used as an HMAC secret.
    const pem = await exportSPKI((await importJWK(rsa.publicJwk, 'RS384')) as CryptoKey);
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
      .sign(new TextEncoder().encode(pem));
    await expectRefused(() => grant(hs), 'invalid_client', 'alg', actor);
    // The client's own registered key, used with RS256 (not on the allow-list).
    const rs256 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: rsa.kid })
      .sign(await importPKCS8(await exportPKCS8(rsa.privateKey), 'RS256'));
    await expectRefused(() => grant(rs256), 'invalid_client', 'alg', actor);
  });

  it('refuses iss different from sub, unknown clients and malformed assertions', async () => {
    // The claimed client goes on the record (an attempt against it), never a text the caller made up.
    await expectRefused(
      async () => grant(await assertion(rsa, rsaClient, { claims: { sub: ecClient } })),
      'invalid_client',
      'issuer',
      `client:${rsaClient}`,
    );
    const unknown = randomBytes(16).toString('hex');
    await expectRefused(async () => grant(await assertion(rsa, unknown)), 'invalid_client', 'unknown_client');
    await expectRefused(async () => grant(await assertion(rsa, 'not-a-client-id')), 'invalid_client', 'issuer');
    await expectRefused(() => grant('not.a.jwt'), 'invalid_client', 'malformed');
    await expectRefused(() => grant('abc'), 'invalid_client', 'malformed');
  });

  it('refuses scopes the client did not register with invalid_scope', async () => {
    const actor = `client:${rsaClient}`;
    await expectRefused(
      async () => grant(await assertion(rsa, rsaClient), 'system/Patient.d'),
      'invalid_scope',
      'scope_not_registered',
      actor,
    );
    await expectRefused(
      async () => grant(await assertion(rsa, rsaClient), 'system/Patient.r system/Communication.c'),
      'invalid_scope',
      'scope_not_registered',
      actor,
    );
    await expectRefused(
      async () => grant(await assertion(rsa, rsaClient), 'openid'),
      'invalid_scope',
      'scope_not_registered',
      actor,
    );
  });

  it('answers malformed token requests with OAuth errors, never problem details', async () => {
    const a = await assertion(rsa, rsaClient);
    await expectRefused(
      () => tokenRequest({ grant_type: 'password', client_assertion_type: JWT_BEARER, client_assertion: a }),
      'unsupported_grant_type',
      'grant_type',
    );
    await expectRefused(
      () => tokenRequest({ client_assertion_type: JWT_BEARER, client_assertion: a }),
      'invalid_request',
      'missing_grant_type',
    );
    await expectRefused(
      () => tokenRequest({ grant_type: 'client_credentials', client_assertion_type: JWT_BEARER }),
      'invalid_request',
      'missing_client_assertion',
    );
    await expectRefused(
      () => tokenRequest({ grant_type: 'client_credentials', client_assertion_type: 'urn:other', client_assertion: a }),
      'invalid_client',
      'client_assertion_type',
    );
    const body = { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: a };
    await expectRefused(
      () => httpsJson(h.url, h.cert, 'POST', '/oauth2/token', body, { authorization: '' }),
      'invalid_request',
      'not_a_form',
    );
    await expectRefused(
      () =>
        httpsJson(h.url, h.cert, 'POST', '/oauth2/token', new URLSearchParams(body).toString(), {
          authorization: '',
          'content-type': 'text/plain',
        }),
      'invalid_request',
      'not_a_form',
    );
    const repeated = `${new URLSearchParams(body).toString()}&grant_type=client_credentials`;
    await expectRefused(
      () =>
        httpsJson(h.url, h.cert, 'POST', '/oauth2/token', repeated, {
          authorization: '',
          'content-type': 'application/x-www-form-urlencoded',
        }),
      'invalid_request',
      'repeated_or_invalid_grant_type',
    );
    const huge = new URLSearchParams({ ...body, scope: 'x'.repeat(5000) }).toString();
    await expectRefused(
      () =>
        httpsJson(h.url, h.cert, 'POST', '/oauth2/token', huge, {
          authorization: '',
          'content-type': 'application/x-www-form-urlencoded',
        }),
      'invalid_request',
      'not_a_form',
    );
  });

  it('refuses tampered access tokens and tokens whose algorithm was changed with SP_AUTH_UNAUTHENTICATED', async () => {
    const res = await grant(await assertion(rsa, rsaClient), 'system/Patient.r');
    const [head, payload, sig] = (res.body.access_token as string).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const widened = base64url.encode(JSON.stringify({ ...claims, scope: 'system/*.cruds' }));
    const none = base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt' }));
    const hs512 = base64url.encode(JSON.stringify({ alg: 'HS512', typ: 'at+jwt' }));
    for (const forged of [
      `${head}.${widened}.${sig}`,
      `${none}.${payload}.`,
      `${hs512}.${payload}.${sig}`,
      `${head}.${payload}.${sig.slice(0, -4)}AAAA`,
    ]) {
      const r = await api(forged, 'GET', '/v1/patients/smart-p1');
      expect([r.status, r.body.code]).toEqual([401, 'SP_AUTH_UNAUTHENTICATED']);
    }
    expect((await api(res.body.access_token, 'GET', '/v1/patients/smart-p1')).status).toBe(200);
  });

  it('refuses an access token once it has expired, and purges expired assertion ids', async () => {
    const res = await grant(await assertion(rsa, rsaClient), 'system/Patient.r');
    expect((await api(res.body.access_token, 'GET', '/v1/patients/smart-p1')).status).toBe(200);
    expect(count('oauth_jti')).toBeGreaterThan(1);
    offsetMs += 6 * 60_000;
    try {
      const r = await api(res.body.access_token, 'GET', '/v1/patients/smart-p1');
      expect([r.status, r.body.code]).toEqual([401, 'SP_AUTH_UNAUTHENTICATED']);
      // The next token issued more than a minute after the last purge removes every expired jti.
      expect((await grant(await assertion(rsa, rsaClient))).status).toBe(200);
      expect(count('oauth_jti')).toBe(1);
    } finally {
      offsetMs = 0;
    }
  });

  it('revoking a client stops its access tokens at once and refuses its new assertions', async () => {
    const c = await h.request('POST', '/v1/oauth-clients', {
      name: 'to revoke',
      scopes: ['system/Patient.rs'],
      jwks: { keys: [stranger.publicJwk] },
    });
    const id = c.body.clientId as string;
    const res = await grant(await assertion(stranger, id));
    expect((await api(res.body.access_token, 'GET', '/v1/patients/smart-p1')).status).toBe(200);
    const revoked = await h.request('POST', `/v1/oauth-clients/${id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    expect(lastAudit()).toMatchObject({ action: 'oauth_client.revoked', outcome: 'success' });
    const r = await api(res.body.access_token, 'GET', '/v1/patients/smart-p1');
    expect([r.status, r.body.code]).toEqual([401, 'SP_AUTH_UNAUTHENTICATED']);
    await expectRefused(
      async () => grant(await assertion(stranger, id)),
      'invalid_client',
      'revoked_client',
      `client:${id}`,
    );
    const again = await h.request('POST', `/v1/oauth-clients/${id}/revoke`);
    expect([again.status, again.body.code]).toEqual([404, 'SP_OAUTH_CLIENT_NOT_FOUND']);
  });
});

describe('a JWKS URL is fetched with certificate verification unless the operator turned it off', () => {
  it.each([
    { what: 'presents a certificate of a CA not configured', trustCa: false, allowLoopback: true },
    // The same address policy as webhooks: loopback is refused before any connection, trusted CA or not.
    { what: 'is on a loopback address not explicitly allowed', trustCa: true, allowLoopback: false },
  ])(
    'refuses assertions of a client whose JWKS server $what',
    async ({ trustCa, allowLoopback }) => {
      const ec = await keyPair('ES384');
      const jwks = await jwksServer(() => [ec.publicJwk]);
      const h = await startSealpost({
        ...(trustCa ? { SEALPOST_OUTBOUND_CA_FILE: jwks.caFile } : {}),
        ...(allowLoopback ? { SEALPOST_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' } : {}),
      });
      try {
        const c = await h.request('POST', '/v1/oauth-clients', {
          name: 'untrusted jwks',
          scopes: ['system/Patient.rs'],
          jwksUrl: jwks.url,
        });
        expect(c.status).toBe(201);
        const now = Math.floor(Date.now() / 1000);
        const id = c.body.clientId as string;
        const a = await new SignJWT({ jti: randomBytes(8).toString('hex') })
          .setProtectedHeader({ alg: 'ES384', kid: ec.kid })
          .setIssuer(id)
          .setSubject(id)
          .setAudience(`${h.url}/oauth2/token`)
          .setExpirationTime(now + 120)
          .sign(ec.privateKey);
        const res = await form(h, '/oauth2/token', {
          grant_type: 'client_credentials',
          client_assertion_type: JWT_BEARER,
          client_assertion: a,
        });
        expect([res.status, res.body.error]).toEqual([401, 'invalid_client']);
        expect(jwks.fetches()).toBe(0);
        const last = query<{ entry: string }>(
          h.dataDir,
          'select entry from audit_entries order by idx desc limit 1',
        )[0]!;
        expect(JSON.parse(last.entry).details).toEqual({ error: 'invalid_client', reason: 'jwks_unavailable' });
        expect(query(h.dataDir, 'select * from oauth_jti')).toHaveLength(0);
      } finally {
        await h.close();
        await jwks.close();
      }
    },
    120_000,
  );
});
