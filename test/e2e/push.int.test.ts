import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, describeEachBackend, type TestDatabase } from '../helpers/backends.js';
import { eventually, httpsJson, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { startApnsEmulator, startFcmEmulator, startWebPushService } from '../helpers/push-services.js';

const MARKER = 'Qzpushe2ephimarker';

/**
 * Push notifications through the whole server, on each backend: a signed-in patient registers a
 * browser (Web Push) and apps (FCM, APNs) at /v1/me/push-subscriptions; a notification reaches the
 * local push service with a PHI-free payload; gone registrations are pruned and the delivery fails
 * over; staff updates keep them and never see them; disabling the account (remote wipe) removes
 * them; bad registrations are refused and change nothing.
 */
describeEachBackend('push notifications end to end', (backend) => {
  let db: TestDatabase;
  let h: Harness;
  let wp: Awaited<ReturnType<typeof startWebPushService>>;
  let fcm: Awaited<ReturnType<typeof startFcmEmulator>>;
  let apns: Awaited<ReturnType<typeof startApnsEmulator>>;
  const tokens: Record<string, string> = {};
  const anon = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    httpsJson(h.url, h.cert, method, path, body, { authorization: '', ...headers });
  const as = (patient: string, method: string, path: string, body?: unknown) =>
    anon(method, path, body, { authorization: `Bearer ${tokens[patient]}` });
  const ph = (i: number) => (backend === 'postgres' ? `$${i}` : '?');
  const pushRows = (patientId: string) =>
    db.query<{ id: string }>(
      `select id from contact_points where system = 'push' and patient_id = ${ph(1)} order by id`,
      [patientId],
    );
  const email = (p: string) => `${p}.push@example.com`;

  async function signIn(patientId: string): Promise<void> {
    const outbox = async () => (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items as any[];
    const before = (await outbox()).filter((m) => m.recipient === email(patientId)).length;
    await anon('POST', '/v1/patient-auth/start', { contact: { system: 'email', value: email(patientId) } });
    const mail = await eventually(
      async () => (await outbox()).filter((m) => m.recipient === email(patientId))[before],
      'sign-in code',
    );
    const code = /code is (\d{6})/.exec(mail.body)![1]!;
    const r = await anon('POST', '/v1/patient-auth/verify', {
      contact: { system: 'email', value: email(patientId) },
      code,
      transport: 'bearer',
    });
    expect(r.status).toBe(200);
    tokens[patientId] = r.body.token;
  }

  const notify = async (patientId: string) => {
    const r = await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId,
      priority: 'urgent',
      data: { testName: MARKER },
    });
    expect(r.status).toBe(202);
    return r.body.id as string;
  };
  const settled = (id: string, what: (ds: any[]) => boolean) =>
    eventually(async () => {
      const ds = (await h.request('GET', `/v1/notifications/${id}`)).body.deliveries as any[];
      return what(ds) && ds;
    }, `deliveries of ${id}`);

  beforeAll(async () => {
    [wp, fcm, apns] = await Promise.all([startWebPushService(), startFcmEmulator(), startApnsEmulator()]);
    db = await createTestDatabase(backend);
    const ca = join(db.dataDir, 'push-ca.pem');
    writeFileSync(ca, wp.ca);
    h = await startSealpost({
      ...db.env,
      SEALPOST_PUSH_PROVIDER: 'live',
      SEALPOST_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      SEALPOST_OUTBOUND_CA_FILE: ca,
      SEALPOST_VAPID_SUBJECT: 'mailto:push-admin@example.org',
      SEALPOST_FCM_SERVICE_ACCOUNT: fcm.keyFile(),
      SEALPOST_FCM_BASE_URL: fcm.base,
      SEALPOST_APNS_KEY: apns.key,
      SEALPOST_APNS_KEY_ID: apns.keyId,
      SEALPOST_APNS_TEAM_ID: apns.teamId,
      SEALPOST_APNS_TOPIC: apns.topic,
      SEALPOST_APNS_BASE_URL: apns.base,
    });
    for (const id of ['pu1', 'pu2', 'pu3']) {
      const p = samplePatient({
        name: { given: [MARKER], family: 'Push' },
        telecom: [{ system: 'email', value: email(id) }],
      });
      expect((await h.request('PUT', `/v1/patients/${id}`, p)).status).toBe(201);
      expect(
        (await h.request('POST', `/v1/patients/${id}/account`, { contact: { system: 'email', value: email(id) } }))
          .status,
      ).toBe(201);
      await signIn(id);
    }
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await db?.drop();
    await Promise.all([wp?.close(), fcm?.close(), apns?.close()]);
  });

  it('serves the VAPID public key (the same on every call) and the portal service worker', async () => {
    const a = await anon('GET', '/v1/push/vapid-public-key');
    expect(a.status).toBe(200);
    expect(Buffer.from(a.body.publicKey, 'base64url')).toHaveLength(65);
    expect((await anon('GET', '/v1/push/vapid-public-key')).body.publicKey).toBe(a.body.publicKey);
    // Kept sealed: the private key is nowhere in the settings row.
    const row = await db.query<{ value: string }>(`select value from settings where name = 'push.vapid'`);
    expect(row).toHaveLength(1);
    expect(row[0]!.value).not.toContain(a.body.publicKey);
    const sw = await anon('GET', '/portal/push-sw.js');
    expect(sw.status).toBe(200);
    expect(sw.headers['content-type']).toMatch(/javascript/);
    expect(sw.headers['service-worker-allowed']).toBe('/portal/');
    expect(sw.text).toContain("addEventListener('push'");
    expect((await anon('GET', '/portal/assets/push.js')).text).toContain('export async function enablePush');
  });

  it('delivers a notification to the registered browser: the title and notification id only, decrypted by the receiver', async () => {
    const sub = wp.subscribe();
    const r = await as('pu1', 'POST', '/v1/me/push-subscriptions', {
      kind: 'webpush',
      subscription: sub.subscription,
      label: 'Laptop',
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ kind: 'webpush', label: 'Laptop', service: new URL(wp.origin).host });
    expect(r.text).not.toContain(sub.subscription.keys.auth);
    const list = await as('pu1', 'GET', '/v1/me/push-subscriptions');
    expect(list.body.items.map((i: any) => i.id)).toEqual([r.body.id]);
    expect(list.text).not.toContain(sub.subscription.keys.p256dh);
    expect(list.text).not.toContain(sub.id);
    // The same subscription again renews it (200) instead of adding one.
    const again = await as('pu1', 'POST', '/v1/me/push-subscriptions', {
      kind: 'webpush',
      subscription: sub.subscription,
    });
    expect([again.status, again.body.id]).toEqual([200, r.body.id]);

    const id = await notify('pu1');
    const got = await eventually(async () => wp.received.find((x) => x.id === sub.id), 'the push');
    expect(got.payload).toEqual({ title: expect.stringMatching(/^New secure message from /), notificationId: id });
    expect(got.raw).not.toContain(MARKER);
    const ds = await settled(id, (ds) => ds.some((d) => d.status === 'sent'));
    expect(ds.map((d) => [d.channel, d.status])).toEqual([['push', 'sent']]);
  });

  it('prunes registrations the services no longer know (Web Push 410, FCM UNREGISTERED) and fails over to APNs', async () => {
    const gone = wp.subscribe();
    wp.answer(gone.id, 410);
    const fcmToken = `fcm-${randomBytes(12).toString('hex')}:APA91b`;
    fcm.forget(fcmToken);
    const device = randomBytes(32).toString('hex');
    for (const body of [
      { kind: 'webpush', subscription: gone.subscription },
      { kind: 'fcm', token: fcmToken },
      { kind: 'apns', token: device },
    ])
      expect((await as('pu2', 'POST', '/v1/me/push-subscriptions', body)).status).toBe(201);
    expect(await pushRows('pu2')).toHaveLength(3);

    const id = await notify('pu2');
    const ds = await settled(id, (ds) => ds.some((d) => d.channel === 'push' && d.status === 'sent'));
    expect(ds.map((d) => [d.channel, d.status, d.lastErrorCode])).toEqual([
      ['push', 'failed', 'SP_CHANNEL_RECIPIENT_GONE'],
      ['push', 'failed', 'SP_CHANNEL_RECIPIENT_GONE'],
      ['push', 'sent', null],
    ]);
    const sent = apns.sent.find((s) => s.token === device)!;
    expect(sent.body).toEqual({ aps: { alert: { title: expect.any(String) } }, notificationId: id });
    expect(sent.raw).not.toContain(MARKER);
    // Only the APNs registration is left; each pruning is audited.
    const left = await as('pu2', 'GET', '/v1/me/push-subscriptions');
    expect(left.body.items.map((i: any) => i.kind)).toEqual(['apns']);
    expect(await pushRows('pu2')).toHaveLength(1);
    expect(await db.query(`select 1 from audit_entries where action = 'push.pruned'`)).toHaveLength(2);
    // Every payload that left, to every service, is PHI-free.
    for (const raw of [...wp.received.map((x) => x.raw), ...fcm.sent.map((x) => x.raw), ...apns.sent.map((x) => x.raw)])
      expect(raw).not.toContain(MARKER);
  });

  it('keeps push registrations through staff updates, never shows them to staff, and refuses a staff-made one', async () => {
    const before = await pushRows('pu1');
    expect(before).toHaveLength(1);
    const p = samplePatient({
      name: { given: [MARKER], family: 'Push' },
      telecom: [
        { system: 'email', value: email('pu1') },
        { system: 'sms', value: '+14155550123' },
      ],
      identifiers: [{ system: 'test1', value: 'PATID1234' }],
    });
    expect((await h.request('PUT', '/v1/patients/pu1', p)).status).toBe(200);
    expect(await pushRows('pu1')).toEqual(before);
    const staffView = await h.request('GET', '/v1/patients/pu1');
    expect(staffView.body.telecom.map((t: any) => t.system)).toEqual(['email', 'sms']);
    const fhir = await h.request('GET', '/fhir/R4/Patient/pu1', undefined, { accept: 'application/fhir+json' });
    expect(fhir.status).toBe(200);
    expect(fhir.body.telecom.map((t: any) => t.system)).toEqual(['email', 'phone']);
    expect(fhir.text).not.toContain('webpush');
    const refused = await h.request('PUT', '/v1/patients/pu1', {
      ...p,
      telecom: [...p.telecom, { system: 'push', value: '{"kind":"fcm","token":"abcdefghijklmnopqrstu"}' }],
    });
    expect([refused.status, refused.body.code]).toEqual([400, 'SP_PUSH_NOT_EDITABLE']);
    expect(await pushRows('pu1')).toEqual(before);

    // An HL7 ADT^A08 (update patient information) from the EHR replaces the telecom it carries, not the devices.
    await h.app.services.hl7.senders.add(
      { tenantId: 'default', actor: 'test' },
      { app: 'ADTApp', facility: 'GHHSFacility', patientIdAuthority: 'test1', timeZone: 'Europe/Berlin' },
    );
    const adt = readFileSync(new URL('../fixtures/hl7v2/ADT-A08-01.hl7', import.meta.url), 'utf8')
      .replace(/^\uFEFF/, '')
      .split(/\r\n|\r|\n/)
      .filter((l) => l.trim())
      .join('\r');
    const r = await h.app.services.hl7.receive(adt, { remoteAddress: '127.0.0.1', tls: false });
    expect(r.status).toBe('applied');
    // The message's telecom replaced the e-mail address and phone number (it carries none Sealpost can use)...
    expect((await h.request('GET', '/v1/patients/pu1')).body.telecom).toEqual([]);
    // ...and the patient's device stayed.
    expect(await pushRows('pu1')).toEqual(before);
  });

  it('refuses bad registrations and stores nothing', async () => {
    const good = wp.subscribe().subscription;
    const count = async () => (await db.query(`select id from contact_points where system = 'push'`)).length;
    const before = await count();
    const cases: [unknown, number, string][] = [
      ['{"kind": "webpush", "subscription": {', 400, 'SP_REQ_MALFORMED_JSON'],
      [{ kind: 'sms', token: 'abcdefghijklmnopqrstuvwxyz' }, 400, 'SP_REQ_VALIDATION'],
      [{ kind: 'webpush' }, 400, 'SP_PUSH_INVALID_REGISTRATION'],
      [
        { kind: 'webpush', subscription: { ...good, keys: { ...good.keys, p256dh: 'AAAA' } } },
        400,
        'SP_PUSH_INVALID_REGISTRATION',
      ],
      [
        { kind: 'webpush', subscription: { ...good, keys: { ...good.keys, auth: 'c2hvcnQ' } } },
        400,
        'SP_PUSH_INVALID_REGISTRATION',
      ],
      [
        { kind: 'webpush', subscription: { ...good, endpoint: 'ftp://127.0.0.1/x' } },
        400,
        'SP_PUSH_INVALID_REGISTRATION',
      ],
      [
        { kind: 'webpush', subscription: { ...good, endpoint: 'https://169.254.169.254/push/x' } },
        400,
        'SP_PUSH_ADDRESS_REFUSED',
      ],
      [
        { kind: 'webpush', subscription: { ...good, endpoint: 'https://10.0.0.8/push/x' } },
        400,
        'SP_PUSH_ADDRESS_REFUSED',
      ],
      [
        { kind: 'webpush', subscription: { ...good, endpoint: 'http://192.168.1.20/push/x' } },
        400,
        'SP_PUSH_ADDRESS_REFUSED',
      ],
      [
        { kind: 'webpush', subscription: { ...good, endpoint: 'https://[::ffff:10.0.0.1]/p' } },
        400,
        'SP_PUSH_ADDRESS_REFUSED',
      ],
      [{ kind: 'fcm', token: 'has spaces in it, not a token' }, 400, 'SP_PUSH_INVALID_REGISTRATION'],
      [{ kind: 'apns', token: 'zz'.repeat(32) }, 400, 'SP_PUSH_INVALID_REGISTRATION'],
      [{ kind: 'apns', subscription: good }, 400, 'SP_PUSH_INVALID_REGISTRATION'],
      [{ kind: 'fcm', token: 'abcdefghijklmnopqrstu', extra: 1 }, 400, 'SP_REQ_VALIDATION'],
    ];
    for (const [body, status, code] of cases) {
      const r = await as('pu3', 'POST', '/v1/me/push-subscriptions', body);
      expect([r.status, r.body.code], JSON.stringify(body).slice(0, 80)).toEqual([status, code]);
    }
    // Staff and systems hold no push registrations.
    const key = await h.request('POST', '/v1/me/push-subscriptions', { kind: 'fcm', token: 'abcdefghijklmnopqrstu' });
    expect(key.status).toBe(403);
    expect(await count()).toBe(before);
  });

  it("removes only the patient's own registration: another patient's answers 404 and stays", async () => {
    const mine = (await as('pu3', 'POST', '/v1/me/push-subscriptions', { kind: 'apns', token: 'ab'.repeat(32) })).body
      .id;
    const other = await as('pu1', 'DELETE', `/v1/me/push-subscriptions/${mine}`);
    expect([other.status, other.body.code]).toEqual([404, 'SP_PUSH_NOT_FOUND']);
    expect((await pushRows('pu3')).map((r) => r.id)).toEqual([mine]);
    expect((await as('pu3', 'DELETE', `/v1/me/push-subscriptions/${mine}`)).status).toBe(204);
    expect((await as('pu3', 'DELETE', `/v1/me/push-subscriptions/${mine}`)).status).toBe(404);
    expect(await pushRows('pu3')).toEqual([]);
  });

  it("removes every push registration when the patient's account is disabled (remote wipe)", async () => {
    await as('pu3', 'POST', '/v1/me/push-subscriptions', {
      kind: 'webpush',
      subscription: wp.subscribe().subscription,
    });
    await as('pu3', 'POST', '/v1/me/push-subscriptions', { kind: 'fcm', token: 'abcdefghijklmnopqrstu' });
    expect(await pushRows('pu3')).toHaveLength(2);
    expect((await h.request('DELETE', '/v1/patients/pu3/account')).status).toBe(204);
    expect(await pushRows('pu3')).toEqual([]);
    expect((await as('pu3', 'GET', '/v1/me/push-subscriptions')).status).toBe(401);
    // pu1's registration is untouched.
    expect(await pushRows('pu1')).toHaveLength(1);
  });

  it('writes no PHI, subscription secret or token to the log', () => {
    const log = readFileSync(h.logFile, 'utf8');
    expect(log).not.toContain(MARKER);
    expect(log).not.toContain('APA91b');
    expect(log).not.toContain(wp.origin);
    expect(log).not.toContain(new URL(wp.origin).port);
  });
});

/** The default `npm start` set-up: pushes land in the development outbox, without the device's secrets. */
describe('push in the default set-up (development outbox)', () => {
  let h: Harness;
  afterAll(() => h?.close());

  it('records the PHI-free title, naming the device without its endpoint, keys or token', async () => {
    h = await startSealpost();
    const anon = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      httpsJson(h.url, h.cert, method, path, body, { authorization: '', ...headers });
    const contact = { system: 'email', value: 'dev.push@example.com' };
    await h.request('PUT', '/v1/patients/pd1', samplePatient({ name: { given: [MARKER] }, telecom: [contact] }));
    const accountId = (await h.request('POST', '/v1/patients/pd1/account', { contact })).body.id;
    await anon('POST', '/v1/patient-auth/start', { contact });
    const outbox = async () => (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items as any[];
    const mail = await eventually(
      async () => (await outbox()).find((i) => i.deliveryId.startsWith(`potp-${accountId}-`)),
      'code',
    );
    const token = (
      await anon('POST', '/v1/patient-auth/verify', {
        contact,
        code: /code is (\d{6})/.exec(mail.body)![1],
        transport: 'bearer',
      })
    ).body.token;
    const fcmToken = `fcm-${randomBytes(12).toString('hex')}:APA91b`;
    const reg = await anon(
      'POST',
      '/v1/me/push-subscriptions',
      { kind: 'fcm', token: fcmToken },
      { authorization: `Bearer ${token}` },
    );
    expect(reg.status).toBe(201);
    const n = await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'pd1',
      priority: 'urgent',
      data: { testName: MARKER },
    });
    const pushed = await eventually(async () => (await outbox()).find((i) => i.channel === 'push'), 'outbox push');
    expect(pushed.recipient).toMatch(/^fcm:[0-9a-f]{12}$/);
    expect(pushed.body).toMatch(/^New secure message from /);
    const ds = (await h.request('GET', `/v1/notifications/${n.body.id}`)).body.deliveries as any[];
    expect(ds.map((d) => [d.id, d.channel, d.status])).toEqual([[pushed.deliveryId, 'push', 'delivered']]);
    expect(JSON.stringify(pushed)).not.toContain(MARKER);
    expect(JSON.stringify(pushed)).not.toContain(fcmToken);
  });
});
