import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { acceptAll, emptyPskIndex, processMessage } from 'ts-mls';
import { defaultClientConfig } from 'ts-mls/clientConfig.js';
import { launchChromium } from '../helpers/chromium.js';
import { createTestDatabase, describeEachBrowserBackend, type TestDatabase } from '../helpers/backends.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { cli } from '../helpers/sealpost-cli.js';
import { inboxStep, logPageOnFailure, phoneContext, sendFromPage, signInByKeyboard } from '../helpers/portal-inbox.js';
import { sdkClient, trustingFetch, type TestClient } from '../../sdk/test/helpers/sdk-clients.js';
import { Http } from '../../sdk/src/messaging/http.js';
import { decodeMessage, loadState, suiteImpl } from '../../sdk/src/messaging/mls.js';
import type { ConversationEvent } from '../../sdk/src/messaging/wire-types.js';
import type { CipherSuiteName } from '../../sdk/src/cipher-suites.js';

/**
 * The three-client test, literally: one patient thread through the real server, two nurses
 * of the care team on the SDK in Node and the patient in Debian Chromium through /portal/inbox, plus
 * the archive member (`sealpost archiver run`, its own process). Messages, an attachment, delivery
 * and read receipts, recall, a nurse leaving the care team, a nurse joining it, the lifespan purge.
 * The tests share one thread and run in order.
 */
describeEachBrowserBackend(
  'three clients (two SDK nurses, the patient in Chromium) in one patient thread',
  (backend) => {
    const EMAIL = 'three-clients-patient@example.com';
    let db: TestDatabase;
    let h: Harness;
    let browser: Browser;
    let page: Page;
    let nurseA: TestPerson, nurseB: TestPerson, nurseC: TestPerson, admin: TestPerson;
    let A: TestClient, B: TestClient, C: TestClient | undefined;
    let thread = '';
    // The server's clock runs this far ahead once the lifespan test moves it.
    let skewMs = 0;
    let archiverId = '';
    let archiverLog = '';
    let killArchiver: () => void = () => {};
    let archiver: ReturnType<typeof cli> | null = null;
    const seqs: Record<string, number> = {};
    let recalledSeq = 0;

    beforeAll(async () => {
      db = await createTestDatabase(backend);
      h = await startSealpost(db.env, { clock: () => new Date(Date.now() + skewMs) });
      expect(
        (await h.request('PUT', '/v1/patients/p3', samplePatient({ telecom: [{ system: 'email', value: EMAIL }] })))
          .status,
      ).toBe(201);
      expect(
        (await h.request('POST', '/v1/patients/p3/account', { contact: { system: 'email', value: EMAIL } })).status,
      ).toBe(201);
      [nurseA, nurseB, nurseC] = [
        await staffWithSession(h, ['nurse']),
        await staffWithSession(h, ['nurse']),
        await staffWithSession(h, ['nurse']),
      ];
      for (const n of [nurseA, nurseB])
        expect((await h.request('PUT', `/v1/patients/p3/care-team/${n.userId}`)).status).toBe(201);
      [A, B] = [await sdkClient(h, nurseA.token, 'nurse A'), await sdkClient(h, nurseB.token, 'nurse B')];

      // The archive member, as operators run it: its own process, with the tenant's archive switch on.
      const ca = join(db.dataDir, 'server-ca.pem');
      writeFileSync(ca, h.cert);
      // db.env names the data directory the server runs on (its keyring), so the CLI does too.
      const env = { ...db.env, SEALPOST_LOG_LEVEL: 'warn', NODE_EXTRA_CA_CERTS: ca };
      const init = await cli(env, ['archiver', 'init']);
      expect(init.code, init.stderr).toBe(0);
      archiverId = init.stdout.trim();
      archiver = cli(env, ['archiver', 'run', '--server', h.url], (all, kill) => {
        archiverLog = all;
        killArchiver = kill;
      });
      await eventually(async () => archiverLog.includes('archiver: connected'), 'the archiver connected', 90_000);
      admin = await staffWithSession(h, ['admin']);
      const policy = await h.request(
        'PUT',
        '/v1/messaging/policy',
        { requirePostQuantum: false, defaultLifespanSeconds: null, archive: true },
        admin.headers,
      );
      expect(policy.status).toBe(200);
      browser = await launchChromium(h.cert);
    }, 240_000);

    afterAll(async () => {
      killArchiver();
      await archiver;
      for (const t of [A, B, C]) t?.client.close();
      await browser?.close();
      await h?.close();
      await db?.drop();
    });

    /** Syncs a nurse until the message with this body is there. */
    const atNurse = (t: TestClient, body: string) =>
      eventually(
        async () => {
          await t.client.sync(thread);
          return (await t.client.messages(thread)).find((m) => m.body === body);
        },
        `"${body}" at a nurse`,
        60_000,
      );
    const inBrowser = (text: string) => page.locator('#messages li', { hasText: text }).waitFor();

    let pullFetch: typeof fetch | undefined;
    /** The thread's events as one device pulls them now (ciphertext, or null once gone). */
    async function pull(t: TestClient, token: string, after = 0): Promise<ConversationEvent[]> {
      // One connection pool for every pull: the server caps connections per source address.
      pullFetch ??= trustingFetch(h.cert);
      const http = new Http({ baseUrl: h.url, token, fetch: pullFetch });
      const r = await http.get<{ items: ConversationEvent[] }>(
        `/v1/conversations/${thread}/events?deviceId=${t.client.device!.deviceId}&after=${after}&limit=500`,
      );
      return r.items;
    }

    /** Whether a device's current MLS state opens an application event. */
    async function canDecrypt(t: TestClient, ev: ConversationEvent): Promise<boolean> {
      const bytes = await t.store.get(`group/${thread}`);
      if (!bytes || !ev.data) return false;
      const state = loadState(bytes, { ...defaultClientConfig });
      const m = decodeMessage(ev.data);
      if (m.wireformat !== 'mls_private_message') return false;
      try {
        const suite = await suiteImpl(state.groupContext.cipherSuite as CipherSuiteName);
        return (await processMessage(m, state, emptyPskIndex, acceptAll, suite)).kind === 'applicationMessage';
      } catch {
        return false;
      }
    }

    /** Back to the list and into the thread again: the page renders the thread from the browser's store. */
    async function reopenThread(): Promise<void> {
      await page.locator('#back').click();
      await inboxStep(page, 'threads');
      await page.locator('#thread-list button').first().click();
      await inboxStep(page, 'thread');
    }

    it('nurse A opens the thread; nurse A, nurse B and the patient in the browser each read the others’ messages', async (ctx) => {
      page = await (await phoneContext(browser)).newPage();
      logPageOnFailure(page, ctx);
      // The patient's browser registers first, so the new thread includes it.
      await page.goto(`${h.url}/portal/inbox`);
      await signInByKeyboard(h, page, EMAIL);
      await inboxStep(page, 'threads');

      const view = await A.client.createConversation({ kind: 'patient', patientId: 'p3' });
      thread = view.id;
      expect(view.members.map((m) => m.id)).toEqual(expect.arrayContaining([nurseA.userId, nurseB.userId, archiverId]));
      seqs.a1 = (await A.client.send(thread, 'A: your results are in, all normal.')).seq;
      expect((await atNurse(B, 'A: your results are in, all normal.')).sender).toEqual({
        kind: 'user',
        id: nurseA.userId,
      });

      const list = page.locator('#thread-list button');
      await eventually(async () => (await list.count()) > 0 || undefined, 'the thread in the list', 120_000);
      await list.first().click();
      await inboxStep(page, 'thread');
      await inBrowser('A: your results are in, all normal.');

      seqs.b1 = (await B.client.send(thread, 'B: I will call you tomorrow.')).seq;
      expect((await atNurse(A, 'B: I will call you tomorrow.')).mine).toBe(false);
      await inBrowser('B: I will call you tomorrow.');

      await sendFromPage(page, 'Patient: thank you both.');
      for (const t of [A, B]) expect((await atNurse(t, 'Patient: thank you both.')).sender.kind).toBe('patient');
      seqs.p1 = (await atNurse(A, 'Patient: thank you both.')).seq;
    }, 300_000);

    it('an attachment from nurse B opens in the browser with the same bytes', async () => {
      const data = Buffer.from('Discharge notes: rest, fluids, follow-up in two weeks.');
      await B.client.send(thread, 'B: your discharge notes.', {
        attachments: [{ name: 'notes.txt', type: 'text/plain', data }],
      });
      await inBrowser('B: your discharge notes.');
      const button = page.locator('#messages li', { hasText: 'B: your discharge notes.' }).locator('button.attachment');
      expect(await button.textContent()).toBe('Download notes.txt');
      const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
      expect(download.suggestedFilename()).toBe('notes.txt');
      expect(readFileSync((await download.path())!)).toEqual(data);
      expect(await page.locator('#error').textContent()).toBe('');
    }, 180_000);

    it('delivery receipts name nurse B’s device and the patient’s browser, and the patient’s read receipt reaches nurse A', async () => {
      const sent = await A.client.send(thread, 'A: please confirm you got this.');
      await inBrowser('A: please confirm you got this.');
      await atNurse(B, 'A: please confirm you got this.');
      const delivered = await eventually(
        async () => {
          const r = await A.client.receipts(thread, sent.seq);
          const ok =
            r.delivered.some((d) => d.deviceId === B.client.device!.deviceId) &&
            r.delivered.some((d) => d.person.kind === 'patient');
          return ok && r.delivered;
        },
        'delivery receipts of nurse B and the patient',
        60_000,
      );
      expect(delivered.find((d) => d.deviceId === B.client.device!.deviceId)?.person).toEqual({
        kind: 'user',
        id: nurseB.userId,
      });
      // The thread is open in the browser: what arrives in it is read, end to end.
      await eventually(
        async () => {
          await A.client.sync(thread);
          return (A.events.read ?? []).find((r) => r.reader.kind === 'patient' && r.seq >= sent.seq);
        },
        'the patient’s read receipt at nurse A',
        60_000,
      );
    }, 180_000);

    it('nurse A recalls a message: it disappears for nurse B and in the browser', async () => {
      const oops = await A.client.send(thread, 'A: wrong patient, ignore.');
      await atNurse(B, 'A: wrong patient, ignore.');
      await inBrowser('A: wrong patient, ignore.');
      recalledSeq = oops.seq;
      await A.client.recall(thread, oops.seq);
      await eventually(
        async () => {
          await B.client.sync(thread);
          return !(await B.client.messages(thread)).some((m) => m.seq === oops.seq);
        },
        'the recall at nurse B',
        60_000,
      );
      expect(B.events.recalled).toContainEqual({ conversationId: thread, seq: oops.seq });
      await eventually(
        async () => {
          await reopenThread();
          return (await page.locator('#messages li', { hasText: 'A: wrong patient, ignore.' }).count()) === 0;
        },
        'the recall in the browser',
        120_000,
      );
      await inBrowser('A: please confirm you got this.');
      expect((await pull(A, nurseA.token)).find((e) => e.seq === oops.seq)?.data ?? null).toBeNull();
    }, 240_000);

    it('nurse B leaves the care team: what follows never reaches nurse B and B’s keys cannot open it', async () => {
      const epoch = (await h.request('GET', `/v1/conversations/${thread}`, undefined, nurseA.headers)).body.epoch;
      const bCursor = Math.max(...(await pull(B, nurseB.token)).map((e) => e.seq));
      expect((await h.request('DELETE', `/v1/patients/p3/care-team/${nurseB.userId}`)).status).toBe(204);
      // The server proposes B's removal; nurse A's client commits it.
      await eventually(
        async () => {
          await A.client.sync(thread);
          const v = await h.request('GET', `/v1/conversations/${thread}`, undefined, nurseA.headers);
          return v.body.epoch > epoch && !v.body.members.some((m: { id: string }) => m.id === nurseB.userId);
        },
        'nurse B removed from the group',
        60_000,
      );
      const after = await A.client.send(thread, 'A: B has moved to another ward.');
      await inBrowser('A: B has moved to another ward.');
      const ev = (await pull(A, nurseA.token)).find((e) => e.seq === after.seq)!;
      expect(ev.data).not.toBeNull();
      expect(await canDecrypt(B, ev)).toBe(false);
      // B's device is served nothing new, and B's client shows nothing of it.
      const forB = await h.request(
        'GET',
        `/v1/conversations/${thread}/events?deviceId=${B.client.device!.deviceId}&after=${bCursor}&limit=500`,
        undefined,
        nurseB.headers,
      );
      expect(forB.status === 200 ? forB.body.items.filter((e: ConversationEvent) => e.seq >= after.seq) : []).toEqual(
        [],
      );
      await B.client.sync(thread).catch(() => undefined);
      expect((await B.client.messages(thread)).map((m) => m.body)).not.toContain('A: B has moved to another ward.');
      expect((B.events.message ?? []).map((m) => m.body)).not.toContain('A: B has moved to another ward.');
    }, 180_000);

    it('nurse C joins the care team and the thread, reads what follows but not what preceded', async () => {
      C = await sdkClient(h, nurseC.token, 'nurse C');
      const earlier = (await pull(A, nurseA.token)).filter((e) => e.kind === 'application' && e.data);
      expect((await h.request('PUT', `/v1/patients/p3/care-team/${nurseC.userId}`)).status).toBe(201);
      await eventually(
        async () => {
          await A.client.sync(thread);
          await C!.client.sync(thread);
          return (C!.events.membership ?? []).some((m) => m.conversationId === thread && m.change === 'joined');
        },
        'nurse C joined the thread',
        90_000,
      );
      expect(await C.client.messages(thread)).toEqual([]);
      for (const ev of earlier) expect(await canDecrypt(C, ev)).toBe(false);
      await C.client.send(thread, 'C: hello, I am your new nurse.');
      await atNurse(A, 'C: hello, I am your new nurse.');
      await inBrowser('C: hello, I am your new nurse.');
      await A.client.send(thread, 'A: welcome, C.');
      expect((await atNurse(C, 'A: welcome, C.')).sender.id).toBe(nurseA.userId);
      expect((await C.client.messages(thread)).map((m) => m.body)).not.toContain('A: your results are in, all normal.');
    }, 240_000);

    it('the archive member received the messages of all three clients, and kept the recall', async () => {
      for (const [who, seq] of Object.entries(seqs))
        await eventually(
          async () => archiverLog.includes(`archived ${thread} seq ${seq}`),
          `the archiver archived ${who}`,
          60_000,
        );
      await eventually(
        async () => archiverLog.includes(`recall of ${thread} seq ${recalledSeq}`),
        'the archiver saw the recall',
        60_000,
      );
      expect(archiverLog).not.toContain('results are in');
    }, 120_000);

    it('a tenant lifespan of 60 s purges the thread’s ciphertext: a late pull gets data null', async () => {
      const policy = await h.request(
        'PUT',
        '/v1/messaging/policy',
        { requirePostQuantum: false, defaultLifespanSeconds: 60 },
        admin.headers,
      );
      expect(policy.status).toBe(200);
      expect(policy.body.defaultLifespanSeconds).toBe(60);
      const live = (await pull(A, nurseA.token)).filter((e) => e.kind === 'application' && e.data);
      expect(live.length).toBeGreaterThan(5);
      // Five minutes later by the server's clock; the sweep (every minute while the worker runs) purges.
      skewMs = 5 * 60_000;
      const purged = await eventually(
        async () => {
          const evs = (await pull(C!, nurseC.token)).filter((e) => e.kind === 'application');
          return evs.length > 0 && evs.every((e) => e.data === null) && evs;
        },
        'the purge of the thread',
        180_000,
      );
      expect(purged.length).toBeGreaterThanOrEqual(2);
      for (const ev of live) expect((await pull(A, nurseA.token)).find((e) => e.seq === ev.seq)?.data).toBeNull();
      const audit = await h.request('GET', '/v1/audit/events?action=conversation.purged');
      expect(audit.text).toContain(thread);
    }, 240_000);
  },
);
