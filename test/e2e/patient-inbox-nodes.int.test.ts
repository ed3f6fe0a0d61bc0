import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { phoneContext } from '../helpers/portal-inbox.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { eventually, httpsJson, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { inboxStates, openSse, type SseClient } from '../helpers/sse.js';

const MARKER = 'Qznodesphimarker';

/**
 * Two Sealpost nodes on one PostgreSQL database: the patient's live inbox stream is held by node B;
 * notifications are created, read and acknowledged through node A (whose worker sends them). What
 * the stream on B shows crossed nodes through LISTEN/NOTIFY (ids and counts only).
 */
describe.skipIf(!BACKENDS.includes('postgres'))('patient inbox stream across two nodes (PostgreSQL)', () => {
  let db: TestDatabase;
  let a: Harness;
  let b: Harness;
  let token = '';
  let browser: Browser | undefined;
  const EMAIL = 'inbox-nodes@example.com';
  const streams: SseClient[] = [];
  const onB = (t: string) => {
    const s = openSse(b.url, '/v1/me/inbox/events', b.cert, { authorization: `Bearer ${t}` });
    streams.push(s);
    return s;
  };
  const atA = (t: string, method: string, path: string, body?: unknown) =>
    httpsJson(a.url, a.cert, method, path, body, { authorization: `Bearer ${t}` });
  const notify = async (testName: string) => {
    const r = await a.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'pn1',
      data: { testName },
    });
    expect(r.status).toBe(202);
    return r.body.id as string;
  };

  async function signIn(): Promise<string> {
    const outbox = async () => (await a.request('GET', '/v1/dev/outbox?limit=500')).body.items as any[];
    const before = (await outbox()).filter((m) => m.recipient === EMAIL && /code is/.test(m.body)).length;
    const contact = { system: 'email', value: EMAIL };
    expect(
      (await httpsJson(a.url, a.cert, 'POST', '/v1/patient-auth/start', { contact }, { authorization: '' })).status,
    ).toBe(202);
    const mail = await eventually(
      async () => (await outbox()).filter((m) => m.recipient === EMAIL && /code is/.test(m.body))[before],
      'code',
    );
    const code = /code is (\d{6})/.exec(mail.body)![1]!;
    const r = await httpsJson(
      a.url,
      a.cert,
      'POST',
      '/v1/patient-auth/verify',
      { contact, code, transport: 'bearer' },
      { authorization: '' },
    );
    expect(r.status).toBe(200);
    return r.body.token;
  }

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    a = await startSealpost({ SEALPOST_DATABASE_URL: db.url });
    b = await startSealpost({
      SEALPOST_DATABASE_URL: db.url,
      SEALPOST_WORKER: 'false',
      SEALPOST_KEYRING_FILE: join(a.dataDir, 'keyring.json'),
    });
    const p = samplePatient({
      name: { given: [MARKER], family: 'Nodes' },
      telecom: [{ system: 'email', value: EMAIL }],
    });
    expect((await a.request('PUT', '/v1/patients/pn1', p)).status).toBe(201);
    expect(
      (await a.request('POST', '/v1/patients/pn1/account', { contact: { system: 'email', value: EMAIL } })).status,
    ).toBe(201);
    token = await signIn();
  }, 120_000);
  afterAll(async () => {
    for (const s of streams) s.close();
    await browser?.close();
    for (const h of [b, a]) await h?.close();
    await db?.drop();
  });

  it('a notification created through node A reaches the stream on node B; so do a read and an acknowledgement through A', async () => {
    const s = onB(token);
    expect((await s.opened).status).toBe(200);
    await eventually(async () => inboxStates(s).length > 0, 'the first state');
    expect(inboxStates(s)[0]).toMatchObject({ total: 0, unread: 0 });

    const id = await notify(`${MARKER} ferritin`);
    const arrived = await eventually(async () => inboxStates(s).find((x) => x.newest === id), 'the notification on B');
    expect(arrived).toMatchObject({ total: 1, unread: 1 });

    // Read and acknowledged through node A: each change is NOTIFYed by its own transaction.
    expect((await atA(token, 'GET', `/v1/me/notifications/${id}`)).status).toBe(200);
    await eventually(async () => inboxStates(s).find((x) => x.newest === id && x.unread === 0), 'the read on B');
    expect((await atA(token, 'POST', `/v1/me/notifications/${id}/acknowledge`, {})).status).toBe(200);
    await eventually(async () => inboxStates(s).find((x) => x.acknowledged === 1), 'the acknowledgement on B');

    // A second one, sent by A's worker: its delivery's status change is told from A's transaction too.
    const second = await notify(`${MARKER} lipid`);
    await eventually(async () => inboxStates(s).find((x) => x.newest === second && x.unread === 1), 'the second on B');
    expect(s.raw()).not.toContain(MARKER);
    expect(s.raw()).not.toContain('pn1');
  });

  it('a sign-out through node A ends the stream held by node B', async () => {
    const t = await signIn();
    const s = onB(t);
    expect((await s.opened).status).toBe(200);
    await eventually(async () => inboxStates(s).length > 0, 'the first state');
    expect((await atA(t, 'POST', '/v1/auth/logout')).status).toBe(204);
    await notify('after sign-out');
    await s.ended;
    expect(s.events.at(-1)?.event).toBe('signed-out');
  });
  it('the page in Chromium, served by node B, shows a notification created through node A without a reload', async () => {
    browser = await launchChromium(b.cert);
    const context = await phoneContext(browser);
    const page = await context.newPage();
    await page.goto(`${b.url}/portal/notifications`);
    await page.waitForFunction(() => document.body.dataset.step === 'signin');
    const outbox = async () => (await a.request('GET', '/v1/dev/outbox?limit=500')).body.items as any[];
    const before = (await outbox()).filter((m) => m.recipient === EMAIL && /code is/.test(m.body)).length;
    await page.fill('#contact', EMAIL);
    await page.press('#contact', 'Enter');
    const mail = await eventually(
      async () => (await outbox()).filter((m) => m.recipient === EMAIL && /code is/.test(m.body))[before],
      'the sign-in code',
    );
    await page.waitForFunction(() => document.activeElement?.id === 'code');
    await page.keyboard.type(/code is (\d{6})/.exec(mail.body)![1]!);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.body.dataset.step === 'home' && document.body.dataset.live === 'open');
    const id = await notify(`${MARKER} vitamin`);
    await page.waitForFunction(
      (nid) => document.querySelector('#notification-list li')?.getAttribute('data-id') === nid,
      id,
    );
    expect(await page.locator('#notification-list li .title').first().textContent()).not.toBe('');
    await context.close();
    // Neither node logged the patient's content.
    for (const h of [a, b]) expect(readFileSync(h.logFile, 'utf8')).not.toContain(MARKER);
  }, 240_000);
});
