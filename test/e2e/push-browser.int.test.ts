import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { eventually, httpsJson, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';

/**
 * The portal's service worker and push module in Debian Chromium: registered from a /portal/ page,
 * it shows a push (delivered through the DevTools protocol, as a push service would) with the
 * PHI-free title and the notification id, and the module reaches the registration routes with the
 * patient's session cookie.
 */
describe('the portal service worker in Chromium', () => {
  let h: Harness;
  let browser: Browser;
  let cookie = '';

  beforeAll(async () => {
    h = await startSealpost();
    const contact = { system: 'email', value: 'browser.push@example.com' };
    await h.request('PUT', '/v1/patients/pb1', samplePatient({ telecom: [contact] }));
    const accountId = (await h.request('POST', '/v1/patients/pb1/account', { contact })).body.id;
    const anon = (path: string, body: unknown) => httpsJson(h.url, h.cert, 'POST', path, body, { authorization: '' });
    await anon('/v1/patient-auth/start', { contact });
    const mail = await eventually(
      async () =>
        ((await h.request('GET', '/v1/dev/outbox')).body.items as any[]).find((i) =>
          i.deliveryId.startsWith(`potp-${accountId}-`),
        ),
      'code',
    );
    const r = await anon('/v1/patient-auth/verify', {
      contact,
      code: /code is (\d{6})/.exec(mail.body)![1],
      transport: 'cookie',
    });
    expect(r.status).toBe(200);
    cookie = /__Host-sealpost_session=([^;]+)/.exec(String(r.headers['set-cookie']))![1]!;
    browser = await launchChromium(h.cert);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('shows a push with its title and notification id, and registers devices with the session cookie', async () => {
    const context = await browser.newContext();
    await context.grantPermissions(['notifications'], { origin: h.url });
    await context.addCookies([
      { name: '__Host-sealpost_session', value: cookie, url: h.url, secure: true, httpOnly: true, sameSite: 'Strict' },
    ]);
    const page = await context.newPage();
    await page.goto(`${h.url}/portal/inbox`);
    const cdp = await context.newCDPSession(page);
    const registrations: { registrationId: string; scopeURL: string; isDeleted: boolean }[] = [];
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
    await cdp.send('ServiceWorker.enable');

    const scope = await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.register('/portal/push-sw.js', { scope: '/portal/' });
      await navigator.serviceWorker.ready;
      return reg.scope;
    });
    expect(scope).toBe(`${h.url}/portal/`);
    const reg = await eventually(
      async () => registrations.find((r) => r.scopeURL === `${h.url}/portal/` && !r.isDeleted),
      'the worker registration',
    );

    // What a push service delivers: the payload Sealpost sends (a title and a notification id).
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin: h.url,
      registrationId: reg.registrationId,
      data: JSON.stringify({ title: 'New secure message from Sealpost', notificationId: 'n-0190' }),
    });
    const shown = await eventually(
      () =>
        page.evaluate(async () => {
          const r = await navigator.serviceWorker.ready;
          const ns = await r.getNotifications();
          return ns.length ? ns.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })) : null;
        }),
      'the notification',
    );
    expect(shown).toEqual([
      { title: 'New secure message from Sealpost', body: '', tag: 'n-0190', data: { notificationId: 'n-0190' } },
    ]);

    // The module the portal page calls, with the patient's cookie (same origin, Origin checked).
    // A string, so the test runner does not rewrite the page's dynamic import.
    const result = (await page.evaluate(`(async () => {
      const push = await import('/portal/assets/push.js');
      const res = await fetch('/v1/me/push-subscriptions', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'apns', token: '${'ab'.repeat(32)}', label: 'This phone' }),
      });
      const listed = await push.listPush();
      await push.removePush(listed[0].id);
      return { supported: push.pushSupported(), status: res.status, listed, after: await push.listPush() };
    })()`)) as { supported: boolean; status: number; listed: unknown[]; after: unknown[] };
    expect(result.supported).toBe(true);
    expect(result.status).toBe(201);
    expect(result.listed).toMatchObject([{ kind: 'apns', label: 'This phone', service: null }]);
    expect(result.after).toEqual([]);
    await context.close();
  });
});
