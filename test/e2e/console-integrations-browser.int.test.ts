import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
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
  type ConsoleRig,
} from '../helpers/console-browser.js';
import { BROWSER_BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { eventually, samplePatient } from '../helpers/sealpost-harness.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { sendMllp } from '../../src/api/mllp-client.js';
import { parseHl7 } from '../../src/ehr/hl7/message.js';

const FIXTURES = new URL('../fixtures/hl7v2/', import.meta.url);
let control = 0;
/** A fixture message with its own control id and the replacements (e.g. a planted name). */
function sample(name: string, replace: [string, string][] = []): string {
  let text = readFileSync(new URL(name, FIXTURES), 'utf8').replace(/^\uFEFF/, '');
  for (const [a, b] of replace) text = text.replace(a, b);
  const lines = text.split(/\r\n|\r|\n/).filter((l) => l.trim());
  const msh = lines[0]!.split('|');
  msh[9] = `CONSOLE${++control}`;
  lines[0] = msh.join('|');
  return lines.join('\r');
}
const ackOf = (ack: string) => {
  const m = parseHl7(ack);
  return { code: m.segment('MSA')!.get(1), err: m.segment('ERR')?.get(3, 2) };
};

/**
 * The integrations screen in Debian Chromium, on each backend: HL7 senders registered and removed,
 * a real HL7 message sent over MLLP into the error queue and replayed (and another discarded) from
 * the console, FHIR Subscriptions created, delivered to a real endpoint, paused, restarted, failing
 * and deleted; role rules; no PHI of the HL7 message anywhere in the browser.
 */
for (const backend of BROWSER_BACKENDS)
  describe(`the integrations screen in a real browser (${backend})`, () => {
    let rig: ConsoleRig;
    let db: TestDatabase;
    let hook: WebhookReceiver;
    const tag = randomBytes(4).toString('hex');
    const family = `ZYXPHI${tag.toUpperCase()}`;
    const markers = [family];
    const api = (method: string, path: string, body?: unknown) => rig.h.request(method, path, body);
    const problemCode = (page: Page) => page.locator('.sp-problem').getAttribute('data-code');

    beforeAll(async () => {
      db = await createTestDatabase(backend, 'sealpost-console-integrations-');
      hook = await startWebhookReceiver({ secret: 'unused' });
      rig = await startConsole({
        ...db.env,
        SEALPOST_HL7_LISTEN: '127.0.0.1:0',
        SEALPOST_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
        SEALPOST_BACKOFF_BASE_MS: '10',
        SEALPOST_BACKOFF_CAP_MS: '20',
        SEALPOST_FHIR_SUBSCRIPTION_MAX_FAILURES: '1',
      });
    }, 180_000);
    afterAll(async () => {
      await rig?.close();
      await hook?.close();
      await db?.drop();
    });

    it('registers a sender, queues a real HL7 message sent over MLLP, replays it once the patient exists, discards another, removes the sender', async () => {
      const admin = await consoleUser(rig.h, ['admin']);
      const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
      await signInWithTotp(page, rig.base, admin, '/console/integrations');
      await page.waitForURL(/\/console\/integrations\/hl7-errors$/);
      await page.getByText('The queue is empty.').waitFor();
      await expectAccessible(page, 'hl7 error queue (empty)');

      await page.getByRole('link', { name: 'HL7 senders' }).click();
      await page.getByText('No sender is registered').waitFor();
      await page.fill('#sender-app', 'SomeSystem');
      await page.fill('#sender-zone', 'Nowhere/X');
      await page.getByRole('button', { name: 'Register sender' }).click();
      await expect.poll(() => problemCode(page)).toBe('SP_HL7_SENDER_INVALID');
      expect((await api('GET', '/v1/hl7/senders')).body.items).toEqual([]);
      await page.fill('#sender-zone', 'America/New_York');
      await page.fill('#sender-authority', '1');
      await page.getByRole('button', { name: 'Register sender' }).click();
      await page.getByRole('cell', { name: 'SomeSystem', exact: true }).waitFor();
      const senders = (await api('GET', '/v1/hl7/senders')).body.items;
      expect(senders).toMatchObject([{ app: 'SomeSystem', timeZone: 'America/New_York', patientIdAuthority: '1' }]);
      await expectAccessible(page, 'hl7 senders');

      // A lab result for a patient Sealpost does not know: answered AE and queued.
      const port = (await rig.h.app.hl7Port())!;
      const [ack] = await sendMllp({ host: '127.0.0.1', port }, [
        sample('LAB-ORU-1.hl7', [['DUCK^DONALD', `${family}^DONALD`]]),
      ]);
      expect(ackOf(ack!)).toEqual({ code: 'AE', err: 'SP_HL7_UNKNOWN_PATIENT' });
      await page.getByRole('link', { name: 'HL7 error queue' }).click();
      // Wait for the queue's own row: right after the click the senders' table can still be on screen.
      const row = page.locator('table.sp-table tbody tr');
      await row.filter({ hasText: 'SP_HL7_UNKNOWN_PATIENT' }).first().waitFor();
      await expect.poll(() => row.count()).toBe(1);
      expect(await row.first().textContent()).toContain('SP_HL7_UNKNOWN_PATIENT');
      expect(await row.first().textContent()).toContain('PID-3');
      await expectAccessible(page, 'hl7 error queue');
      await shoot(page, 'console-integrations');

      await row.first().getByRole('link').click();
      await page.waitForURL(/\/console\/integrations\/hl7-errors\/[^/]+$/);
      const id = decodeURIComponent(page.url().split('/').pop()!);
      await page.getByTestId('hl7-status').waitFor();
      await expectAccessible(page, 'hl7 message');
      // Replayed too early: still failing, still queued.
      await page.getByRole('button', { name: 'Replay' }).click();
      await page.getByText('Replay failed again: SP_HL7_UNKNOWN_PATIENT').waitFor();
      expect((await api('GET', `/v1/hl7/errors/${id}`)).body.status).toBe('error');
      // The patient is registered with the sender's identifier: the replay applies the message.
      const patient = samplePatient({ identifiers: [{ system: '1', value: '10006579' }] });
      expect((await api('PUT', '/v1/patients/duck-console', patient)).status).toBe(201);
      await page.getByRole('button', { name: 'Replay' }).click();
      await page.getByText('Replayed: the message was applied.').waitFor();
      await expect.poll(() => page.getByTestId('hl7-status').textContent()).toBe('replayed');
      expect((await api('GET', `/v1/hl7/errors/${id}`)).body.status).toBe('replayed');
      expect(await page.getByRole('button', { name: 'Replay' }).count()).toBe(0);

      // Another message, discarded after confirmation.
      const [ack2] = await sendMllp({ host: '127.0.0.1', port }, [
        sample('LAB-ORU-1.hl7', [
          ['10006579^^^1', '99999999^^^1'],
          ['DUCK^DONALD', `${family}^DONALD`],
        ]),
      ]);
      expect(ackOf(ack2!).code).toBe('AE');
      const queued = (await api('GET', '/v1/hl7/errors')).body.items;
      expect(queued).toHaveLength(1);
      await page.goto(`${rig.base}/console/integrations/hl7-errors/${encodeURIComponent(queued[0].id)}`);
      await page.getByRole('button', { name: 'Discard' }).click();
      const dialog = page.getByRole('alertdialog');
      await dialog.waitFor();
      await expectAccessible(page, 'discard dialog');
      await dialog.getByRole('button', { name: 'Confirm' }).click();
      await page.getByText('Message discarded.').waitFor();
      expect((await api('GET', `/v1/hl7/errors/${queued[0].id}`)).body.status).toBe('discarded');
      await page.getByRole('link', { name: 'Back to the error queue' }).click();
      await page.getByText('The queue is empty.').waitFor();
      await page.selectOption('#hl7-status', 'replayed');
      await page.locator('table.sp-table tbody tr').first().waitFor();

      // The sender removed: none left on the server.
      await page.getByRole('link', { name: 'HL7 senders' }).click();
      await page.getByRole('button', { name: 'Remove' }).click();
      await page.getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
      await page.getByText('No sender is registered').waitFor();
      expect((await api('GET', '/v1/hl7/senders')).body.items).toEqual([]);
      expect(await page.textContent('body')).not.toContain(family);
      await expectNoLeak(page, watch, markers);
      await context.close();
    });

    it('creates a FHIR subscription that goes active, shows its deliveries and failures, pauses, restarts and deletes it', async () => {
      const admin = await consoleUser(rig.h, ['admin']);
      const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
      await signInWithTotp(page, rig.base, admin, '/console/integrations/subscriptions');
      await page.getByText('No subscription.').waitFor();
      await page.locator('#sub-topic option').first().waitFor({ state: 'attached' });
      expect(await page.locator('#sub-topic option').count()).toBe(3);

      // Bad input: an address the outbound policy refuses; nothing is created.
      await page.fill('#sub-endpoint', 'https://10.20.30.40/hook');
      await page.fill('#sub-reason', 'EHR delivery feed');
      await page.getByRole('button', { name: 'Create subscription' }).click();
      await expect.poll(() => problemCode(page)).toBe('SP_FHIR_SUBSCRIPTION_ENDPOINT_REFUSED');
      const none = await api('GET', '/fhir/R4/Subscription');
      expect(none.body.total ?? none.body.entry?.length ?? 0).toBe(0);

      await page.fill('#sub-endpoint', hook.url);
      await page.getByRole('button', { name: 'Create subscription' }).click();
      await page.getByText('Subscription created').waitFor();
      const status = page.getByTestId('subscription-status');
      const refresh = page.getByRole('button', { name: 'Refresh' });
      const statusIs = async (word: string) =>
        eventually(async () => {
          await refresh.click();
          await page.waitForTimeout(100);
          return (await status.first().textContent()) === word;
        }, `subscription ${word}`);
      await statusIs('active');
      const [sub] = (await api('GET', '/v1/subscriptions')).body.items;
      expect(sub).toMatchObject({ status: 'active', failures: 0, topic: 'communication-status' });
      expect(sub.lastDeliveryAt).not.toBeNull();
      expect(hook.records.length).toBeGreaterThanOrEqual(1);
      await expectAccessible(page, 'fhir subscriptions');

      await page.getByRole('button', { name: 'Pause' }).click();
      await page.getByText('Subscription paused.').waitFor();
      expect((await api('GET', `/fhir/R4/Subscription/${sub.id}`)).body.status).toBe('off');
      await page.getByRole('button', { name: 'Restart' }).click();
      await page.getByText('Subscription restarted').waitFor();
      await statusIs('active');

      // An endpoint that fails its handshake: error, one failure, the code shown.
      hook.failNext(1, 500);
      await page.fill('#sub-endpoint', `${hook.url}?second`);
      await page.fill('#sub-reason', 'Second feed');
      await page.getByRole('button', { name: 'Create subscription' }).click();
      await page.getByText('Subscription created').waitFor();
      await eventually(async () => {
        await refresh.click();
        await page.waitForTimeout(100);
        return (await status.allTextContents()).includes('error');
      }, 'a subscription in error');
      const failed = (await api('GET', '/v1/subscriptions')).body.items.find(
        (s: { status: string }) => s.status === 'error',
      );
      expect(failed.failures).toBe(1);
      expect(await page.getByTestId('subscription-failures').allTextContents()).toContain('1');
      expect(await page.textContent('main')).toContain(failed.errorCode);

      // Delete the failing one after confirmation.
      const failedRow = page.locator('table.sp-table tbody tr', { hasText: 'Second feed' });
      await failedRow.getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
      await page.getByText('Subscription deleted.').waitFor();
      expect((await api('GET', `/fhir/R4/Subscription/${failed.id}`)).status).toBe(404);
      expect((await api('GET', '/v1/subscriptions')).body.items.map((s: { id: string }) => s.id)).toEqual([sub.id]);
      await expectNoLeak(page, watch, markers);
      await context.close();
    });

    it('fits a phone', async () => {
      const admin = await consoleUser(rig.h, ['admin']);
      const { context, page } = await newConsolePage(rig.browser, PHONE);
      await signInWithTotp(page, rig.base, admin, '/console/integrations/subscriptions');
      await page.getByTestId('subscription-status').first().waitFor();
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
      await expectAccessible(page, 'fhir subscriptions (phone)');
      await shoot(page, 'console-integrations-phone');
      await context.close();
    });

    it('keeps the screen from an auditor, and the server refuses them too', async () => {
      const auditor = await consoleUser(rig.h, ['auditor']);
      const { context, page } = await newConsolePage(rig.browser, DESKTOP);
      await signInWithTotp(page, rig.base, auditor);
      expect(await page.getByRole('link', { name: 'Integrations', exact: true }).count()).toBe(0);
      await page.goto(`${rig.base}/console/integrations/hl7-errors`);
      await page.getByRole('heading', { name: 'There is no such page' }).waitFor();
      const statuses = await page.evaluate(async () =>
        Promise.all(
          ['/v1/hl7/errors', '/v1/hl7/senders', '/v1/subscriptions', '/fhir/R4/Subscription'].map(
            async (p) => (await fetch(p)).status,
          ),
        ),
      );
      expect(statuses).toEqual([403, 403, 403, 403]);
      await context.close();
    });
  });
