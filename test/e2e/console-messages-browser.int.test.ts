import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, type TestContext } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import {
  consoleUser,
  DESKTOP,
  expectAccessible,
  expectNoLeak,
  newConsolePage,
  PHONE,
  shoot,
  signInWithTotp,
  startConsole,
  type ConsolePerson,
  type ConsoleRig,
  type PageWatch,
} from '../helpers/console-browser.js';
import { createTestDatabase, describeEachBrowserBackend, type TestDatabase } from '../helpers/backends.js';
import { staffWithSession } from '../helpers/identity.js';
import { MlsTestDevice } from '../helpers/mls-test-client.js';

/** Every byte under a directory (the SQLite database, its WAL, attachment blobs). */
function allBytes(dir: string): Buffer {
  return Buffer.concat(
    readdirSync(dir).map((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? allBytes(p) : readFileSync(p);
    }),
  );
}

/**
 * Messages in Debian Chromium: two clinicians, each in a browser context of their own (their own
 * IndexedDB, so their own keys), register their browsers as messaging devices, start a conversation,
 * exchange messages and an attachment, see a read receipt, recall a message; billing messages too
 * (any staff member may message any other), an auditor gets no Messages. PHI markers in texts, a
 * file name and file content never reach a URL, storage, the console log, the server's log or its
 * store in the clear.
 */
describeEachBrowserBackend('the console’s Messages screen in a real browser', (backend) => {
  const tag = randomBytes(4).toString('hex');
  const M = {
    first: `Zyx-PHI-${tag}-first`,
    reply: `Zyx-PHI-${tag}-reply`,
    recalled: `Zyx-PHI-${tag}-recalled`,
    fileName: `Zyx-PHI-${tag}-labs.txt`,
    fileBody: `Zyx-PHI-${tag}-potassium`,
  };
  const markers = Object.values(M);
  let db: TestDatabase;
  let rig: ConsoleRig;
  let ana: ConsolePerson, ben: ConsolePerson;
  const pages: { context: BrowserContext; page: Page; watch: PageWatch }[] = [];
  let A: Page, B: Page;
  let conversation = '';

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    rig = await startConsole(db.env);
    [ana, ben] = [await consoleUser(rig.h, ['physician']), await consoleUser(rig.h, ['nurse'])];
  }, 180_000);
  afterAll(async () => {
    for (const p of pages) await p.context.close().catch(() => undefined);
    await rig?.close();
    await db?.drop();
  });

  async function open(person: ConsolePerson, ctx: TestContext, viewport = DESKTOP): Promise<Page> {
    const p = await newConsolePage(rig.browser, viewport);
    // Registering makes some 40 key packages in page JavaScript: slow on a busy machine.
    p.context.setDefaultTimeout(120_000);
    pages.push(p);
    ctx.onTestFailed(() => console.error(p.watch.console.join('\n')));
    await signInWithTotp(p.page, rig.base, person, '/console/messages');
    return p.page;
  }

  const api = (page: Page, path: string) =>
    page.evaluate(async (p) => {
      const r = await fetch(p);
      return { status: r.status, body: await r.json() };
    }, path);

  async function register(page: Page): Promise<void> {
    await page.getByRole('heading', { name: 'Use this browser for secure messages' }).waitFor();
    await expectAccessible(page, 'messages: set-up');
    await page.getByRole('button', { name: 'Set up messaging on this browser' }).click();
    await page.getByRole('heading', { name: 'Conversations' }).waitFor();
  }

  it('registers each clinician’s browser as a messaging device on first use, keys kept in IndexedDB', async (ctx) => {
    A = await open(ana, ctx);
    B = await open(ben, ctx);
    expect((await api(A, '/v1/messaging/devices')).body.items).toEqual([]);
    await register(A);
    await register(B);
    const devices = (await api(A, '/v1/messaging/devices')).body.items;
    expect(devices).toHaveLength(1);
    expect(devices[0]).toMatchObject({ status: 'active', person: { id: ana.userId } });
    const dbs = await A.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
    expect(dbs).toContain(`sealpost-console-default-${ana.userId}`);
    // A reload finds the device again: no second registration.
    await A.reload();
    await A.getByRole('heading', { name: 'Conversations' }).waitFor();
    expect((await api(A, '/v1/messaging/devices')).body.items).toHaveLength(1);
    await expectAccessible(A, 'messages: list');
    // Live delivery: the SDK's WebSocket to this origin opens under the console's policy (connect-src 'self').
    await A.getByText('Live', { exact: true }).waitFor();
  }, 300_000);

  it('refuses to start without a colleague or to send nothing, and changes nothing', async () => {
    await A.getByRole('button', { name: 'Start conversation' }).click();
    await A.getByText('Pick at least one colleague.').waitFor();
    expect((await api(A, '/v1/conversations')).body.items).toEqual([]);
  });

  it('shows the API’s refusal of a colleague who left after the directory was read, and opens nothing', async () => {
    const leaver = await staffWithSession(rig.h, ['nurse']);
    await MlsTestDevice.register(rig.h, leaver.headers, { count: 1 });
    await A.reload();
    await A.getByRole('checkbox', { name: `Staff ${leaver.userId}` }).check();
    await rig.h.app.store.transaction((tx) => tx.users.update('default', leaver.userId, { status: 'disabled' }));
    await A.getByRole('button', { name: 'Start conversation' }).click();
    await A.locator('.sp-problem[data-code="SP_CONVERSATION_MEMBERS_INVALID"]').waitFor();
    expect((await api(A, '/v1/conversations')).body.items).toEqual([]);
    await A.reload();
  });

  it('Ana starts a conversation with Ben; they exchange messages; Ben’s reading comes back as a receipt', async () => {
    await A.getByRole('checkbox', { name: ben.displayName }).check();
    await A.getByRole('button', { name: 'Start conversation' }).click();
    await A.waitForURL(/\/console\/messages\/[A-Za-z0-9_-]+$/);
    conversation = new URL(A.url()).pathname.split('/').pop()!;
    await A.getByRole('heading', { name: ben.displayName }).waitFor();
    // Send with nothing written: refused here, nothing posted.
    const before = (await api(A, `/v1/conversations/${conversation}`)).body.latestSeq;
    await A.getByRole('button', { name: 'Send' }).click();
    await A.getByText('Write a message or attach a file.').waitFor();
    expect((await api(A, `/v1/conversations/${conversation}`)).body.latestSeq).toBe(before);

    await A.getByLabel('Message', { exact: true }).fill(M.first);
    await A.getByRole('button', { name: 'Send' }).click();
    await A.locator('.sp-messages-mine', { hasText: M.first }).waitFor();
    await A.locator('.sp-messages-mine', { hasText: M.first }).getByText('Sent, not read yet').waitFor();

    // Ben's list shows the conversation (named after Ana); inside, Ana's message, decrypted here.
    // By keyboard: the conversation's link, Enter.
    await B.getByRole('link', { name: new RegExp(ana.displayName) }).focus();
    await B.keyboard.press('Enter');
    await B.waitForURL(new RegExp(`/console/messages/${conversation}$`));
    await B.locator('.sp-messages-msg', { hasText: M.first }).waitFor();
    // Ben read it: Ana's browser learns it end to end.
    await A.locator('.sp-messages-mine', { hasText: M.first }).getByText(`Read by ${ben.displayName}`).waitFor();
    await expectAccessible(A, 'messages: conversation');
    await expectAccessible(B, 'messages: conversation (reader)');
  }, 180_000);

  it('sends an attachment encrypted in the browser; the other downloads and decrypts the same bytes', async () => {
    await B.setInputFiles('#sp-messages-file', {
      name: M.fileName,
      mimeType: 'text/plain',
      buffer: Buffer.from(M.fileBody),
    });
    // By keyboard: type in the message field, Tab past the file field to Send, Enter.
    await B.getByLabel('Message', { exact: true }).focus();
    await B.keyboard.type(M.reply);
    await B.keyboard.press('Tab');
    await B.keyboard.press('Tab');
    expect(await B.evaluate(() => document.activeElement?.textContent)).toBe('Send');
    await B.keyboard.press('Enter');
    await B.locator('.sp-messages-mine', { hasText: M.reply }).waitFor();
    const button = A.getByRole('button', { name: `Download ${M.fileName}` });
    await button.waitFor();
    const [download] = await Promise.all([A.waitForEvent('download'), button.click()]);
    expect(download.suggestedFilename()).toBe(M.fileName);
    expect(readFileSync((await download.path())!, 'utf8')).toBe(M.fileBody);
  }, 180_000);

  it('Ana recalls a message: the server deletes it and Ben sees it recalled', async () => {
    await A.getByLabel('Message', { exact: true }).fill(M.recalled);
    await A.getByRole('button', { name: 'Send' }).click();
    const mine = A.locator('.sp-messages-mine', { hasText: M.recalled });
    await mine.waitFor();
    const seq = Number(await mine.getAttribute('data-seq'));
    await B.locator('.sp-messages-msg', { hasText: M.recalled }).waitFor();
    await mine.getByRole('button', { name: 'Recall' }).click();
    const dialog = A.getByRole('alertdialog');
    await expectAccessible(A, 'messages: recall dialog');
    await dialog.getByRole('button', { name: 'Recall' }).click();
    await A.locator(`.sp-messages-recalled[data-seq="${seq}"]`).waitFor();
    await B.locator(`.sp-messages-recalled[data-seq="${seq}"]`).waitFor();
    expect(await B.getByText(M.recalled).count()).toBe(0);
    // On the server: a recall event, and the message's ciphertext gone.
    const device = (await api(A, '/v1/messaging/devices')).body.items[0].deviceId;
    const events = (await api(A, `/v1/conversations/${conversation}/events?deviceId=${device}&after=0&limit=500`)).body
      .items as { seq: number; kind: string; data: string | null; recalledSeq: number | null }[];
    expect(events.find((e) => e.kind === 'recall')?.recalledSeq).toBe(seq);
    expect(events.find((e) => e.seq === seq)?.data ?? null).toBeNull();
    // Still recalled after a reload (the console keeps that it was, not what it said).
    await B.reload();
    await B.locator(`.sp-messages-recalled[data-seq="${seq}"]`).waitFor();
    await A.evaluate(() => window.scrollTo(0, 0));
    await shoot(A, 'console-messages');
    await A.setViewportSize(PHONE);
    expect(await A.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await expectAccessible(A, 'messages: conversation on a phone');
    await A.evaluate(() => window.scrollTo(0, 0));
    await shoot(A, 'console-messages-phone');
    await A.setViewportSize(DESKTOP);
  }, 180_000);

  it('lets billing message a clinician (any staff member may message any other) and gives an auditor no Messages', async (ctx) => {
    const clerk = await consoleUser(rig.h, ['billing']);
    const C = await open(clerk, ctx);
    await register(C);
    await C.getByRole('checkbox', { name: ana.displayName }).check();
    await C.getByRole('button', { name: 'Start conversation' }).click();
    await C.waitForURL(/\/console\/messages\/[A-Za-z0-9_-]+$/);
    await C.getByLabel('Message', { exact: true }).fill('Invoice question for you');
    await C.getByRole('button', { name: 'Send' }).click();
    await C.locator('.sp-messages-mine', { hasText: 'Invoice question' }).waitFor();
    await A.goto(`${rig.base}/console/messages`);
    await A.getByRole('link', { name: new RegExp(clerk.displayName) }).click();
    await A.getByText('Invoice question for you').waitFor();

    const auditor = await consoleUser(rig.h, ['auditor']);
    const D = await open(auditor, ctx);
    expect(await D.getByRole('link', { name: 'Messages' }).count()).toBe(0);
    expect(await D.locator('main h1').first().textContent()).not.toBe('Messages');
    expect(await D.getByRole('heading', { name: 'Use this browser for secure messages' }).count()).toBe(0);
    expect((await api(D, '/v1/messaging/directory')).status).toBe(403);
    expect((await api(D, '/v1/conversations')).status).toBe(403);
  }, 300_000);

  it('keeps every PHI marker out of URLs, storage, the console log, the server’s log and its store', async () => {
    for (const p of pages) await expectNoLeak(p.page, p.watch, markers);
    // The browsers' IndexedDB holds only sealed records (AES-GCM under a non-extractable key).
    const idb = await A.evaluate(async (name) => {
      const db = await new Promise<IDBDatabase>((res, rej) => {
        const r = indexedDB.open(name);
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      const all = await new Promise<unknown[]>((res) => {
        const r = db.transaction('records').objectStore('records').getAll();
        r.onsuccess = () => res(r.result);
      });
      return all.map((x: any) => new TextDecoder('latin1').decode(x.data)).join('\n');
    }, `sealpost-console-default-${ana.userId}`);
    expect(idb.length).toBeGreaterThan(0);
    for (const m of markers) expect(idb.includes(m), `${m} in IndexedDB`).toBe(false);
    const log = readFileSync(rig.h.logFile, 'utf8');
    for (const m of markers) expect(log.includes(m), `${m} in the server log`).toBe(false);
    if (backend === 'sqlite') {
      const bytes = allBytes(db.dataDir);
      for (const m of markers) expect(bytes.includes(Buffer.from(m)), `${m} in the SQLite files`).toBe(false);
    } else {
      let rows = '';
      for (const t of await db.tables())
        for (const r of await db.query<{ r: string }>(`select t::text as r from "${t}" t`)) rows += r.r + '\n';
      expect(rows).toContain(ana.userId); // the dump is real
      for (const m of markers) {
        expect(rows.includes(m), `${m} in PostgreSQL`).toBe(false);
        expect(rows.includes(Buffer.from(m).toString('hex')), `${m} (bytea) in PostgreSQL`).toBe(false);
      }
    }
  });

  it('removes this browser from messaging: the device is revoked and its keys here are deleted', async () => {
    await A.goto(`${rig.base}/console/messages`);
    await A.getByRole('button', { name: 'Remove this browser from messaging' }).click();
    await A.getByRole('alertdialog').getByRole('button', { name: 'Remove this browser from messaging' }).click();
    await A.getByRole('heading', { name: 'Use this browser for secure messages' }).waitFor();
    expect((await api(A, '/v1/messaging/devices')).body.items).toEqual([]);
    const records = await A.evaluate(async (name) => {
      const db = await new Promise<IDBDatabase>((res, rej) => {
        const r = indexedDB.open(name);
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      return new Promise<number>((res) => {
        const r = db.transaction('records').objectStore('records').count();
        r.onsuccess = () => res(r.result);
      });
    }, `sealpost-console-default-${ana.userId}`);
    expect(records).toBe(0);
  }, 120_000);
});
