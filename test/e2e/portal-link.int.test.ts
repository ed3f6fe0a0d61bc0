import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  httpsJson,
  samplePatient,
  startSealpost,
  type Harness,
  form,
  page,
} from '../helpers/sealpost-harness.js';
import { query } from '../helpers/db-snapshot.js';

describe('one-time portal links', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost();
    await h.request('PUT', '/v1/patients/p1', samplePatient());
  });
  afterAll(() => h.close());

  async function newLink(): Promise<{ path: string; notificationId: string }> {
    const res = await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'p1',
      data: { testName: 'Ferritin' },
    });
    const item = await eventually(
      async () =>
        (await h.request('GET', '/v1/dev/outbox')).body.items.find(
          (i: any) => i.deliveryId === res.body.deliveries[0].id,
        ),
      'nudge',
    );
    return { path: new URL(/View it at (\S+)\./.exec(item.body)![1]).pathname, notificationId: res.body.id };
  }

  it('stores only a hash of the link token', async () => {
    const { path } = await newLink();
    const token = path.split('/')[2];
    expect(token).toMatch(/^[\w-]{43}$/); // 256 bits
    const rows = query(h.dataDir, 'select token_hash from access_links');
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it('is consumed by the first successful verification; the session it opened still reads and acknowledges', async () => {
    const { path, notificationId } = await newLink();
    const ok = await form(h, `${path}/verify`, { birthDate: '1980-04-02' });
    expect(ok.status).toBe(303);
    const cookie = String(ok.headers['set-cookie']).split(';')[0];
    expect(String(ok.headers['set-cookie'])).toMatch(/HttpOnly/i);
    expect(String(ok.headers['set-cookie'])).toMatch(/Secure/i);
    expect(String(ok.headers['set-cookie'])).toMatch(/SameSite=Strict/i);
    const msg = await page(h, `${path}/message`, cookie);
    expect(msg.status).toBe(200);
    expect(msg.text).toContain('Ferritin');
    expect(msg.headers['cache-control']).toBe('no-store');
    expect(msg.headers['content-security-policy']).toContain("default-src 'none'");
    expect((await form(h, `${path}/acknowledge`, {}, cookie)).status).toBe(303);
    expect((await h.request('GET', `/v1/notifications/${notificationId}`)).body.status).toBe('acknowledged');
    // Someone else holding the same link (no session) cannot use it again, even with the right answer.
    expect((await page(h, path)).status).toBe(404);
    const again = await form(h, `${path}/verify`, { birthDate: '1980-04-02' });
    expect(again.status).toBe(404);
    expect(again.text).not.toContain('Ferritin');
  });

  it('does not count an empty answer as a wrong one', async () => {
    const { path } = await newLink();
    for (let i = 0; i < 6; i++) expect((await form(h, `${path}/verify`, {})).status).toBe(400);
    const wrong = await form(h, `${path}/verify`, { birthDate: '1980-04-03' });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('4 attempts left');
    expect((await form(h, `${path}/verify`, { birthDate: '1980-04-02' })).status).toBe(303);
  });

  it('refuses reading or acknowledging without a verified session', async () => {
    const { path, notificationId } = await newLink();
    const read = await page(h, `${path}/message`);
    expect(read.status).toBe(303);
    expect(read.text).not.toContain('Ferritin');
    expect((await form(h, `${path}/acknowledge`, {}, 'sp_portal=forged-session-token-value-000000000000')).status).toBe(
      303,
    );
    expect((await h.request('GET', `/v1/notifications/${notificationId}`)).body.acknowledgedAt).toBeNull();
  });

  it('records verification failures, reads and acknowledgements in the audit log', async () => {
    const actions = query<{ action: string }>(h.dataDir, 'select action from audit_entries').map((r) => r.action);
    for (const a of [
      'portal.verification_failed',
      'portal.verified',
      'notification.read',
      'notification.accessed',
      'notification.acknowledged',
    ])
      expect(actions).toContain(a);
  });
});

describe('link lifetime', () => {
  let now = new Date('2026-05-04T15:00:00Z').getTime();
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_LINK_TTL_HOURS: '72' }, { clock: () => new Date(now) });
    await h.request('PUT', '/v1/patients/p1', samplePatient());
  });
  afterAll(() => h.close());

  it('opens within 72 hours of sending and not after', async () => {
    const res = await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'p1',
      data: { testName: 'Ferritin' },
    });
    const item = await eventually(
      async () =>
        (await h.request('GET', '/v1/dev/outbox')).body.items.find(
          (i: any) => i.deliveryId === res.body.deliveries[0].id,
        ),
      'nudge',
    );
    const path = new URL(/View it at (\S+)\./.exec(item.body)![1]).pathname;
    now += 71 * 3_600_000;
    expect((await page(h, path)).status).toBe(200);
    now += 2 * 3_600_000;
    const expired = await page(h, path);
    expect(expired.status).toBe(404);
    expect((await form(h, `${path}/verify`, { birthDate: '1980-04-02' })).status).toBe(404);
  });
});
