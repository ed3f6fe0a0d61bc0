import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  eventually,
  freePort,
  httpsJson,
  samplePatient,
  startSealpost,
  type Harness,
} from '../helpers/sealpost-harness.js';
import { startTwilioEmulator, type TwilioEmulator } from '../helpers/twilio-emulator.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { computeTwilioSignature } from '../../src/channels/sms/twilio-signature.js';

const SID = 'AC00000000000000000000000000000001';
const TOKEN = 'twilio-test-auth-token';
const PHI = 'PHIMARK-Hemoglobin-A1c';

async function notificationWhen(h: Harness, id: string, done: (n: any) => boolean, what: string) {
  return eventually(async () => {
    const r = await h.request('GET', `/v1/notifications/${id}`);
    return done(r.body) ? r.body : null;
  }, what);
}

describe('delivery through real providers with retries and fail-over', () => {
  let twilio: TwilioEmulator;
  let smtp: SmtpSink;
  let h: Harness;

  beforeAll(async () => {
    twilio = await startTwilioEmulator({ accountSid: SID, authToken: TOKEN });
    smtp = await startSmtpSink({ tls: 'starttls' });
    const caFile = join(mkdtempSync(join(tmpdir(), 'sealpost-ca-')), 'smtp-ca.pem');
    writeFileSync(caFile, smtp.cert);
    h = await startSealpost({
      SEALPOST_SMS_PROVIDER: 'twilio',
      SEALPOST_TWILIO_BASE_URL: twilio.baseUrl,
      SEALPOST_TWILIO_ACCOUNT_SID: SID,
      SEALPOST_TWILIO_AUTH_TOKEN: TOKEN,
      SEALPOST_TWILIO_FROM: '+14155550000',
      SEALPOST_EMAIL_PROVIDER: 'smtp',
      SEALPOST_SMTP_HOST: '127.0.0.1',
      SEALPOST_SMTP_PORT: String(smtp.port),
      SEALPOST_SMTP_SECURITY: 'starttls',
      SEALPOST_SMTP_CA_FILE: caFile,
      SEALPOST_SMTP_FROM: 'clinic@example.org',
      SEALPOST_MAX_ATTEMPTS: '3',
      SEALPOST_BACKOFF_BASE_MS: '10',
      SEALPOST_BACKOFF_CAP_MS: '40',
      SEALPOST_CHANNEL_TIMEOUT_MS: '500',
    });
    expect((await h.request('PUT', '/v1/patients/p1', samplePatient())).status).toBe(201);
  });
  afterAll(async () => {
    await h.close();
    await twilio.close();
    await smtp.close();
  });

  const send = (body: Record<string, unknown> = {}) =>
    h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'p1',
      data: { testName: PHI },
      ...body,
    });

  it('sends an SMS through the provider API with the delivery id as idempotency token', async () => {
    const res = await send();
    const smsId = res.body.deliveries[0].id;
    const n = await notificationWhen(h, res.body.id, (b) => b.deliveries[0].status === 'sent', 'sms sent');
    const msg = twilio.messages.find((m) => m.idempotencyToken === smsId)!;
    expect(msg.to).toBe('+14155552671');
    expect(msg.body).toMatch(
      /^You have a new secure message from .* View it at https:\/\/127\.0\.0\.1:\d+\/m\/[\w-]{43}\. Reply STOP to opt out\.$/,
    );
    expect(msg.body).not.toContain(PHI);
    expect(n.deliveries[0].sentAt).toBeTruthy();
  });

  it('moves a delivery to delivered on a signed status callback and rejects a forged one', async () => {
    const res = await send();
    await notificationWhen(h, res.body.id, (b) => b.deliveries[0].status === 'sent', 'sms sent');
    const msg = twilio.messages.find((m) => m.idempotencyToken === res.body.deliveries[0].id)!;
    const forged = await httpsJson(
      h.url,
      h.cert,
      'POST',
      '/v1/providers/twilio/status',
      `MessageSid=${msg.sid}&MessageStatus=delivered`,
      {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': 'bm90IGEgc2lnbmF0dXJl',
      },
    );
    expect(forged.status).toBe(403);
    expect(forged.body.code).toBe('SP_CHANNEL_INVALID_SIGNATURE');
    expect((await h.request('GET', `/v1/notifications/${res.body.id}`)).body.deliveries[0].status).toBe('sent');
    expect((await twilio.sendStatusCallback(msg.sid, 'delivered')).status).toBe(204);
    const n = await notificationWhen(h, res.body.id, (b) => b.deliveries[0].status === 'delivered', 'delivered');
    expect(n.deliveries[0].deliveredAt).toBeTruthy();
  });

  it('retries an SMS provider answering 500, then fails over to e-mail over STARTTLS', async () => {
    twilio.failNext(3, 500);
    const before = twilio.requests.length;
    const res = await send();
    const smsId = res.body.deliveries[0].id;
    const n = await notificationWhen(
      h,
      res.body.id,
      (b) => b.deliveries.length === 2 && ['sent', 'delivered'].includes(b.deliveries[1].status),
      'failover to e-mail',
    );
    expect(n.deliveries[0]).toMatchObject({
      channel: 'sms',
      status: 'failed',
      attempts: 3,
      lastErrorCode: 'SP_CHANNEL_SEND_FAILED',
    });
    expect(n.deliveries[1].channel).toBe('email');
    const attempts = twilio.requests.slice(before);
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((a) => a.idempotencyToken))).toEqual(new Set([smsId]));
    const mail = smtp.messages.find((m) => m.headers['x-sealpost-delivery-id'] === n.deliveries[1].id)!;
    expect(mail.secure).toBe(true);
    expect(mail.envelope.rcptTo).toEqual(['ana@example.com']);
    expect(mail.raw).toContain('/m/');
    expect(mail.raw).not.toContain(PHI);
  });

  it('fails over at once when the provider rejects the message as invalid (4xx)', async () => {
    twilio.failNext(1, 400);
    const res = await send();
    const n = await notificationWhen(
      h,
      res.body.id,
      (b) => b.deliveries.length === 2 && b.deliveries[1].status === 'sent',
      'failover',
    );
    expect(n.deliveries[0]).toMatchObject({ status: 'failed', attempts: 1 });
  });

  it('retries after a provider timeout and sends the same idempotency token again', async () => {
    twilio.hangNext(1, { afterAccept: true });
    const before = twilio.requests.length;
    const res = await send();
    const n = await notificationWhen(h, res.body.id, (b) => b.deliveries[0].status === 'sent', 'sent after timeout');
    expect(n.deliveries[0].attempts).toBe(2);
    const attempts = twilio.requests.slice(before);
    expect(attempts.map((a) => a.idempotencyToken)).toEqual([res.body.deliveries[0].id, res.body.deliveries[0].id]);
    // The emulator de-duplicates on the token, as the provider contract promises: one message only.
    expect(twilio.messages.filter((m) => m.idempotencyToken === res.body.deliveries[0].id)).toHaveLength(1);
  });

  it('ends dead with the reason when every channel is exhausted', async () => {
    twilio.failNext(3, 503);
    smtp.rejectNext(1, 550);
    const res = await send();
    const n = await notificationWhen(
      h,
      res.body.id,
      (b) => b.deliveries.length === 2 && b.deliveries[1].status === 'dead',
      'dead',
    );
    expect(n.status).toBe('dead');
    expect(n.deliveries[1].lastErrorCode).toBe('SP_CHANNEL_SEND_FAILED');
  });
  it('honours a STOP reply (found by blind index) and a later START', async () => {
    const inbound = async (
      params: Record<string, string>,
      signature = computeTwilioSignature(TOKEN, `${h.url}/v1/providers/twilio/inbound`, params),
    ) =>
      httpsJson(h.url, h.cert, 'POST', '/v1/providers/twilio/inbound', new URLSearchParams(params).toString(), {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': signature,
      });
    const stop = { From: '+14155552671', To: '+14155550000', Body: ' Stop ', AccountSid: SID, MessageSid: 'SM1' };
    expect((await inbound(stop, 'AAAA')).status).toBe(403);
    expect((await send({ channels: ['sms'] })).status).toBe(202);
    const r = await inbound(stop);
    expect(r.status).toBe(200);
    expect(r.text).toContain('<Response>');
    const refused = await send({ channels: ['sms'] });
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe('SP_NOTIFICATION_NO_CHANNEL');
    expect((await send()).body.deliveries[0].channel).toBe('email');
    await inbound({ ...stop, Body: 'START', MessageSid: 'SM2' });
    expect((await send()).body.deliveries[0].channel).toBe('sms');
  });
});

describe('outbound webhook channel', () => {
  let hook: WebhookReceiver;
  let h: Harness;
  beforeAll(async () => {
    hook = await startWebhookReceiver({ secret: 'webhook-shared-secret' });
    h = await startSealpost({
      SEALPOST_WEBHOOK_PROVIDER: 'http',
      // The receiver listens on loopback, which is refused unless allowed explicitly.
      SEALPOST_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      SEALPOST_WEBHOOK_SECRET: 'webhook-shared-secret',
      SEALPOST_BACKOFF_BASE_MS: '10',
      SEALPOST_BACKOFF_CAP_MS: '20',
    });
    await h.request('PUT', '/v1/patients/w1', samplePatient({ telecom: [{ system: 'webhook', value: hook.url }] }));
  });
  afterAll(async () => {
    await h.close();
    await hook.close();
  });
  afterEach(() => void (hook.records.length = 0));

  it('POSTs a signed JSON nudge with the delivery id as Idempotency-Key, retrying a 500', async () => {
    hook.failNext(1, 500);
    const res = await h.request('POST', '/v1/notifications', {
      type: 'prescription_ready',
      patientId: 'w1',
      data: { medicationName: PHI, pharmacyName: 'Main St' },
    });
    const n = await notificationWhen(
      h,
      res.body.id,
      (b) => b.deliveries[0].status === 'delivered',
      'webhook delivered',
    );
    expect(n.deliveries[0].attempts).toBe(2);
    expect(hook.records).toHaveLength(2);
    for (const r of hook.records) {
      expect(r.validSignature).toBe(true);
      expect(r.headers['idempotency-key']).toBe(res.body.deliveries[0].id);
      expect(r.rawBody).not.toContain(PHI);
    }
    expect((hook.records[1].body as { link: string }).link).toMatch(/\/m\/[\w-]{43}$/);
  });
});

describe('webhook contact points and server-side request forgery', () => {
  it('refuses loopback destinations in every spelling unless allowed, with the same error code whether a port is open or closed', async () => {
    const hook = await startWebhookReceiver({ secret: 'ssrf-secret' });
    const open = new URL(hook.url).port;
    const closed = await freePort();
    const h = await startSealpost({ SEALPOST_WEBHOOK_PROVIDER: 'http', SEALPOST_WEBHOOK_SECRET: 'ssrf-secret' });
    try {
      const targets = [
        `http://127.0.0.1:${open}/hook`,
        `http://127.0.0.1:${closed}/hook`,
        `http://localhost:${open}/hook`,
        `http://127.1:${open}/hook`,
        `http://2130706433:${open}/hook`,
        `https://[::ffff:127.0.0.1]:${open}/hook`,
        'https://169.254.169.254/latest/meta-data/',
      ];
      const codes: string[] = [];
      for (const [i, value] of targets.entries()) {
        const put = await h.request(
          'PUT',
          `/v1/patients/s${i}`,
          samplePatient({ telecom: [{ system: 'webhook', value }] }),
        );
        expect(put.status).toBe(201);
        const res = await h.request('POST', '/v1/notifications', {
          type: 'follow_up',
          patientId: `s${i}`,
          data: { reason: 'x', dueDate: '2030-01-01' },
        });
        expect(res.status).toBe(202);
        const n = await notificationWhen(
          h,
          res.body.id,
          (b) => ['failed', 'dead'].includes(b.deliveries[0].status),
          'refused',
        );
        expect(n.deliveries[0].attempts).toBe(1); // not retried
        codes.push(n.deliveries[0].lastErrorCode);
      }
      expect(new Set(codes)).toEqual(new Set(['SP_CHANNEL_ADDRESS_REFUSED']));
      expect(hook.records).toHaveLength(0);
    } finally {
      await h.close();
      await hook.close();
    }
  }, 60_000);
});

describe('lease expiry after a worker crash', () => {
  it('hands a delivery held by a dead worker to a live one once the lease expires', async () => {
    const h = await startSealpost({ SEALPOST_WORKER: 'false', SEALPOST_LEASE_MS: '200' });
    try {
      await h.request('PUT', '/v1/patients/p1', samplePatient());
      const res = await h.request('POST', '/v1/notifications', {
        type: 'follow_up',
        patientId: 'p1',
        data: { reason: 'x', dueDate: '2030-01-01' },
      });
      const now = Date.now();
      // A worker claims the job and dies without recording anything.
      const claimed = await h.app.store.transaction((tx) => tx.queue.claim('crashed-worker', now, now + 200, 10));
      expect(claimed.map((c) => c.id)).toEqual([res.body.deliveries[0].id]);
      expect((await h.request('GET', `/v1/notifications/${res.body.id}`)).body.deliveries[0].status).toBe('sending');
      h.app.worker.start();
      const n = await notificationWhen(
        h,
        res.body.id,
        (b) => b.deliveries[0].status === 'delivered',
        'delivered after lease expiry',
      );
      expect(n.deliveries[0].attempts).toBe(2);
      const outbox = (await h.request('GET', '/v1/dev/outbox')).body.items;
      expect(outbox.filter((o: { deliveryId: string }) => o.deliveryId === res.body.deliveries[0].id)).toHaveLength(1);
    } finally {
      await h.close();
    }
  });
});
