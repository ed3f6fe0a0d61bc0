import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import webpush from 'web-push';
import { PushChannel } from './push-channel.js';
import { WebPushSender } from './web-push-sender.js';
import { FcmSender } from './fcm-sender.js';
import { ApnsSender } from './apns-sender.js';
import { serialiseTarget, type PushTarget } from './push-target.js';
import { ChannelError, type OutboundMessage } from '../channel.js';
import { startApnsEmulator, startFcmEmulator, startWebPushService } from '../../../test/helpers/push-services.js';

const PHI = 'Qzpushphimarker';
const TITLE = 'New secure message from Riverside Family Health';

/** What the delivery processor hands a channel: the push title of the nudge; the link and PHI stay home. */
const message = (target: PushTarget, n = 1): OutboundMessage => ({
  deliveryId: `0190c0de-0000-7000-8000-${String(n).padStart(12, '0')}`,
  notificationId: `notif-${n}`,
  tenantId: 'default',
  channel: 'push',
  to: serialiseTarget(target),
  text: TITLE,
  link: `https://portal.example.test/m/${PHI}`,
});

async function refusal(p: Promise<unknown>): Promise<ChannelError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ChannelError) return e;
    throw e;
  }
  throw new Error('expected a ChannelError');
}

describe('push channels against local push services', () => {
  let wp: Awaited<ReturnType<typeof startWebPushService>>;
  let fcm: Awaited<ReturnType<typeof startFcmEmulator>>;
  let apns: Awaited<ReturnType<typeof startApnsEmulator>>;
  let now = Date.now();
  const vapid = webpush.generateVAPIDKeys();
  let vapidLoads = 0;
  let channel: PushChannel;
  let apnsSender: ApnsSender;
  let fcmSender: FcmSender;

  beforeAll(async () => {
    [wp, fcm, apns] = await Promise.all([startWebPushService(), startFcmEmulator(), startApnsEmulator()]);
    fcmSender = new FcmSender({
      serviceAccount: fcm.serviceAccount,
      baseUrl: fcm.base,
      tokenUrl: fcm.tokenUrl,
      timeoutMs: 5_000,
      ca: fcm.ca,
      now: () => now,
    });
    apnsSender = new ApnsSender({
      key: apns.key,
      keyId: apns.keyId,
      teamId: apns.teamId,
      topic: apns.topic,
      baseUrl: apns.base,
      tokenRefreshMinutes: 40,
      timeoutMs: 5_000,
      ca: apns.ca,
      now: () => now,
    });
    channel = new PushChannel({
      webpush: new WebPushSender({
        vapidSubject: 'mailto:push@example.org',
        vapidKeys: async () => {
          vapidLoads++;
          return vapid;
        },
        allowedHosts: ['127.0.0.1'],
        timeoutMs: 5_000,
        ca: wp.ca,
      }),
      fcm: fcmSender,
      apns: apnsSender,
    });
  });
  afterAll(async () => {
    await channel?.close();
    await Promise.all([wp?.close(), fcm?.close(), apns?.close()]);
  });

  describe('Web Push', () => {
    it('delivers an aes128gcm payload the browser decrypts: the title and the notification id only, VAPID-signed', async () => {
      const sub = wp.subscribe();
      const r = await channel.send(message({ kind: 'webpush', subscription: sub.subscription }, 1));
      expect(r.status).toBe('sent');
      const got = wp.received.find((x) => x.id === sub.id)!;
      expect(got.payload).toEqual({ title: TITLE, notificationId: 'notif-1' });
      expect(got.raw).not.toContain(PHI);
      expect(got.raw).not.toContain('portal.example.test');
      expect(got.headers['content-encoding']).toBe('aes128gcm');
      expect(got.vapidKey).toBe(vapid.publicKey);
      expect(got.vapid).toMatchObject({ aud: wp.origin, sub: 'mailto:push@example.org' });
      expect(Number(got.vapid.exp)).toBeGreaterThan(Date.now() / 1000);
    });

    it('answers gone for 404 and 410 (the browser unsubscribed), retryable for 5xx and 429, final for other 4xx', async () => {
      for (const [status, code, retryable] of [
        [410, 'SP_CHANNEL_RECIPIENT_GONE', false],
        [404, 'SP_CHANNEL_RECIPIENT_GONE', false],
        [503, 'SP_CHANNEL_SEND_FAILED', true],
        [429, 'SP_CHANNEL_SEND_FAILED', true],
        [413, 'SP_CHANNEL_SEND_FAILED', false],
      ] as const) {
        const sub = wp.subscribe();
        wp.answer(sub.id, status);
        const e = await refusal(channel.send(message({ kind: 'webpush', subscription: sub.subscription })));
        expect([e.code, e.retryable, e.detail]).toEqual([code, retryable, `web push ${status}`]);
      }
    });

    it('refuses an endpoint the address policy refuses, without connecting', async () => {
      const strict = new WebPushSender({
        vapidSubject: 'mailto:push@example.org',
        vapidKeys: async () => vapid,
        allowedHosts: [],
        timeoutMs: 5_000,
        ca: wp.ca,
      });
      const before = wp.received.length + wp.refused.length;
      for (const endpoint of [
        wp.subscribe().subscription.endpoint,
        'https://169.254.169.254/push/x',
        'http://10.1.2.3/p',
      ]) {
        const sub = { ...wp.subscribe().subscription, endpoint };
        const e = await refusal(strict.send(sub, { title: TITLE, notificationId: 'n' }, 'd'));
        expect(e.code).toBe('SP_CHANNEL_ADDRESS_REFUSED');
      }
      expect(wp.received.length + wp.refused.length).toBe(before);
      await strict.close();
    });
  });

  describe('FCM HTTP v1', () => {
    it('buys one OAuth token with a signed assertion and reuses it until shortly before it expires', async () => {
      const before = fcm.tokenRequests.length;
      const tokens = Array.from({ length: 5 }, () => `fcm-${randomBytes(12).toString('hex')}:APA91b`);
      // Concurrent first sends share one token request.
      await Promise.all(tokens.map((token, i) => channel.send(message({ kind: 'fcm', token }, 10 + i))));
      expect(fcm.tokenRequests.length - before).toBe(1);
      now += 50 * 60_000; // 50 minutes: the token (3599 s) is kept until five minutes before it expires
      await channel.send(message({ kind: 'fcm', token: tokens[0]! }, 20));
      expect(fcm.tokenRequests.length - before).toBe(1);
      now += 6 * 60_000; // 56 minutes: within five minutes of expiry, a new token
      await channel.send(message({ kind: 'fcm', token: tokens[0]! }, 21));
      expect(fcm.tokenRequests.length - before).toBe(2);
      const got = fcm.sent.find((s) => s.token === tokens[1])!;
      expect(got.message).toEqual({
        token: tokens[1],
        notification: { title: TITLE },
        data: { notificationId: 'notif-11' },
        android: { priority: 'high' },
      });
      expect(fcm.sent.every((s) => !s.raw.includes(PHI) && !s.raw.includes('portal.example.test'))).toBe(true);
    });

    it('gets a new access token after a 401 (retryable), and prunes an UNREGISTERED token', async () => {
      const token = `fcm-${randomBytes(12).toString('hex')}:APA91b`;
      fcm.revokeAccessTokens();
      const e = await refusal(channel.send(message({ kind: 'fcm', token }, 30)));
      expect([e.code, e.retryable]).toEqual(['SP_CHANNEL_SEND_FAILED', true]);
      expect((await channel.send(message({ kind: 'fcm', token }, 31))).status).toBe('sent');
      fcm.forget(token);
      const g = await refusal(channel.send(message({ kind: 'fcm', token }, 32)));
      expect([g.code, g.retryable, g.detail]).toEqual(['SP_CHANNEL_RECIPIENT_GONE', false, 'fcm UNREGISTERED']);
    });
  });

  describe('APNs over HTTP/2', () => {
    const device = () => randomBytes(32).toString('hex');

    it('signs one ES256 provider token and reuses it for the configured 40 minutes, never per request', async () => {
      const before = apns.providerTokens.length;
      const devices = Array.from({ length: 6 }, device);
      await Promise.all(devices.map((token, i) => channel.send(message({ kind: 'apns', token }, 40 + i))));
      for (const [i, token] of devices.entries()) await channel.send(message({ kind: 'apns', token }, 50 + i));
      expect(apns.providerTokens.length - before).toBe(1);
      now += 39 * 60_000;
      await channel.send(message({ kind: 'apns', token: devices[0]! }, 60));
      expect(apns.providerTokens.length - before).toBe(1);
      now += 2 * 60_000;
      await channel.send(message({ kind: 'apns', token: devices[0]! }, 61));
      await channel.send(message({ kind: 'apns', token: devices[1]! }, 62));
      expect(apns.providerTokens.length - before).toBe(2);
      const got = apns.sent.find((s) => s.token === devices[2])!;
      expect(got.body).toEqual({ aps: { alert: { title: TITLE } }, notificationId: 'notif-42' });
      expect(got.headers).toMatchObject({ 'apns-topic': apns.topic, 'apns-push-type': 'alert' });
      expect(apns.sent.every((s) => !s.raw.includes(PHI) && !s.raw.includes('portal.example.test'))).toBe(true);
      expect(apns.refused).toEqual([]);
    });

    it('answers gone for 410 Unregistered, and a final failure that keeps the registration for BadDeviceToken', async () => {
      const a = device();
      const b = device();
      apns.forget(a);
      apns.reject(b);
      const ea = await refusal(channel.send(message({ kind: 'apns', token: a }, 70)));
      const eb = await refusal(channel.send(message({ kind: 'apns', token: b }, 71)));
      expect([ea.code, ea.detail]).toEqual(['SP_CHANNEL_RECIPIENT_GONE', 'apns Unregistered']);
      expect([eb.code, eb.detail, eb.retryable]).toEqual(['SP_CHANNEL_SEND_FAILED', 'apns 400 BadDeviceToken', false]);
    });

    it('refuses a server whose certificate it does not trust (and says so)', async () => {
      const untrusted = new ApnsSender({
        key: apns.key,
        keyId: apns.keyId,
        teamId: apns.teamId,
        topic: apns.topic,
        baseUrl: apns.base,
        tokenRefreshMinutes: 40,
        timeoutMs: 5_000,
      });
      const e = await refusal(untrusted.send(device(), { title: TITLE, notificationId: 'n' }, 'd'));
      expect([e.code, e.retryable]).toEqual(['SP_CHANNEL_TLS_REJECTED', false]);
      await untrusted.close();
    });
  });

  it('refuses a stored registration that is not one (never sends it anywhere)', async () => {
    const e = await refusal(channel.send({ ...message({ kind: 'fcm', token: 'x'.repeat(20) }), to: '{"kind":"sms"}' }));
    expect([e.code, e.retryable]).toEqual(['SP_CHANNEL_SEND_FAILED', false]);
  });
});
