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
import { createTestDatabase, describeEachBrowserBackend, type TestDatabase } from '../helpers/backends.js';

/**
 * The Patients screen in Debian Chromium: lookup by identifier (typed here, never in the URL), contact
 * points masked until a reveal that the server checks and audits, the care team, consents and
 * preferences, erasure after a typed confirmation with its proof checked in the browser; the role
 * rules; no PHI in URLs, storage or the console.
 */
describeEachBrowserBackend('console: patients in a real browser', (backend) => {
  const tag = randomBytes(4).toString('hex');
  const MARK = `Zyx-PHI-${tag}`;
  const SYSTEM = 'urn:mrn';
  const MRN = `${MARK}-mrn`;
  const GONE_MRN = `${MARK}-gone`;
  const PHONE_NO = '+14155550123';
  const MINE = `cp-mine-${tag}`;
  const GONE = `cp-gone-${tag}`;
  let rig: ConsoleRig;
  let db: TestDatabase;
  let admin: ConsolePerson, nurse: ConsolePerson, physician: ConsolePerson;
  const markers = [MARK, MRN, GONE_MRN, PHONE_NO, '5550123'];
  const api = (method: string, path: string, body?: unknown) => rig.h.request(method, path, body);
  const patient = (mrn: string) =>
    samplePatient({
      name: { given: [MARK], family: 'Lopez' },
      telecom: [
        { system: 'sms', value: PHONE_NO, rank: 1 },
        { system: 'email', value: `${MARK.toLowerCase()}@example.com`, rank: 2 },
      ],
      identifiers: [{ system: SYSTEM, value: mrn }],
    });

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    rig = await startConsole(db.env);
    expect((await api('PUT', `/v1/patients/${MINE}`, patient(MRN))).status).toBe(201);
    expect((await api('PUT', `/v1/patients/${GONE}`, patient(GONE_MRN))).status).toBe(201);
    [admin, nurse, physician] = await Promise.all([
      consoleUser(rig.h, ['admin']),
      consoleUser(rig.h, ['nurse']),
      consoleUser(rig.h, ['physician']),
    ]);
  }, 180_000);

  afterAll(async () => {
    await rig?.close();
    await db?.drop();
  }, 120_000);

  const find = async (page: Page, value: string) => {
    await page.getByLabel('Identifier system').fill(SYSTEM);
    await page.getByLabel('Identifier', { exact: true }).fill(value);
    await page.getByRole('button', { name: 'Find' }).click();
  };
  const team = async () =>
    ((await api('GET', `/v1/patients/${MINE}/care-team`)).body.items as { userId: string }[]).map((m) => m.userId);

  it('an administrator puts a nurse on the care team, then erases another patient after typing its id, and sees the proof', async () => {
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(page, rig.base, admin, '/console/patients');
    await page.getByRole('heading', { name: 'Patients', level: 1 }).waitFor();
    await find(page, MRN);
    await page.getByRole('heading', { name: 'Care team' }).waitFor();
    // No patient.read: no contact points, consents or preferences for administrators.
    expect(await page.getByRole('heading', { name: 'Contact points' }).count()).toBe(0);
    await page.getByText('Nobody is on the care team.').waitFor();
    await page.getByLabel('Add a physician or nurse').selectOption(nurse.userId);
    await page.getByRole('button', { name: 'Add to the care team' }).click();
    await page.locator('table.sp-table', { hasText: nurse.displayName }).waitFor();
    expect(await team()).toEqual([nurse.userId]);
    await expectAccessible(page, 'patient for an administrator');
    await shoot(page, 'console-patients');

    await find(page, GONE_MRN);
    await page.getByRole('button', { name: 'Erase this patient…' }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.getByLabel(/Type the patient id/).fill('not-the-id');
    await dialog.getByRole('button', { name: 'Erase' }).click();
    await dialog.locator('.sp-problem[data-code="SP_CONSOLE_CONFIRMATION"]').waitFor();
    expect((await api('GET', `/v1/patients/${GONE}`)).status).toBe(200);
    await expectAccessible(page, 'erasure confirmation');
    await dialog.getByLabel(/Type the patient id/).fill(GONE);
    await dialog.getByRole('button', { name: 'Erase' }).click();
    await page.getByTestId('erasure-proof').getByText('Checked here: included').waitFor();
    const gone = await api('GET', `/v1/patients/${GONE}`);
    expect(gone.status).toBe(410);
    expect(gone.body.code).toBe('SP_PATIENT_ERASED');
    const erasedEntries = () => api('GET', `/v1/audit/events?action=patient.erased&actor=user:${admin.userId}`);
    await expect.poll(async () => (await erasedEntries()).body.items.length, { timeout: 15_000 }).toBe(1);
    const entries = await erasedEntries();
    expect(await page.getByTestId('erasure-proof').textContent()).toContain(`#${entries.body.items[0].index}`);
    await expectAccessible(page, 'erasure proof');
    await expectNoLeak(page, watch, markers);
    await context.close();
  });

  it('a nurse on the care team sees contact points masked, reveals one (on the audit log) and records a consent', async () => {
    if (!(await team()).includes(nurse.userId))
      expect((await api('PUT', `/v1/patients/${MINE}/care-team/${nurse.userId}`)).status).toBe(201);
    const { context, page, watch } = await newConsolePage(rig.browser, PHONE);
    await signInWithTotp(page, rig.base, nurse, '/console/patients');
    await find(page, MRN);
    const contacts = page.locator('table.sp-table').first();
    await contacts.getByText('+1 415 ••• ••23').waitFor();
    expect(await page.locator('main').textContent()).not.toContain(PHONE_NO);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await expectAccessible(page, 'patient on a phone');
    await page.getByRole('heading', { name: 'Contact points' }).scrollIntoViewIfNeeded();
    await page.evaluate(() => document.getElementById('sp-patients-found')?.scrollIntoView());
    await shoot(page, 'console-patients-phone');

    await page.getByRole('button', { name: 'Reveal Text message 1' }).click();
    await contacts.getByText(PHONE_NO).waitFor();
    const reveals = () => api('GET', '/v1/audit/events?action=patient.contact_point_revealed');
    await expect.poll(async () => (await reveals()).body.items.length, { timeout: 15_000 }).toBe(1);
    const revealed = await reveals();
    expect(revealed.body.items).toEqual([
      expect.objectContaining({
        actor: `user:${nurse.userId}`,
        target: expect.objectContaining({ type: 'contact_point' }),
      }),
    ]);
    expect(JSON.stringify(revealed.body)).not.toContain('5550123');

    // Consents: text messages for appointments, permitted by default, then denied from here.
    await page.getByRole('heading', { name: 'Preferences' }).waitFor();
    await page.getByRole('button', { name: 'Record a denial (Text message, Appointments)' }).click();
    await page.getByRole('button', { name: 'Record a permission (Text message, Appointments)' }).waitFor();
    const consents = await api('GET', `/v1/patients/${MINE}/consents`);
    const sms = consents.body.state.find(
      (c: { channel: string; purpose: string }) => c.channel === 'sms' && c.purpose === 'appointment',
    );
    expect(sms).toMatchObject({ decision: 'deny', source: 'staff' });
    await expectNoLeak(page, watch, markers);
    await context.close();
  });

  it('a physician without the relationship finds nothing, as for an unknown identifier, and changes nothing', async () => {
    const before = (await api('GET', '/v1/audit/events?action=patient.contact_point_revealed')).body.items.length;
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(page, rig.base, physician, '/console/patients');
    // Outside the care team the lookup answers as for an unknown identifier: it tells nobody the MRN is held.
    await find(page, MRN);
    await page.locator('.sp-problem[data-code="SP_PATIENT_NOT_FOUND"]').waitFor();
    expect(await page.getByRole('heading', { name: 'Contact points' }).count()).toBe(0);
    await find(page, `${MARK}-unknown`);
    await page.locator('.sp-problem[data-code="SP_PATIENT_NOT_FOUND"]').waitFor();
    // Straight at the API, from this page: the reveal is refused too.
    const cp = (await api('GET', `/v1/patients/${MINE}/contact-points`)).body.items[0].id;
    const status = await page.evaluate(
      async ([id, c]) => (await fetch(`/v1/patients/${id}/contact-points/${c}/reveal`, { method: 'POST' })).status,
      [MINE, cp],
    );
    expect(status).toBe(403);
    expect((await api('GET', '/v1/audit/events?action=patient.contact_point_revealed')).body.items.length).toBe(before);
    await expectAccessible(page, 'refused lookup');
    await expectNoLeak(page, watch, markers);
    await context.close();
  });
});
