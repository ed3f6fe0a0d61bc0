import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { b64, signatureKeys } from '../helpers/messaging-devices.js';
import { logPageOnFailure, phoneContext } from '../helpers/portal-inbox.js';
import { createTestDatabase, describeEachBrowserBackend, type TestDatabase } from '../helpers/backends.js';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { inboxStates, openSse } from '../helpers/sse.js';

/**
 * The patient's portal home (/portal/notifications) in Debian's Chromium: sign-in with a one-time
 * code, the notifications newest first with the unread count, a new one arriving live over
 * Server-Sent Events, read and acknowledge, preferences and consents edited, devices listed, Spanish
 * for a Spanish-speaking patient; the page runs under a strict policy (no inline script).
 */
describeEachBrowserBackend('the portal notifications page in a real browser', (backend) => {
  let db: TestDatabase;
  let h: Harness;
  let browser: Browser;
  const EMAIL = 'home-patient@example.com';
  const ES_EMAIL = 'home-paciente@example.com';
  const TABS_EMAIL = 'home-tabs@example.com';

  const notify = async (patientId: string, testName: string) => {
    const r = await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId,
      data: { testName },
    });
    expect(r.status).toBe(202);
    return r.body.id as string;
  };
  const step = (page: Page, name: string) =>
    page.waitForFunction(
      (n) => document.body.dataset.step === n || !!document.getElementById('error')?.textContent,
      name,
    );
  async function signIn(page: Page, email: string): Promise<void> {
    const outbox = async () => (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items as any[];
    await step(page, 'signin');
    const before = (await outbox()).filter((m) => m.recipient === email && /code is/.test(m.body)).length;
    await page.fill('#contact', email);
    await page.press('#contact', 'Enter');
    const mail = await eventually(
      async () => (await outbox()).filter((m) => m.recipient === email && /code is/.test(m.body))[before],
      'the sign-in code',
    );
    await page.waitForFunction(() => document.activeElement?.id === 'code');
    await page.keyboard.type(/code is (\d{6})/.exec(mail.body)![1]!);
    await page.keyboard.press('Enter');
    await step(page, 'home');
    expect(await page.locator('#error').textContent()).toBe('');
  }
  const titles = (page: Page) => page.locator('#notification-list li .title').allTextContents();

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    h = await startSealpost(db.env);
    for (const [id, email, language] of [
      ['ph1', EMAIL, 'en'],
      ['ph2', ES_EMAIL, 'es'],
      ['ph3', TABS_EMAIL, 'en'],
    ]) {
      const p = samplePatient({ language, telecom: [{ system: 'email', value: email }] });
      expect((await h.request('PUT', `/v1/patients/${id}`, p)).status).toBe(201);
      expect(
        (await h.request('POST', `/v1/patients/${id}/account`, { contact: { system: 'email', value: email } })).status,
      ).toBe(201);
    }
    browser = await launchChromium(h.cert);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await h?.close();
    await db?.drop();
  });

  it('serves the page under a strict policy: its own module script only, no inline script, no framing', async () => {
    const res = await h.request('GET', '/portal/notifications', undefined, { authorization: '' });
    expect(res.status).toBe(200);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.text).toContain('<script type="module" src="/portal/assets/notifications.js"></script>');
    expect(res.text).not.toMatch(/<script>(?!<)/);
    const script = await h.request('GET', '/portal/assets/notifications.js', undefined, { authorization: '' });
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
  });

  it('signs in, lists newest first with the unread count, shows a new one live, reads and acknowledges', async (ctx) => {
    const older = await notify('ph1', 'Ferritin');
    const newer = await notify('ph1', 'Lipid panel');
    const context = await phoneContext(browser);
    const page = await context.newPage();
    logPageOnFailure(page, ctx);
    const violations: string[] = [];
    page.on('console', (m) => /Content Security Policy/i.test(m.text()) && violations.push(m.text()));
    await page.goto(`${h.url}/portal/notifications`);
    await signIn(page, EMAIL);
    await page.waitForFunction(() => document.querySelectorAll('#notification-list li').length === 2);
    expect(await page.locator('#notification-list li').evaluateAll((l) => l.map((x) => x.dataset.id))).toEqual([
      newer,
      older,
    ]);
    expect(await page.locator('#unread').getAttribute('data-count')).toBe('2');
    expect(await page.locator('#unread').textContent()).toBe('2 unread notifications.');

    // A new notification arrives over the live stream, without a reload.
    await page.waitForFunction(() => document.body.dataset.live === 'open');
    const live = await notify('ph1', 'Vitamin D');
    await page.waitForFunction(
      (id) => document.querySelector('#notification-list li')?.getAttribute('data-id') === id,
      live,
    );
    expect((await titles(page))[0]).toContain('Vitamin D');
    await page.waitForFunction(() => document.getElementById('unread')?.dataset.count === '3');

    // Read: the notification opens with its content; back in the list it is no longer unread.
    await page.locator(`#notification-list li[data-id="${newer}"] button`).click();
    await page.waitForFunction(() => !document.getElementById('notification')!.hidden);
    expect(await page.locator('#notification-body').textContent()).toContain('Lipid panel');
    await page.waitForFunction(() => document.getElementById('unread')?.dataset.count === '2');

    // Acknowledge.
    await page.locator('#acknowledge').click();
    await page.waitForFunction(() => !document.getElementById('acknowledged')!.hidden);
    expect(await page.locator('#notification').getAttribute('data-status')).toBe('acknowledged');
    expect((await h.request('GET', `/v1/notifications/${newer}`)).body.status).toBe('acknowledged');
    await page.locator('#back').click();
    await page.waitForFunction(
      (id) => document.querySelector(`#notification-list li[data-id="${id}"]`)?.className === 'acknowledged',
      newer,
    );
    // A read elsewhere (another device of the patient, same session here) shows live too.
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const elsewhere = await h.request('GET', `/v1/me/notifications/${live}`, undefined, { authorization: '', cookie });
    expect(elsewhere.status).toBe(200);
    await page.waitForFunction(() => document.getElementById('unread')?.dataset.count === '1');
    await page.waitForFunction(
      (id) => document.querySelector(`#notification-list li[data-id="${id}"]`)?.className === 'read',
      live,
    );
    expect(violations).toEqual([]);
    expect(new URL(page.url()).pathname).toBe('/portal/notifications');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await context.close();
  }, 240_000);

  it('a page whose stream was superseded by newer ones of its session says so and does not reopen it by itself', async (ctx) => {
    const context = await phoneContext(browser);
    const page = await context.newPage();
    logPageOnFailure(page, ctx);
    await page.goto(`${h.url}/portal/notifications`);
    await signIn(page, TABS_EMAIL);
    await page.waitForFunction(() => document.body.dataset.live === 'open');
    // Three more windows of the same session (the limit is 3): the page's stream is the oldest.
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const others = [0, 1, 2].map(() => openSse(h.url, '/v1/me/inbox/events', h.cert, { cookie }));
    try {
      for (const s of others) await eventually(async () => inboxStates(s).length > 0, 'the first state');
      await page.waitForFunction(() => document.body.dataset.live === 'superseded');
      expect(await page.locator('#status').textContent()).toMatch(/open in other windows/);
      expect(await page.evaluate(() => document.body.dataset.step)).toBe('home');
      // The other windows keep theirs: none was ended by the page reopening its stream.
      const id = await notify('ph3', 'Vitamin B12');
      for (const s of others) await eventually(async () => inboxStates(s).find((x) => x.newest === id), 'the change');
      expect(others.map((s) => s.events.some((e) => e.event !== 'inbox'))).toEqual([false, false, false]);
    } finally {
      for (const s of others) s.close();
      await context.close();
    }
  }, 120_000);

  it('edits preferences and consents; the server keeps what the patient chose', async (ctx) => {
    const context = await phoneContext(browser);
    const page = await context.newPage();
    logPageOnFailure(page, ctx);
    await page.goto(`${h.url}/portal/notifications`);
    await signIn(page, EMAIL);

    await page.locator('#preferences-form').waitFor();
    await page.fill('#pref-quiet-start', '21:30');
    await page.fill('#pref-quiet-end', '07:15');
    await page.fill('#pref-no-text-after', '20:00');
    await page.selectOption('#pref-channel-test_result_ready', 'email');
    await page.locator('#save-preferences').click();
    await page.waitForFunction(() => !!document.getElementById('preferences-saved')?.textContent);
    const prefs = await h.request('GET', '/v1/patients/ph1/preferences');
    expect(prefs.body).toMatchObject({
      quietHours: { start: '21:30', end: '07:15' },
      noTextAfter: '20:00',
      language: 'en',
    });
    expect(prefs.body.channels.test_result_ready).toEqual(['email']);

    await page.waitForFunction(() => document.body.dataset.consents === 'drawn');
    const box = page.locator('#consent-sms-billing');
    expect(await box.isChecked()).toBe(true);
    await page.evaluate(() => delete document.body.dataset.consents);
    await box.click();
    await page.waitForFunction(() => document.body.dataset.consents === 'drawn');
    expect(await page.locator('#consent-sms-billing').isChecked()).toBe(false);
    const consents = await h.request('GET', '/v1/patients/ph1/consents');
    expect(consents.body.state.find((s: any) => s.channel === 'sms' && s.purpose === 'billing')).toMatchObject({
      decision: 'deny',
      source: 'portal',
    });
    expect(consents.body.state.find((s: any) => s.channel === 'sms' && s.purpose === 'results').decision).toBe(
      'permit',
    );
    await context.close();
  }, 240_000);

  it("lists the patient's devices (messaging and push) and removes them", async (ctx) => {
    const context = await phoneContext(browser);
    const page = await context.newPage();
    logPageOnFailure(page, ctx);
    await page.goto(`${h.url}/portal/notifications`);
    await signIn(page, EMAIL);
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const reg = await h.request(
      'POST',
      '/v1/me/push-subscriptions',
      { kind: 'fcm', token: 'home-test-device-token', label: 'Kitchen tablet' },
      { authorization: '', cookie, origin: h.url },
    );
    expect(reg.status).toBe(201);
    // A messaging device (what the secure-messages page registers for this browser).
    const md = await h.request(
      'POST',
      '/v1/messaging/devices',
      { name: 'Home laptop', platform: 'web', signatureKey: b64((await signatureKeys()).publicKey) },
      { authorization: '', cookie, origin: h.url },
    );
    expect(md.status).toBe(201);
    await page.reload();
    await step(page, 'home');
    const laptop = page.locator(`#messaging-device-list li[data-id="${md.body.deviceId}"]`);
    await laptop.waitFor();
    expect(await laptop.textContent()).toContain('Home laptop');
    await laptop.locator('button.remove').click();
    await laptop.waitFor({ state: 'detached' });
    const active = await h.request('GET', '/v1/messaging/devices', undefined, { authorization: '', cookie });
    expect(active.body.items.map((d: any) => d.deviceId)).not.toContain(md.body.deviceId);
    const item = page.locator(`#push-list li[data-id="${reg.body.id}"]`);
    await item.waitFor();
    expect(await item.textContent()).toContain('Kitchen tablet');
    await item.locator('button.remove').click();
    await item.waitFor({ state: 'detached' });
    expect(
      (await h.request('GET', '/v1/me/push-subscriptions', undefined, { authorization: '', cookie })).body.items,
    ).toEqual([]);
    // The Web Push opt-in loads the portal's push module under the page's policy; a browser that
    // blocks notifications gets told so, and nothing is registered.
    await page.locator('#push-enable').click();
    await page.waitForFunction(() => /blocks notifications/.test(document.getElementById('status')?.textContent ?? ''));
    expect(await page.locator('#error').textContent()).toBe('');
    expect(
      (await h.request('GET', '/v1/me/push-subscriptions', undefined, { authorization: '', cookie })).body.items,
    ).toEqual([]);
    await context.close();
  }, 240_000);

  it('speaks Spanish to a Spanish-speaking patient, content included, and switches language on request', async (ctx) => {
    await notify('ph2', 'Glucosa');
    const context = await phoneContext(browser); // an English browser
    const page = await context.newPage();
    logPageOnFailure(page, ctx);
    await page.goto(`${h.url}/portal/notifications`);
    await signIn(page, ES_EMAIL);
    // Signed in, the page follows the patient's language.
    await page.waitForFunction(() => document.documentElement.lang === 'es' && document.body.dataset.step === 'home');
    expect(await page.locator('h1').textContent()).toBe('Sus notificaciones');
    await page.waitForFunction(() => document.getElementById('unread')?.dataset.count === '1');
    expect(await page.locator('#unread').textContent()).toBe('1 notificación sin leer.');
    expect(await page.locator('#signout').textContent()).toBe('Cerrar sesión');
    const title = (await titles(page))[0]!;
    expect(title).not.toBe('');
    expect(title).not.toMatch(/your|result is ready/i);
    // The language switch.
    await page.locator('#lang-en').click();
    await step(page, 'home');
    expect(await page.locator('h1').textContent()).toBe('Your notifications');
    await page.locator('#lang-es').click();
    await step(page, 'home');
    expect(await page.locator('h1').textContent()).toBe('Sus notificaciones');
    // Sign-out ends the session: back to the sign-in form.
    await page.locator('#signout').click();
    await step(page, 'signin');
    await context.close();
  }, 240_000);
});
