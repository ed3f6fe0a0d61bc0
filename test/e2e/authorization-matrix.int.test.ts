import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession } from '../helpers/identity.js';
import { createApiKey } from '../../src/auth/api-keys.js';
import { createTenant } from '../../src/auth/tenants.js';
import { ROUTE_PERMISSIONS } from '../../src/api/authenticate.js';
import {
  apiKeyPermissions,
  rolePermissions,
  type Permission,
  type RoutePermission,
} from '../../src/auth/permissions.js';
import { CLINICAL_ROLES, ROLES, STAFF_ROLES, type Role } from '../../src/core/domain.js';

/**
 * Every route of the OpenAPI document × every role (and an integration, an audit and an admin API
 * key) × {own patient (on the care team), another patient of the tenant, another tenant's patient}.
 * The expected answer of each cell is derived from the permission table and the route's declared
 * permission, then checked against the real server (HTTPS, SQLite, real sessions and keys).
 */
const tag = randomBytes(4).toString('hex');
const OWN = `mx-own-${tag}`;
const OTHER = `mx-other-${tag}`;
const SELF = `mx-self-${tag}`; // the patient account's own patient: never touched by the matrix
const B_TENANT = `mxb-${tag}`;
const B_PATIENT = `mx-b-${tag}`;
const B_MARK = `BMARK${tag}`;
const NONE = '0123456789abcdef'; // an id no table holds (16 hex: valid for every id pattern)
const RESULT = { type: 'test_result_ready', data: { testName: 'Lipid panel' } };
const START = '2031-03-01T10:00:00-05:00';

type Scenario = 'own' | 'other' | 'tenant';
interface Caller {
  name: string;
  kind: 'user' | 'patient' | 'api-key';
  roles: Role[];
  permissions: Set<Permission>;
  headers: Record<string, string>;
  subjectId?: string;
}
interface Route {
  method: string;
  path: string;
  permission: RoutePermission | Permission[];
}

/** Routes that check the patient relationship (auth/patient-access.ts) for physicians and nurses. */
const RELATIONSHIP = new Set([
  'GET /v1/patients/{id}',
  'PUT /v1/patients/{id}',
  'POST /v1/notifications',
  'POST /v1/notifications:batch',
  'GET /v1/notifications/{id}',
  'POST /v1/notifications/{id}/cancel',
  'GET /v1/notifications/{id}/proof',
  'PUT /v1/appointments/{externalId}',
  'GET /v1/appointments/{externalId}',
  'DELETE /v1/appointments/{externalId}',
  'DELETE /v1/patients/{id}/account',
  'GET /v1/patients/{id}/consents',
  'PUT /v1/patients/{id}/consents',
  'GET /v1/patients/{id}/preferences',
  'PUT /v1/patients/{id}/preferences',
  'GET /v1/notifications/{id}/audit',
  'GET /v1/patients/{id}/contact-points',
  'POST /v1/patients/{id}/contact-points/{contactPointId}/reveal',
]);
/** Routes whose notification type (clinical in these fixtures) needs the matching create permission. */
const TYPED_CREATE = new Set(['POST /v1/notifications', 'POST /v1/notifications:batch']);
const TYPED_EXISTING = new Set([
  'GET /v1/notifications/{id}',
  'POST /v1/notifications/{id}/cancel',
  'GET /v1/notifications/{id}/audit',
]);
/** Routes for a person only, whatever a system credential's scopes say. */
const PERSON_ONLY = new Set([
  'POST /v1/patients/{id}/break-glass',
  // Alert answers: a person, or a paging gateway (scope `paging`, not a caller here) for a person told.
  ...['acknowledge', 'decline', 'resolve'].map((a) => `POST /v1/alerts/{id}/${a}`),
  ...['acknowledge', 'decline'].map((a) => `POST /alerts/{id}/${a}`),
  // The staff directory of messaging: staff only (patients message their care team in patient threads).
  'GET /v1/messaging/directory',
]);
/** Routes for people (staff or patient accounts), never a system credential (messaging). */
const PEOPLE_ONLY = new Set([
  'POST /v1/messaging/devices',
  'GET /v1/messaging/devices',
  'GET /v1/messaging/devices/{deviceId}',
  'GET /v1/messaging/people/{kind}/{personId}/devices',
  'POST /v1/messaging/devices/{deviceId}/key-packages',
  'GET /v1/messaging/devices/{deviceId}/key-packages',
  'POST /v1/messaging/key-packages/claim',
  // Conversations (MLS Delivery Service), the messaging policy and external sender.
  'POST /v1/conversations',
  'GET /v1/conversations',
  'GET /v1/conversations/{id}',
  'POST /v1/conversations/{id}/members',
  'DELETE /v1/conversations/{id}/members/{kind}/{personId}',
  'POST /v1/conversations/{id}/commits',
  'POST /v1/conversations/{id}/messages',
  'GET /v1/conversations/{id}/events',
  'POST /v1/conversations/{id}/cursor',
  'GET /v1/conversations/{id}/receipts',
  'POST /v1/conversations/{id}/messages/{seq}/recall',
  'GET /v1/messaging/devices/{deviceId}/conversations',
  'GET /v1/messaging/external-sender',
  'GET /v1/messaging/policy',
  'PUT /v1/messaging/policy',
  // Encrypted attachments of a conversation.
  'POST /v1/conversations/{id}/attachments',
  'GET /v1/conversations/{id}/attachments/{attachmentId}',
]);
/** Routes that act as one of the caller's messaging devices: a device id that is none of theirs is 403. */
const OWN_DEVICE = new Set([
  'POST /v1/messaging/devices/{deviceId}/key-packages',
  'GET /v1/messaging/devices/{deviceId}/key-packages',
  'GET /v1/messaging/devices/{deviceId}/conversations',
]);

describe('authorization matrix: routes × roles × patient relationship × tenant', () => {
  let h: Harness;
  const callers: Caller[] = [];
  const ids = {
    own: {} as Record<string, string>,
    other: {} as Record<string, string>,
    tenant: {} as Record<string, string>,
  };
  let teamMate = '';

  beforeAll(async () => {
    h = await startSealpost();
    const store = h.app.store;
    const now = new Date();
    // The archive member is a user too (role archiver, not a staff role).
    for (const role of [...STAFF_ROLES, 'archiver'] as Role[]) {
      const p = await staffWithSession(h, [role]);
      callers.push({
        name: role,
        kind: 'user',
        roles: [role],
        permissions: rolePermissions([role]),
        headers: p.headers,
        subjectId: p.userId,
      });
    }
    teamMate = (await staffWithSession(h, ['nurse'])).userId;
    const keys: [string, string[], string][] = [
      ['integration key', [], await createApiKey(store, 'default', 'mx-int', [], now)],
      ['audit key', ['audit'], await createApiKey(store, 'default', 'mx-audit', ['audit'], now)],
      ['admin key', ['admin'], h.apiKey],
    ];
    for (const [name, scopes, key] of keys)
      callers.push({
        name,
        kind: 'api-key',
        roles: [],
        permissions: apiKeyPermissions(scopes),
        headers: { authorization: `Bearer ${key}` },
      });

    for (const id of [OWN, OTHER, SELF])
      expect((await h.request('PUT', `/v1/patients/${id}`, samplePatient())).status).toBe(201);
    for (const c of callers.filter((c) => c.roles.some((r) => CLINICAL_ROLES.includes(r)))) {
      expect((await h.request('PUT', `/v1/patients/${OWN}/care-team/${c.subjectId}`)).status).toBe(201);
    }
    // A patient account (of a third patient) signed in: the `patient` role.
    const account = `pa-${tag}`;
    const token = await store.transaction(async (tx) => {
      await tx.patientAccounts.insert({
        id: account,
        tenant_id: 'default',
        patient_id: SELF,
        contact_system: 'email',
        contact_bidx: `bidx-${tag}`,
        contact_ct: Buffer.alloc(0),
        status: 'active',
        created_at: now.getTime(),
      });
      return (
        await h.app.sessions.issue(tx, {
          tenantId: 'default',
          subjectType: 'patient',
          subjectId: account,
          transport: 'bearer',
          stage: 'active',
          amr: ['otp'],
        })
      ).token;
    });
    callers.push({
      name: 'patient',
      kind: 'patient',
      roles: ['patient'],
      permissions: rolePermissions(['patient']),
      headers: { authorization: `Bearer ${token}` },
      subjectId: account,
    });
    expect(new Set(callers.flatMap((c) => c.roles))).toEqual(new Set(ROLES));

    for (const [s, patient] of [
      ['own', OWN],
      ['other', OTHER],
    ] as const) {
      const n = await h.request('POST', '/v1/notifications', { patientId: patient, ...RESULT });
      expect(
        (await h.request('PUT', `/v1/appointments/ap-${s}-${tag}`, { patientId: patient, start: START })).status,
      ).toBe(201);
      ids[s] = { patient, notification: n.body.id, appointment: `ap-${s}-${tag}`, user: NONE, careTeamUser: teamMate };
    }
    // The other tenant, with its own administrator key and data (names carry a marker).
    const b = await createTenant(store, B_TENANT, 'Other organisation', now);
    const bReq = (m: string, p: string, body?: unknown) =>
      h.request(m, p, body, { authorization: `Bearer ${b.apiKey}` });
    expect((await bReq('PUT', `/v1/patients/${B_PATIENT}`, samplePatient({ name: { family: B_MARK } }))).status).toBe(
      201,
    );
    const bn = await bReq('POST', '/v1/notifications', { patientId: B_PATIENT, ...RESULT });
    expect((await bReq('PUT', `/v1/appointments/ap-b-${tag}`, { patientId: B_PATIENT, start: START })).status).toBe(
      201,
    );
    const bUser = await staffWithSession(h, ['physician'], B_TENANT);
    ids.tenant = {
      patient: B_PATIENT,
      notification: bn.body.id,
      appointment: `ap-b-${tag}`,
      user: bUser.userId,
      careTeamUser: bUser.userId,
      apiKey: b.apiKeyId,
    };
  }, 120_000);
  afterAll(() => h?.close());

  const routes = (): Route[] => {
    const spec = h.app.server.swagger() as { paths: Record<string, Record<string, unknown>> };
    return Object.entries(spec.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => {
        const method = m.toUpperCase();
        const url = path.replace(/\{(\w+)\}/g, ':$1');
        const permission =
          ROUTE_PERMISSIONS.get(`${method} ${url}`) ??
          ROUTE_PERMISSIONS.get(`${method} ${url.replace(/(\w):(?=[a-z]+$)/, '$1::')}`);
        return { method, path, permission: permission! };
      }),
    );
  };

  it('every route of the OpenAPI document has a declared permission, and every protected route is in the document', () => {
    const rs = routes();
    expect(rs.filter((r) => r.permission === undefined).map((r) => `${r.method} ${r.path}`)).toEqual([]);
    const inSpec = new Set(rs.map((r) => `${r.method} ${r.path}`));
    const hidden = [...ROUTE_PERMISSIONS]
      .filter(([k, p]) => !k.startsWith('HEAD ') && p !== 'public' && p !== 'provider')
      .map(([k]) =>
        k
          .replace(/:(\w+)/g, '{$1}')
          .replace('{{', ':')
          .replace(/:\{(\w+)\}/, ':$1'),
      )
      .filter((k) => !inSpec.has(k));
    expect(hidden).toEqual([]);
  });

  /** The path with the scenario's ids; body and query that reach the route's checks. */
  function request(r: Route, s: Scenario): { path: string; body?: unknown } {
    const v = ids[s];
    const path = r.path
      .replace(/^\/v1\/patients\/\{id\}/, `/v1/patients/${v.patient}`)
      .replace(/^\/v1\/(me\/)?notifications\/\{id\}/, `/v1/$1notifications/${v.notification}`)
      .replace('{externalId}', v.appointment!)
      .replace('{userId}', v.careTeamUser!)
      .replace(/^\/v1\/users\/\{id\}/, `/v1/users/${v.user}`)
      .replace(/^\/v1\/api-keys\/\{id\}/, `/v1/api-keys/${v.apiKey ?? NONE}`)
      .replace('{index}', '0')
      .replace(/\{\w+\}/g, NONE);
    const key = `${r.method} ${r.path}`;
    // A valid body where the relationship check runs after validation; the other tenant's patient is never re-registered here.
    if (key === 'PUT /v1/patients/{id}') return { path, body: s === 'tenant' ? {} : samplePatient() };
    if (key === 'POST /v1/notifications') return { path, body: { patientId: v.patient, ...RESULT } };
    if (key === 'PUT /v1/patients/{id}/consents')
      return { path, body: { consents: [{ channel: 'sms', purpose: 'billing', decision: 'permit' }] } };
    if (key === 'PUT /v1/patients/{id}/preferences') return { path, body: { language: 'es' } };
    if (key === 'POST /v1/notifications:batch') return { path, body: { items: [{ patientId: v.patient, ...RESULT }] } };
    if (key === 'PUT /v1/appointments/{externalId}') return { path, body: { patientId: v.patient, start: START } };
    if (key === 'POST /v1/messaging/devices/{deviceId}/key-packages') return { path, body: { keyPackages: ['AAAA'] } };
    // The policy's body is validated before the people-only check: a valid one (the defaults) reaches it.
    if (key === 'PUT /v1/messaging/policy')
      return { path, body: { requirePostQuantum: false, defaultLifespanSeconds: null } };
    if (key === 'POST /v1/patients/{id}/break-glass')
      return { path, body: { reason: 'authorization matrix check (no second factor)' } };
    // Attachments take application/octet-stream: no body reaches the checks (400 before any lookup), a JSON one would be 415.
    if (key === 'POST /v1/conversations/{id}/attachments') return { path: `${path}?deviceId=${NONE}` };
    return { path, body: ['POST', 'PUT', 'PATCH'].includes(r.method) ? {} : undefined };
  }

  /** Routes whose path names a resource of the scenario (patient, notification, appointment, user, key…); the audit log's global index is not one. */
  const scoped = (r: Route) =>
    /\{\w+\}/.test(r.path) && !r.path.startsWith('/v1/audit/entries') && r.path !== '/v1/patients/{id}/disclosures';

  type Expect =
    | { kind: 'exact'; status: number; code?: string }
    | { kind: 'allowed' }
    | { kind: 'not-found' }
    | { kind: 'no-authz' }
    | { kind: 'credential-ok' };

  function expected(r: Route, c: Caller, s: Scenario): Expect {
    const key = `${r.method} ${r.path}`;
    const need = r.permission;
    if (need === 'public' || need === 'provider') return { kind: 'no-authz' };
    if (need === 'authenticated') return { kind: 'credential-ok' };
    const has = Array.isArray(need) ? need.some((p) => c.permissions.has(p)) : c.permissions.has(need);
    if (!has) return { kind: 'exact', status: 403, code: 'SP_AUTH_FORBIDDEN' };
    if (PERSON_ONLY.has(key) && c.kind !== 'user') return { kind: 'exact', status: 403, code: 'SP_AUTH_FORBIDDEN' };
    if (PEOPLE_ONLY.has(key) && c.kind === 'api-key') return { kind: 'exact', status: 403, code: 'SP_AUTH_FORBIDDEN' };
    if (OWN_DEVICE.has(key)) return { kind: 'exact', status: 403, code: 'SP_MESSAGING_DEVICE_FORBIDDEN' };
    const clinicalType = c.permissions.has('notification.create.clinical');
    if (TYPED_CREATE.has(key) && !clinicalType) return { kind: 'exact', status: 403, code: 'SP_AUTH_FORBIDDEN' };
    if (TYPED_EXISTING.has(key) && !clinicalType && s !== 'tenant')
      return { kind: 'exact', status: 403, code: 'SP_AUTH_FORBIDDEN' };
    const clinical = c.kind === 'user' && c.roles.some((x) => CLINICAL_ROLES.includes(x));
    if (RELATIONSHIP.has(key) && clinical && s === 'other')
      return { kind: 'exact', status: 403, code: 'SP_AUTH_NO_RELATIONSHIP' };
    // The other tenant's ids are not found (or the input is refused before any lookup: 400); never a success.
    if (s === 'tenant' && scoped(r)) return { kind: 'not-found' };
    return { kind: 'allowed' };
  }

  it('answers every cell as the permission table and the patient relationship say, and never shows the other tenant', async () => {
    const failures: string[] = [];
    let cells = 0;
    for (const r of routes()) {
      for (const c of callers) {
        for (const s of ['own', 'other', 'tenant'] as Scenario[]) {
          const { path, body } = request(r, s);
          const exp = expected(r, c, s);
          // Routes any signed-in principal may call (sign-out among them) get a session of their own.
          const headers = exp.kind === 'credential-ok' && c.kind !== 'api-key' ? await freshSession(c) : c.headers;
          const res = await h.request(r.method, path, body, headers);
          cells++;
          // FHIR routes answer OperationOutcome (no `code` member): their status is what is compared.
          const code = typeof res.body === 'object' && res.body ? (res.body as { code?: string }).code : undefined;
          const got = `${res.status}${code ? ` ${code}` : ''}`;
          const where = `${r.method} ${r.path} as ${c.name} (${s}): got ${got}`;
          if (res.status >= 500) failures.push(`${where}, a server error`);
          if (res.text.includes(B_MARK) || (s !== 'tenant' && res.text.includes(B_PATIENT)))
            failures.push(`${where}: the other tenant's data in the answer`);
          if (
            exp.kind === 'exact' &&
            (res.status !== exp.status || (exp.code && !r.path.startsWith('/fhir/') && code !== exp.code))
          )
            failures.push(`${where}, expected ${exp.status}${exp.code ? ` ${exp.code}` : ''}`);
          if (exp.kind === 'allowed' && (res.status === 403 || code === 'SP_AUTH_UNAUTHENTICATED'))
            failures.push(`${where}, expected to be let through`);
          if (exp.kind === 'no-authz' && (code === 'SP_AUTH_FORBIDDEN' || code === 'SP_AUTH_NO_RELATIONSHIP'))
            failures.push(`${where}, a public route must not authorize`);
          if (
            exp.kind === 'credential-ok' &&
            (code === 'SP_AUTH_UNAUTHENTICATED' || code === 'SP_AUTH_NO_RELATIONSHIP')
          )
            failures.push(`${where}, the credential is valid`);
          if (exp.kind === 'not-found' && ![400, 404].includes(res.status))
            failures.push(`${where}, expected 404 (or 400 before any lookup)`);
          if (
            s === 'tenant' &&
            r.path === '/v1/patients/{id}/disclosures' &&
            res.status === 200 &&
            res.body.items.length
          )
            failures.push(`${where}: disclosures of the other tenant's patient`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(cells).toBeGreaterThan(routes().length * callers.length * 3 - 1);
  }, 300_000);

  async function freshSession(c: Caller): Promise<Record<string, string>> {
    const s = await h.app.store.transaction((tx) =>
      h.app.sessions.issue(tx, {
        tenantId: 'default',
        subjectType: c.kind === 'patient' ? 'patient' : 'user',
        subjectId: c.subjectId!,
        transport: 'bearer',
        stage: 'active',
        amr: c.kind === 'patient' ? ['otp'] : ['pwd', 'otp', 'mfa'],
      }),
    );
    return { authorization: `Bearer ${s.token}` };
  }
});
