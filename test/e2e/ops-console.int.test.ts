import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { createTestDatabase, describeEachBackend, type TestDatabase } from '../helpers/backends.js';
import { staffWithSession } from '../helpers/identity.js';
import { asBearer, auditEvents } from '../helpers/staff-sign-in.js';

const PHI = `Zyx-PHI-${Math.random().toString(36).slice(2, 8)}`;

/** Sends a follow-up to a new patient with these contact points; resolves with its first delivery once `done`. */
async function sendTo(h: Harness, id: string, telecom: unknown[], done: (status: string) => boolean) {
  const put = await h.request(
    'PUT',
    `/v1/patients/${id}`,
    samplePatient({ name: { given: [PHI], family: PHI }, telecom }),
  );
  expect(put.status).toBe(201);
  const res = await h.request('POST', '/v1/notifications', {
    type: 'follow_up',
    patientId: id,
    data: { reason: `Review ${PHI}`, dueDate: '2030-01-01' },
  });
  expect(res.status).toBe(202);
  return eventually(async () => {
    const n = (await h.request('GET', `/v1/notifications/${res.body.id}`)).body;
    return done(n.deliveries[0].status) && n.deliveries[0];
  }, `delivery of ${id}`);
}

/**
 * The operations overview (GET /v1/ops/deliveries/stats) and dead letters (list, retry, cancel),
 * PHI-free and tenant-scoped, on both backends: a webhook to a refused address dies (a real dead
 * letter), an SMS goes out through the dev outbox; the counts, failures by code, provider health
 * and the audited retry and cancel are checked through the API, with the role rules.
 */
describeEachBackend('operations overview and dead letters', (backend) => {
  let db: TestDatabase;
  let h: Harness;
  let dead: { id: string }[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    h = await startSealpost({ ...db.env, SEALPOST_WEBHOOK_PROVIDER: 'http', SEALPOST_WEBHOOK_SECRET: 'ops-secret' });
    await sendTo(
      h,
      'ok1',
      [{ system: 'sms', value: '+14155552671', rank: 1 }],
      (s) => s === 'sent' || s === 'delivered',
    );
    const hook = [{ system: 'webhook', value: 'https://169.254.169.254/hook', rank: 1 }];
    dead = [await sendTo(h, 'dead1', hook, (s) => s === 'dead'), await sendTo(h, 'dead2', hook, (s) => s === 'dead')];
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  it('counts deliveries by status, channel and time, failures by code, the queue and provider health', async () => {
    const admin = await staffWithSession(h, ['admin']);
    for (const window of ['hour', 'day', 'week'] as const) {
      const r = await asBearer(h, admin.token, 'GET', `/v1/ops/deliveries/stats?window=${window}`);
      expect(r.status).toBe(200);
      expect(r.body.buckets).toHaveLength({ hour: 12, day: 24, week: 28 }[window]);
      const total = (status: string, channel: string) =>
        r.body.totals
          .filter((c: any) => c.status === status && c.channel === channel)
          .reduce((a: number, c: any) => a + c.n, 0);
      expect(total('dead', 'webhook')).toBe(2);
      expect(total('sent', 'sms') + total('delivered', 'sms')).toBe(1);
      const inBuckets = r.body.buckets.flatMap((b: any) => b.counts).reduce((a: number, c: any) => a + c.n, 0);
      expect(inBuckets).toBe(r.body.totals.reduce((a: number, c: any) => a + c.n, 0));
      expect(r.body.failures).toContainEqual({
        code: 'SP_CHANNEL_ADDRESS_REFUSED',
        channel: 'webhook',
        status: 'dead',
        n: 2,
      });
      expect(r.body.queue).toMatchObject({ due: 0, sending: 0, lagSeconds: 0, oldestDueAt: null });
      expect(r.text).not.toContain(PHI);
    }
    const r = await asBearer(h, admin.token, 'GET', '/v1/ops/deliveries/stats');
    expect(r.body.window).toBe('day');
    const byChannel = Object.fromEntries(r.body.providers.map((p: any) => [p.channel, p]));
    expect(byChannel.webhook).toMatchObject({ provider: 'http', mode: 'live', failed: 2, health: 'failing' });
    expect(byChannel.webhook.topErrorCode).toBe('SP_CHANNEL_ADDRESS_REFUSED');
    expect(byChannel.sms).toMatchObject({ mode: 'dev-outbox', succeeded: 1, failed: 0, health: 'ok' });
    expect(byChannel.push.health).toBe('idle');

    const bad = await asBearer(h, admin.token, 'GET', '/v1/ops/deliveries/stats?window=year');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('SP_REQ_VALIDATION');
  });

  it('lists dead letters newest first, a page at a time, without PHI', async () => {
    const auditor = await staffWithSession(h, ['auditor']);
    const first = await asBearer(h, auditor.token, 'GET', '/v1/ops/dead-letters?limit=1');
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(1);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await asBearer(
      h,
      auditor.token,
      'GET',
      `/v1/ops/dead-letters?limit=1&cursor=${encodeURIComponent(first.body.nextCursor)}`,
    );
    expect(second.body.items).toHaveLength(1);
    expect(second.body.nextCursor).toBeNull();
    const ids = [first.body.items[0].id, second.body.items[0].id];
    expect(new Set(ids)).toEqual(new Set(dead.map((d) => d.id)));
    expect(first.body.items[0]).toMatchObject({
      channel: 'webhook',
      errorCode: 'SP_CHANNEL_ADDRESS_REFUSED',
      attempts: 1,
    });
    expect(Object.keys(first.body.items[0]).sort()).toEqual(
      ['attempts', 'channel', 'createdAt', 'diedAt', 'errorCode', 'id', 'notificationId', 'provider'].sort(),
    );
    expect(first.text + second.text).not.toContain(PHI);
    const badCursor = await asBearer(h, auditor.token, 'GET', '/v1/ops/dead-letters?cursor=nope');
    expect(badCursor.status).toBe(400);
  });

  it('keeps roles apart: an auditor reads but cannot retry; a receptionist reads nothing', async () => {
    const auditor = await staffWithSession(h, ['auditor']);
    const refused = await asBearer(h, auditor.token, 'POST', `/v1/ops/dead-letters/${dead[0].id}/retry`);
    expect(refused.status).toBe(403);
    const receptionist = await staffWithSession(h, ['receptionist']);
    expect((await asBearer(h, receptionist.token, 'GET', '/v1/ops/deliveries/stats')).status).toBe(403);
    expect((await asBearer(h, receptionist.token, 'GET', '/v1/ops/dead-letters')).status).toBe(403);
    // Nothing changed.
    const list = await asBearer(h, auditor.token, 'GET', '/v1/ops/dead-letters');
    expect(list.body.items).toHaveLength(2);
  });

  it('retries a dead letter (queued now, audited; here it dies again) and cancels the other (audited, once)', async () => {
    const admin = await staffWithSession(h, ['admin']);
    const retried = await asBearer(h, admin.token, 'POST', `/v1/ops/dead-letters/${dead[0].id}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body).toEqual({ id: dead[0].id, status: 'queued' });
    // The worker sends it again: the address is still refused, so it is dead again, after one new attempt.
    await eventually(async () => {
      const l = await asBearer(h, admin.token, 'GET', '/v1/ops/dead-letters');
      return l.body.items.some((d: any) => d.id === dead[0].id) && l;
    }, 'dead again');
    const entries = (await auditEvents(h, 'delivery.retried')).filter((e) => e.target?.id === dead[0].id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      actor: `user:${admin.userId}`,
      details: { channel: 'webhook', previousErrorCode: 'SP_CHANNEL_ADDRESS_REFUSED' },
    });

    const cancelled = await asBearer(h, admin.token, 'POST', `/v1/ops/dead-letters/${dead[1].id}/cancel`);
    expect(cancelled.body).toEqual({ id: dead[1].id, status: 'cancelled' });
    const again = await asBearer(h, admin.token, 'POST', `/v1/ops/dead-letters/${dead[1].id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('SP_DELIVERY_NOT_DEAD');
    const retryCancelled = await asBearer(h, admin.token, 'POST', `/v1/ops/dead-letters/${dead[1].id}/retry`);
    expect(retryCancelled.status).toBe(409);
    expect(
      (await auditEvents(h, 'delivery.dead_letter_cancelled')).filter((e) => e.target?.id === dead[1].id),
    ).toHaveLength(1);
    const list = await asBearer(h, admin.token, 'GET', '/v1/ops/dead-letters');
    expect(list.body.items.map((d: any) => d.id)).toEqual([dead[0].id]);

    const unknown = await asBearer(h, admin.token, 'POST', '/v1/ops/dead-letters/no-such-delivery/retry');
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('SP_DELIVERY_NOT_FOUND');
    const badId = await asBearer(h, admin.token, 'POST', '/v1/ops/dead-letters/not%20an%20id/cancel');
    expect(badId.status).toBe(400);
  });

  it('shows settings without secrets and previews templates with sample data in both languages', async () => {
    const admin = await staffWithSession(h, ['admin']);
    const s = await asBearer(h, admin.token, 'GET', '/v1/settings');
    expect(s.status).toBe(200);
    expect(s.body.delivery).toMatchObject({ quietHours: null, sources: { quietHours: 'SEALPOST_QUIET_HOURS' } });
    expect(s.body.delivery.reminderOffsetsMinutes).toEqual([10080, 1440, 120]);
    const webhook = s.body.channels.find((c: any) => c.channel === 'webhook');
    expect(webhook).toMatchObject({ provider: 'http', live: true, facts: { signingSecretSet: true } });
    expect(s.text).not.toContain('ops-secret');
    expect(s.body.notificationTypes).toContain('test_result_ready');

    const p = await asBearer(h, admin.token, 'GET', '/v1/settings/templates/test_result_ready/preview');
    expect(p.status).toBe(200);
    for (const lang of ['en', 'es']) {
      const r = p.body.languages[lang];
      expect(r.secure.body + r.secure.title).toContain('Sample blood test');
      // The nudge carries no data of the notification, and is the same whatever the type.
      expect(JSON.stringify(r.nudge)).not.toContain('Sample');
      expect(r.nudge.sms).toContain('/m/l/SAMPLE');
    }
    expect(p.body.languages.en.nudge.sms).not.toBe(p.body.languages.es.nudge.sms);
    const other = await asBearer(h, admin.token, 'GET', '/v1/settings/templates/follow_up/preview');
    expect(other.body.languages.en.nudge).toEqual(p.body.languages.en.nudge);
    expect((await asBearer(h, admin.token, 'GET', '/v1/settings/templates/nope/preview')).status).toBe(400);

    const auditor = await staffWithSession(h, ['auditor']);
    expect((await asBearer(h, auditor.token, 'GET', '/v1/settings')).status).toBe(200);
    const nurse = await staffWithSession(h, ['nurse']);
    expect((await asBearer(h, nurse.token, 'GET', '/v1/settings')).status).toBe(403);
    expect((await asBearer(h, nurse.token, 'GET', '/v1/settings/templates/follow_up/preview')).status).toBe(403);
  });
});
