import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession } from '../helpers/identity.js';
import { query } from '../helpers/db-snapshot.js';
import { createApiKey } from '../../src/auth/api-keys.js';
import { createTenant } from '../../src/auth/tenants.js';
import { ROUTE_PERMISSIONS } from '../../src/api/authenticate.js';
import type { Role } from '../../src/core/domain.js';
import { clientCert } from '../helpers/transport-pki.js';

/**
 * ASVS 8.4.1: with every credential kind of tenant A, call every route of the server with tenant B's
 * identifiers; no answer may succeed on them or carry anything of tenant B, and B's data stays as it was.
 */
const tag = randomBytes(4).toString('hex');
const B = `iso-b-${tag}`;
const B_PATIENT = `iso-pat-${tag}`;
const B_MARK = `TENANTBMARK${tag}`;
const B_EMAIL = `b-admin-${tag}@tenant-b.test`;
const NONE = '0123456789abcdef';
const RESULT = { type: 'test_result_ready', data: { testName: 'Lipid panel' } };
const START = '2031-03-01T10:00:00-05:00';

describe('tenant isolation: no route of tenant A reaches tenant B', () => {
  let h: Harness;
  let bKey = '';
  const b: Record<string, string> = {};
  const callers: { name: string; headers: () => Promise<Record<string, string>> }[] = [];
  const bReq = (m: string, p: string, body?: unknown) => h.request(m, p, body, { authorization: `Bearer ${bKey}` });
  const bAudit = () =>
    query(h.dataDir, 'select count(*) as n from audit_entries where tenant_id = ?', B)[0].n as number;
  let auditBefore = 0;
  /** The unchanged-data test's own audited reads as tenant B (the patient read and the appointment read). */
  const countOwnReads = 2;

  beforeAll(async () => {
    h = await startSealpost();
    const store = h.app.store;
    const now = new Date();
    const created = await createTenant(store, B, 'Tenant B clinic', now);
    bKey = created.apiKey;
    b.apiKey = created.apiKeyId;
    expect(
      (await bReq('PUT', `/v1/patients/${B_PATIENT}`, samplePatient({ name: { given: [B_MARK], family: B_MARK } })))
        .status,
    ).toBe(201);
    b.notification = (await bReq('POST', '/v1/notifications', { patientId: B_PATIENT, ...RESULT })).body.id;
    b.appointment = `iso-ap-${tag}`;
    expect(
      (await bReq('PUT', `/v1/appointments/${b.appointment}`, { patientId: B_PATIENT, start: START })).status,
    ).toBe(201);
    const bAdmin = await staffWithSession(h, ['admin'], B, B_EMAIL);
    const bDoc = await staffWithSession(h, ['physician'], B);
    b.user = bDoc.userId;
    b.adminToken = bAdmin.token;
    expect((await bReq('PUT', `/v1/patients/${B_PATIENT}/care-team/${b.user}`)).status).toBe(201);
    // Clinical alerting's directory: a schedule with an override, a group and a unit role of tenant B.
    const layers = [{ userIds: [b.user], kind: 'daily', handoffTime: '08:00', startDate: '2030-01-01' }];
    b.schedule = (await bReq('POST', '/v1/schedules', { name: 'B on call', timeZone: 'UTC', layers })).body.id;
    const span = { userId: b.user, start: '2031-01-01T00:00:00Z', end: '2031-01-02T00:00:00Z' };
    b.override = (await bReq('POST', `/v1/schedules/${b.schedule}/overrides`, span)).body.id;
    b.group = (await bReq('POST', '/v1/groups', { name: 'B group', memberIds: [b.user] })).body.id;
    // A medical device of tenant B (device alarms over MQTT).
    const bDevice = await clientCert(`b-mon-${tag}`);
    const dev = await bReq('POST', '/v1/medical-devices', {
      id: `b-mon-${tag}`,
      certPem: bDevice.cert,
      location: 'b-ward/1',
    });
    expect(dev.status).toBe(201);
    b.medicalDevice = dev.body.id;
    // A messaging device of tenant B's physician (a devices row and its MLS binding).
    const md = await h.request(
      'POST',
      '/v1/messaging/devices',
      { name: 'B phone', platform: 'cli', signatureKey: randomBytes(32).toString('base64') },
      bDoc.headers,
    );
    expect(md.status).toBe(201);
    b.messagingDevice = md.body.deviceId;
    // A conversation of tenant B (its MLS group is never made: the ids are what matter here).
    const conv = await h.request(
      'POST',
      '/v1/conversations',
      {
        kind: 'group',
        deviceId: b.messagingDevice,
        members: [{ kind: 'user', id: (await staffWithSession(h, ['nurse'], B)).userId }],
      },
      bDoc.headers,
    );
    expect(conv.status).toBe(201);
    b.conversation = conv.body.id;
    // Clinical alerts: an alert about B's patient (summary and details carry B's marker only where allowed) and a policy.
    b.clinicalAlert = (
      await bReq('POST', '/v1/alerts', {
        priority: 'low',
        target: `user:${b.user}`,
        patientId: B_PATIENT,
        summary: 'Lab ready',
        details: `Potassium for ${B_MARK}`,
      })
    ).body.alertId;
    b.policy = (
      await bReq('POST', '/v1/escalation-policies', {
        name: 'B policy',
        steps: [{ targets: ['target'], channels: ['sms'], waitSeconds: 60 }],
      })
    ).body.id;
    expect([b.clinicalAlert, b.policy].every(Boolean)).toBe(true);
    b.unit = `iso-unit-${tag}`;
    expect((await bReq('PUT', `/v1/units/${b.unit}/roles/charge_nurse`, { userIds: [b.user] })).status).toBe(201);
    b.session = query<{ id: string }>(h.dataDir, 'select id from sessions where subject_id = ?', bAdmin.userId)[0]!.id;
    b.alert = `iso-alert-${tag}`;
    await store.transaction((tx) =>
      tx.access.insertAlert({
        id: b.alert!,
        tenant_id: B,
        kind: 'break_glass',
        actor: `user:${b.user}`,
        target_type: 'break_glass_grant',
        target_id: NONE,
        created_at: now.getTime(),
      }),
    );
    // The API numbers entries from 0 (RFC 9162 leaf index); the table from 1.
    b.auditIndex = String(
      query<{ idx: number }>(
        h.dataDir,
        'select idx from audit_entries where tenant_id = ? order by idx desc limit 1',
        B,
      )[0]!.idx - 1,
    );

    // Tenant A: every kind of credential.
    const keys: [string, string[]][] = [
      ['integration key', []],
      ['audit key', ['audit']],
    ];
    callers.push({ name: 'admin key', headers: async () => ({ authorization: `Bearer ${h.apiKey}` }) });
    for (const [name, scopes] of keys) {
      const key = await createApiKey(store, 'default', name, scopes, now);
      callers.push({ name, headers: async () => ({ authorization: `Bearer ${key}` }) });
    }
    for (const role of ['admin', 'physician', 'nurse', 'receptionist', 'billing', 'auditor'] as Role[]) {
      // A fresh session per request: some routes (sign-out) end the session they are called with.
      callers.push({ name: role, headers: async () => (await staffWithSession(h, [role], 'default')).headers });
    }
    expect((await h.request('PUT', `/v1/patients/a-${tag}`, samplePatient())).status).toBe(201);
    const account = `iso-pa-${tag}`;
    await store.transaction((tx) =>
      tx.patientAccounts.insert({
        id: account,
        tenant_id: 'default',
        patient_id: `a-${tag}`,
        contact_system: 'email',
        contact_bidx: `bidx-${tag}`,
        contact_ct: Buffer.alloc(0),
        status: 'active',
        created_at: now.getTime(),
      }),
    );
    callers.push({
      name: 'patient',
      headers: async () => {
        const s = await store.transaction((tx) =>
          h.app.sessions.issue(tx, {
            tenantId: 'default',
            subjectType: 'patient',
            subjectId: account,
            transport: 'bearer',
            stage: 'active',
            amr: ['otp'],
          }),
        );
        return { authorization: `Bearer ${s.token}` };
      },
    });
  }, 120_000);
  afterAll(() => h?.close());

  /** Tenant B's identifier for each path parameter, by the resource the path names. */
  function pathFor(path: string): string {
    return path
      .replace(/^\/v1\/patients\/\{id\}/, `/v1/patients/${B_PATIENT}`)
      .replace(/^\/v1\/(me\/)?notifications\/\{id\}/, `/v1/$1notifications/${b.notification}`)
      .replace('{externalId}', b.appointment!)
      .replace('{userId}', b.user!)
      .replace(/^\/v1\/users\/\{id\}/, `/v1/users/${b.user}`)
      .replace(/^\/v1\/api-keys\/\{id\}/, `/v1/api-keys/${b.apiKey}`)
      .replace(/^\/v1\/security-alerts\/\{id\}/, `/v1/security-alerts/${b.alert}`)
      .replace(/^\/v1\/me\/sessions\/\{id\}/, `/v1/me/sessions/${b.session}`)
      .replace(/^\/v1\/schedules\/\{id\}/, `/v1/schedules/${b.schedule}`)
      .replace('{overrideId}', b.override!)
      .replace(/^\/v1\/groups\/\{id\}/, `/v1/groups/${b.group}`)
      .replace(/^\/v1\/medical-devices\/\{id\}/, `/v1/medical-devices/${b.medicalDevice}`)
      .replace(/^\/v1\/messaging\/devices\/\{deviceId\}/, `/v1/messaging/devices/${b.messagingDevice}`)
      .replace(/^\/v1\/conversations\/\{id\}/, `/v1/conversations/${b.conversation}`)
      .replace(/^\/v1\/alerts\/\{id\}/, `/v1/alerts/${b.clinicalAlert}`)
      .replace(/^\/alerts\/\{id\}/, `/alerts/${b.clinicalAlert}`)
      .replace(/^\/v1\/escalation-policies\/\{id\}/, `/v1/escalation-policies/${b.policy}`)
      .replace('{unit}', b.unit!)
      .replace('{role}', 'charge_nurse')
      .replace('{index}', b.auditIndex!)
      .replace(/\{\w+\}/g, NONE);
  }

  function bodyFor(method: string, path: string): unknown {
    if (path === '/v1/notifications') return { patientId: B_PATIENT, ...RESULT };
    if (path === '/v1/notifications:batch') return { items: [{ patientId: B_PATIENT, ...RESULT }] };
    if (path === '/v1/appointments/{externalId}' && method === 'PUT') return { patientId: B_PATIENT, start: START };
    if (path === '/v1/patients/{id}/break-glass') return { reason: 'isolation check, no second factor' };
    // Attachments take application/octet-stream (a JSON body is 415 before any lookup): sent without one.
    if (path === '/v1/conversations/{id}/attachments') return undefined;
    // Never a body that would register something under B's id in tenant A (that would be A's, but confuse the check).
    return ['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined;
  }

  it("every route answers 403/404 (or 400 before any lookup) on tenant B's identifiers and no answer carries tenant B's data", async () => {
    const spec = h.app.server.swagger() as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(spec.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path })),
    );
    expect(routes.length).toBeGreaterThan(40);
    const leaks = [
      B,
      B_PATIENT,
      B_MARK,
      B_EMAIL,
      b.notification!,
      b.appointment!,
      b.user!,
      b.apiKey!,
      b.alert!,
      b.session!,
      b.schedule!,
      b.override!,
      b.group!,
      b.unit!,
      b.messagingDevice!,
      b.conversation!,
    ];
    const failures: string[] = [];
    auditBefore = bAudit();
    for (const r of routes) {
      const isPublic = ['public', 'provider'].includes(
        ROUTE_PERMISSIONS.get(`${r.method} ${r.path.replace(/\{(\w+)\}/g, ':$1')}`) as string,
      );
      const query =
        r.path === '/v1/audit/events'
          ? `?patientId=${B_PATIENT}`
          : /^\/v1\/schedules\/\{id\}\/(shifts|calendar\.ics|overrides)$/.test(r.path)
            ? '?from=2031-01-01T00:00:00Z&to=2031-01-03T00:00:00Z'
            : '';
      for (const c of callers) {
        const res = await h.request(r.method, pathFor(r.path) + query, bodyFor(r.method, r.path), await c.headers());
        const where = `${r.method} ${r.path} as ${c.name}: got ${res.status} ${res.body?.code ?? ''}`;
        const leaked = leaks.filter((x) => res.text.includes(x));
        if (leaked.length) failures.push(`${where}: answer carries tenant B's ${leaked.join(', ')}`);
        if (res.status >= 500) failures.push(`${where}: server error`);
        const namesB = /\{\w+\}/.test(r.path) && r.path !== '/v1/patients/{id}/disclosures';
        if (namesB && !isPublic && ![400, 403, 404].includes(res.status))
          failures.push(`${where}: expected 403 or 404 on tenant B's id`);
        if (r.path === '/v1/patients/{id}/disclosures' && res.status === 200 && res.body.items.length)
          failures.push(`${where}: disclosures of tenant B's patient`);
      }
    }
    expect(failures).toEqual([]);
  }, 300_000);

  it("tenant B's patient, notification, appointment, care team, alert, user and key are unchanged afterwards", async () => {
    const p = await bReq('GET', `/v1/patients/${B_PATIENT}`);
    expect([p.status, p.body.name.family]).toEqual([200, B_MARK]);
    const n = await bReq('GET', `/v1/notifications/${b.notification}`);
    expect([n.status, n.body.cancelledAt]).toEqual([200, null]);
    expect((await bReq('GET', `/v1/appointments/${b.appointment}`)).body.status).toBe('booked');
    expect(
      (await bReq('GET', `/v1/patients/${B_PATIENT}/care-team`)).body.items.map((m: { userId: string }) => m.userId),
    ).toEqual([b.user]);
    expect(query(h.dataDir, 'select acknowledged_at from admin_alerts where id = ?', b.alert)).toEqual([
      { acknowledged_at: null },
    ]);
    expect(query(h.dataDir, 'select status from users where id = ?', b.user)).toEqual([{ status: 'active' }]);
    const onCall = await bReq('GET', `/v1/schedules/${b.schedule}/on-call?at=2031-01-01T12:00:00Z`);
    expect([onCall.status, onCall.body.userIds]).toEqual([200, [b.user]]);
    expect((await bReq('GET', `/v1/groups/${b.group}`)).body.memberIds).toEqual([b.user]);
    expect((await bReq('GET', `/v1/units/${b.unit}/roles/charge_nurse`)).body.userIds).toEqual([b.user]);
    expect(query(h.dataDir, 'select revoked_at from sessions where id = ?', b.session)).toEqual([{ revoked_at: null }]);
    expect(query(h.dataDir, 'select revoked_at from api_keys where id = ?', b.apiKey)).toEqual([{ revoked_at: null }]);
    // Nothing of tenant A's requests was written under tenant B (the reads above are B's own).
    expect(bAudit() - auditBefore).toBe(countOwnReads);
  });

  it('sealpost tenants create refuses a taken or malformed id and changes nothing', async () => {
    const before = query(h.dataDir, 'select count(*) as n from api_keys')[0].n;
    await expect(createTenant(h.app.store, B, 'again', new Date())).rejects.toMatchObject({ code: 'SP_TENANT_EXISTS' });
    await expect(createTenant(h.app.store, 'Bad Id!', 'x', new Date())).rejects.toMatchObject({
      code: 'SP_TENANT_INVALID_ID',
    });
    await expect(createTenant(h.app.store, `ok-${tag}`, '   ', new Date())).rejects.toMatchObject({
      code: 'SP_TENANT_INVALID_ID',
    });
    expect(query(h.dataDir, 'select count(*) as n from api_keys')[0].n).toBe(before);
    expect(query(h.dataDir, 'select count(*) as n from tenants where id = ?', `ok-${tag}`)[0].n).toBe(0);
  });
});
