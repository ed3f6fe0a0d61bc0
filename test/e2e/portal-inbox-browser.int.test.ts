import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { Agent, fetch as undiciFetch } from 'undici';
import WebSocket from 'ws';
import { launchChromium } from '../helpers/chromium.js';
import {
  inboxStep,
  logPageOnFailure,
  phoneContext,
  sendFromPage as sendReply,
  signInByKeyboard as signInWithCode,
} from '../helpers/portal-inbox.js';
import { createTestDatabase, describeEachBrowserBackend, type TestDatabase } from '../helpers/backends.js';
import { staffWithSession } from '../helpers/identity.js';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';

/**
 * The portal inbox in Debian's Chromium: a patient signs in with a one-time code, by keyboard, on a
 * 390 px wide screen, in English or Spanish; the browser becomes the patient's messaging device and
 * exchanges end-to-end encrypted messages (and an attachment) with a nurse whose client is the SDK
 * in Node — the browser is the third client of the three-client test.
 */
describeEachBrowserBackend('the portal inbox in a real browser', (backend) => {
  let db: TestDatabase;
  let h: Harness;
  let browser: Browser;
  let messagingReady = false;
  let attachmentsReady = false;
  const EMAIL = 'inbox-patient@example.com';

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    h = await startSealpost(db.env);
    expect(
      (await h.request('PUT', '/v1/patients/pi1', samplePatient({ telecom: [{ system: 'email', value: EMAIL }] })))
        .status,
    ).toBe(201);
    expect(
      (await h.request('POST', '/v1/patients/pi1/account', { contact: { system: 'email', value: EMAIL } })).status,
    ).toBe(201);
    browser = await launchChromium(h.cert);
    // The messaging exchange needs the conversation API (server) and the SDK's MessagingClient.
    const paths = Object.keys((await h.request('GET', '/openapi.json')).body.paths ?? {});
    const bundle = (await h.request('GET', '/portal/assets/sealpost-sdk.js', undefined, { authorization: '' })).text;
    messagingReady = paths.includes('/v1/conversations') && /\bMessagingClient\b/.test(bundle);
    attachmentsReady = messagingReady && paths.includes('/v1/conversations/{id}/attachments');
  }, 120_000);
  afterAll(async () => {
    nurseClient?.close();
    await browser?.close();
    await h?.close();
    await db?.drop();
  });

  const phone = (locale?: string) => phoneContext(browser, locale);
  const step = inboxStep;
  const signInByKeyboard = (page: Page) => signInWithCode(h, page, EMAIL);

  it('serves the shell under a strict policy: same-origin module script only, no inline script, no framing', async () => {
    const res = await h.request('GET', '/portal/inbox', undefined, { authorization: '' });
    expect(res.status).toBe(200);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.text).toContain('<script type="module" src="/portal/assets/inbox.js"></script>');
    expect(res.text).not.toMatch(/<script>(?!<)/);
    const script = await h.request('GET', '/portal/assets/inbox.js', undefined, { authorization: '' });
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(String(script.headers.etag)).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
  });

  it('a patient signs in by keyboard on a 390 px screen; the page fits, and the address shows nothing but /portal/inbox', async () => {
    const context = await phone();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${h.url}/portal/inbox`);
    await signInByKeyboard(page);
    expect(new URL(page.url()).pathname + new URL(page.url()).search + new URL(page.url()).hash).toBe('/portal/inbox');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(errors).toEqual([]);
    if ((await page.evaluate(() => document.body.dataset.step)) === 'threads')
      expect(await page.locator('#no-threads').isVisible()).toBe(true);
    // Signed in with the session cookie: a reload goes straight past the sign-in form.
    await page.reload();
    await page.waitForFunction(() => ['threads', 'unavailable'].includes(document.body.dataset.step ?? ''));
    await context.close();
  }, 240_000);

  it('speaks Spanish to a browser that prefers it, and English when asked with ?lang=en', async () => {
    const context = await phone('es-ES');
    const page = await context.newPage();
    await page.goto(`${h.url}/portal/inbox`);
    await step(page, 'signin');
    expect(await page.locator('h1').textContent()).toBe('Mensajes seguros');
    expect(await page.locator('#send-code').textContent()).toBe('Enviarme un código');
    expect(await page.getAttribute('html', 'lang')).toBe('es');
    await page.goto(`${h.url}/portal/inbox?lang=en`);
    await step(page, 'signin');
    expect(await page.locator('h1').textContent()).toBe('Secure messages');
    // An unknown language or a mail client's tracking parameter is no error: the browser's language wins.
    expect((await page.goto(`${h.url}/portal/inbox?lang=fr&utm_source=mail`))?.status()).toBe(200);
    await step(page, 'signin');
    expect(await page.locator('h1').textContent()).toBe('Mensajes seguros');
    await context.close();
  });

  it('a wrong code is refused with a message, and the patient stays signed out', async () => {
    const context = await phone();
    const page = await context.newPage();
    await page.goto(`${h.url}/portal/inbox`);
    await step(page, 'signin');
    await page.fill('#contact', EMAIL);
    await page.press('#contact', 'Enter');
    await page.waitForFunction(() => document.activeElement?.id === 'code');
    await page.fill('#code', '000000');
    await page.press('#code', 'Enter');
    await page.waitForFunction(() => !!document.getElementById('error')?.textContent);
    expect(await page.locator('#error').getAttribute('data-code')).toBe('SP_AUTH_CODE_INVALID');
    expect((await context.cookies()).filter((c) => c.name.startsWith('__Host-'))).toEqual([]);
    await context.close();
  });

  // Shared by the exchange tests below (they run in order).
  let nurseClient: any;
  let threadId = '';
  let patientPage: Page | undefined;
  const reads: { seq: number; reader: { kind: string } }[] = [];

  const sendFromPage = (text: string, file?: { name: string; mimeType: string; buffer: Buffer }) =>
    sendReply(patientPage!, text, file);

  /** The nurse's copy of the message with this body, once it arrived. */
  const atNurse = (body: string) =>
    eventually(async () => {
      await nurseClient.sync();
      return (await nurseClient.messages(threadId)).find((m: any) => m.body === body);
    }, `"${body}" at the nurse`);

  it('a nurse (SDK in Node) opens a thread with the patient; the browser decrypts it and the patient answers', async (ctx) => {
    // Stated reason for skipping: this needs the conversation API (/v1/conversations) on the
    // server and MessagingClient in the SDK bundle; it runs by itself as soon as both exist.
    if (!messagingReady) ctx.skip();
    const nurse = await staffWithSession(h, ['nurse']);
    expect((await h.request('PUT', `/v1/patients/pi1/care-team/${nurse.userId}`)).status).toBe(201);
    const dispatcher = new Agent({ connect: { ca: h.cert } });
    const { MessagingClient, MemoryKeyStore } = (await import('../../sdk/src/browser.js')) as any;
    nurseClient = await MessagingClient.open({
      baseUrl: h.url,
      token: nurse.token,
      keyStore: new MemoryKeyStore(),
      fetch: ((url: string, init: object) => undiciFetch(url, { ...init, dispatcher })) as unknown as typeof fetch,
      webSocket: (url: string, headers: Record<string, string>) => new WebSocket(url, { headers, ca: h.cert }),
    });
    await nurseClient.register('Nurse laptop', 'cli');
    nurseClient.on('read', (r: any) => reads.push(r));

    // The patient's browser registers first, so the nurse's new thread adds it.
    const context = await phone();
    patientPage = await context.newPage();
    // Kept for the failure message: what the page logged (errors, failed loads) while it ran.
    logPageOnFailure(patientPage, ctx);
    await patientPage.goto(`${h.url}/portal/inbox`);
    await signInByKeyboard(patientPage);
    await step(patientPage, 'threads');

    const thread = await nurseClient.createConversation({ kind: 'patient', patientId: 'pi1' });
    threadId = thread.id;
    await nurseClient.send(threadId, 'Your results are in; all normal.');
    const list = patientPage.locator('#thread-list button');
    await eventually(async () => (await list.count()) > 0 || undefined, 'the thread in the list');
    // The list is drawn again as the welcome and commits arrive: a button focused just before a redraw
    // is gone when Enter lands. Focus the current first button and press Enter until the thread opens.
    for (let attempt = 0; attempt < 10; attempt++) {
      await list.first().focus();
      await patientPage.keyboard.press('Enter');
      const opened = await patientPage
        .waitForFunction(() => document.body.dataset.step === 'thread', undefined, { timeout: 10_000 })
        .then(
          () => true,
          () => false,
        );
      if (opened) break;
    }
    await step(patientPage, 'thread');
    await patientPage.locator('#messages li', { hasText: 'Your results are in; all normal.' }).waitFor();
    expect(await patientPage.evaluate(() => document.activeElement?.id)).toBe('thread-title');
    expect(await patientPage.locator('#thread-title').textContent()).toBe('Your care team (1)');
    // Opening the thread sent an end-to-end read receipt up to the nurse's message.
    await eventually(async () => {
      await nurseClient.sync();
      return reads.find((r) => r.reader.kind === 'patient');
    }, 'the read receipt at the nurse');

    await sendFromPage('Thank you! Should I book a follow-up?');
    const reply = await atNurse('Thank you! Should I book a follow-up?');
    expect(reply.sender.kind).toBe('patient');
    expect(reply.mine).toBe(false);
    // The nurse answers again; the open thread shows it live.
    await nurseClient.send(threadId, 'No need; see you at your annual visit.');
    await patientPage.locator('#messages li', { hasText: 'No need; see you at your annual visit.' }).waitFor();
    expect(new URL(patientPage.url()).pathname + new URL(patientPage.url()).search).toBe('/portal/inbox');
    // Back to the list by keyboard; focus lands on the thread the patient came from.
    await patientPage.locator('#back').focus();
    await patientPage.keyboard.press('Enter');
    await step(patientPage, 'threads');
    expect(await patientPage.evaluate(() => document.activeElement?.classList.contains('thread'))).toBe(true);
    await patientPage.keyboard.press('Enter');
    await step(patientPage, 'thread');
  }, 240_000);

  it('the patient attaches a file; the nurse downloads and decrypts the same bytes', async (ctx) => {
    // Stated reason for skipping: this needs the attachment routes on the server and the thread
    // of the previous test.
    if (!attachmentsReady || !threadId) ctx.skip();
    await sendFromPage('Photo of the rash attached.', {
      name: 'rash.png',
      mimeType: 'image/png',
      buffer: Buffer.from('PNGDATA'),
    });
    const received = await atNurse('Photo of the rash attached.');
    expect(received.attachments).toHaveLength(1);
    expect(received.attachments[0].name).toBe('rash.png');
    const bytes = await nurseClient.downloadAttachment(threadId, received.attachments[0]);
    expect(Buffer.from(bytes).toString()).toBe('PNGDATA');
  }, 240_000);
});
