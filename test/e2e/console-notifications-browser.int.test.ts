import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
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
  type ConsolePerson,
  type ConsoleRig,
} from '../helpers/console-browser.js';
import { samplePatient } from '../helpers/sealpost-harness.js';
import {
  createTestDatabase,
  describeEachBrowserBackend,
  numberAuditEntries,
  type TestDatabase,
} from '../helpers/backends.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';

/**
 * The Notifications screen in Debian Chromium: search by patient (an identifier typed here, resolved
 * through the API), type, status and day; a notification's deliveries, audit trail, proof and its
 * content on request (audited); cancel; the role rules (a receptionist sees reminders, never
 * results; a physician outside the care team is refused); no PHI in URLs, storage or the console.
 */
describeEachBrowserBackend('console: notifications in a real browser', (backend) => {
  const tag = randomBytes(4).toString('hex');
  const MARK = `Zyx-PHI-${tag}`;
  const MRN = { system: 'urn:mrn', value: `${MARK}-mrn` };
  const MINE = `cn-mine-${tag}`;
  const OTHER = `cn-other-${tag}`;
  const LAB = `${MARK}-lipids`;
  const later = new Date(Date.now() + 30 * 86_400_000).toISOString();
  let rig: ConsoleRig;
  let db: TestDatabase;
  let nurse: ConsolePerson, receptionist: ConsolePerson, physician: ConsolePerson;
  const ids: Record<string, string> = {};
  const markers = [MARK, MRN.value, LAB, '5552671'];
  const api = (method: string, path: string, body?: unknown) => rig.h.request(method, path, body);
  // PostgreSQL lists an audit entry once numbered: number every committed one before looking.
  const settle = () => numberAuditEntries(rig.h.app.store as KyselyStore);

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    rig = await startConsole(db.env);
    const patient = samplePatient({ name: { given: [MARK], family: 'Lopez' }, identifiers: [MRN] });
    expect((await api('PUT', `/v1/patients/${MINE}`, patient)).status).toBe(201);
    expect((await api('PUT', `/v1/patients/${OTHER}`, samplePatient())).status).toBe(201);
    [nurse, receptionist, physician] = await Promise.all([
      consoleUser(rig.h, ['nurse']),
      consoleUser(rig.h, ['receptionist']),
      consoleUser(rig.h, ['physician']),
    ]);
    expect((await api('PUT', `/v1/patients/${MINE}/care-team/${nurse.userId}`)).status).toBe(201);
    const send = async (k: string, body: Record<string, unknown>) => {
      const r = await api('POST', '/v1/notifications', body);
      expect(r.status).toBe(202);
      ids[k] = r.body.id;
    };
    await send('reminder', {
      type: 'appointment_reminder',
      patientId: MINE,
      data: { start: later, location: 'Clinic A' },
    });
    await send('result', { type: 'test_result_ready', patientId: MINE, data: { testName: LAB }, sendAt: later });
    await send('other', {
      type: 'appointment_reminder',
      patientId: OTHER,
      data: { start: later, location: 'Clinic B' },
    });
    await settle();
  }, 180_000);

  afterAll(async () => {
    await rig?.close();
    await db?.drop();
  }, 120_000);

  const rows = (page: Page) => page.locator('table.sp-table tbody tr');
  const findPatient = async (page: Page, value = MRN.value) => {
    await page.getByLabel('Identifier system').fill(MRN.system);
    await page.getByLabel('Identifier', { exact: true }).fill(value);
    await page.getByRole('button', { name: 'Find' }).click();
  };

  it("a nurse finds the care team's notifications by patient and type, opens one, reads its content (audited) and cancels it", async () => {
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(page, rig.base, nurse, '/console/notifications');
    await page.getByRole('heading', { name: 'Notifications', level: 1 }).waitFor();
    await expect.poll(() => rows(page).count(), { timeout: 15_000 }).toBe(2); // not the other patient's reminder
    await findPatient(page);
    await page.getByText(MINE).first().waitFor();
    await page.getByLabel('Type').selectOption('test_result_ready');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => rows(page).count(), { timeout: 15_000 }).toBe(1);
    expect(await rows(page).first().textContent()).toContain('Results ready');
    await expectAccessible(page, 'notifications search');
    await shoot(page, 'console-notifications');

    // A bad range: the API's error, and the list as it was.
    await page.getByLabel('From (day)').fill('2030-01-02');
    await page.getByLabel('To (day)').fill('2030-01-01');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('.sp-problem[data-code="SP_REQ_VALIDATION"]').waitFor();
    await page.getByLabel('From (day)').fill('');
    await page.getByLabel('To (day)').fill('');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => rows(page).count(), { timeout: 15_000 }).toBe(1);

    await rows(page).first().getByRole('link').click();
    await page.waitForURL(new RegExp(`/console/notifications/${ids.result}$`));
    await page.getByRole('heading', { name: 'Results ready', level: 1 }).waitFor();
    await page.getByRole('heading', { name: 'Timeline (audit entries)' }).waitFor();
    await page.locator('.sp-notifications-timeline li', { hasText: 'Created' }).waitFor();
    await page.getByText(/in a signed checkpoint|not yet in a checkpoint/).waitFor();
    expect(await page.getByText(LAB).count()).toBe(0);
    await page.getByRole('button', { name: 'Show content' }).click();
    await page.getByText(LAB).waitFor();
    const reads = () => api('GET', `/v1/audit/events?action=notification.proof_read&actor=user:${nurse.userId}`);
    await settle();
    // Two reads of the proof: without content on opening, with content on request (PHI).
    expect((await reads()).body.items.map((e: { details: { content: boolean } }) => e.details.content)).toEqual([
      false,
      true,
    ]);
    await expectAccessible(page, 'notification detail');

    // Back to the search as it was (kept in memory, not in the URL), then into the notification again.
    await page.getByRole('link', { name: 'Back to the search' }).click();
    await expect.poll(() => rows(page).count(), { timeout: 15_000 }).toBe(1);
    await rows(page).first().getByRole('link').click();
    await page.getByRole('heading', { name: 'Results ready', level: 1 }).waitFor();

    await page.getByRole('button', { name: 'Cancel pending deliveries' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Cancel deliveries' }).click();
    await page.locator('.sp-notifications-facts .sp-badge', { hasText: 'Cancelled' }).first().waitFor();
    expect((await api('GET', `/v1/notifications/${ids.result}`)).body.status).toBe('cancelled');
    expect(await page.getByRole('button', { name: 'Cancel pending deliveries' }).count()).toBe(0);
    await settle();
    await page.reload();
    await page.locator('.sp-notifications-timeline li', { hasText: 'Cancelled' }).waitFor();
    await expectNoLeak(page, watch, markers);
    await context.close();
  });

  it('a receptionist sees appointment reminders but never results, in the list or by address', async () => {
    const { context, page, watch } = await newConsolePage(rig.browser, PHONE);
    await signInWithTotp(page, rig.base, receptionist, '/console/notifications');
    await expect.poll(() => rows(page).count(), { timeout: 15_000 }).toBe(2);
    const text = await page.locator('table.sp-table').textContent();
    expect(text).toContain('Appointment reminder');
    expect(text).not.toContain('Results ready');
    const options = await page.getByLabel('Type').locator('option').allTextContents();
    expect(options).toEqual(['Any type', 'Appointment reminder']);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await expectAccessible(page, 'notifications on a phone');
    await page.getByRole('heading', { name: 'Notifications found' }).evaluate((h) => h.scrollIntoView());
    await shoot(page, 'console-notifications-phone');

    await page.goto(`${rig.base}/console/notifications/${ids.result}`);
    await page.locator('.sp-problem[data-code="SP_AUTH_FORBIDDEN"]').waitFor();
    expect(await page.getByRole('button', { name: 'Show content' }).count()).toBe(0);
    expect(await page.getByText(LAB).count()).toBe(0);
    // The reminder opens, without the proof and its content (no proof.read for receptionists).
    await page.goto(`${rig.base}/console/notifications/${ids.reminder}`);
    await page.getByRole('heading', { name: 'Appointment reminder', level: 1 }).waitFor();
    expect(await page.getByRole('heading', { name: 'Proof' }).count()).toBe(0);
    await expectNoLeak(page, watch, markers);
    await context.close();
  });

  it('a physician outside the care team does not find the patient and sees none of their notifications', async () => {
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(page, rig.base, physician, '/console/notifications');
    await page.getByText('No notification matches.').waitFor();
    // Looking the patient up answers as for an unknown identifier (no 403 confirms the MRN is held).
    await findPatient(page);
    await page.locator('.sp-problem[data-code="SP_PATIENT_NOT_FOUND"]').waitFor();
    await page.goto(`${rig.base}/console/notifications/${ids.reminder}`);
    await page.locator('.sp-problem[data-code="SP_AUTH_NO_RELATIONSHIP"]').waitFor();
    await expectAccessible(page, 'refused notification');
    await expectNoLeak(page, watch, markers);
    await context.close();
  });
});
