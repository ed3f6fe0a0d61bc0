import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import {
  consoleUser,
  expectAccessible,
  expectNoLeak,
  newConsolePage,
  PHONE,
  shoot,
  signInWithTotp,
  startConsole,
  type ConsoleRig,
  type ConsolePerson,
} from '../helpers/console-browser.js';
import { BROWSER_BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { samplePatient } from '../helpers/sealpost-harness.js';

/**
 * The README's alerting walkthrough from the alerts screen, in Debian Chromium on each backend: an
 * administrator sets a nurse's SMS contact, assigns charge_nurse@4-west to a schedule and creates a
 * group; an alert to charge_nurse@4-west then reaches the nurse's phone (dev outbox). Shift swaps and
 * the iCalendar download; bad input shows the API's error and changes nothing; a nurse sees the units
 * and groups with names but can change none of it, nor anyone's contacts.
 */
describe.each(BROWSER_BACKENDS)('the alerts screen: contacts, units, groups, swaps (%s)', (backend) => {
  let rig: ConsoleRig;
  let db: TestDatabase;
  let admin: ConsolePerson, nurse: ConsolePerson, nurse2: ConsolePerson;
  let chargeId: string, swapId: string;
  const marker = `Zyx-PHI-${randomBytes(4).toString('hex')}`;
  const patientId = `p-${randomBytes(4).toString('hex')}`;
  const NURSE_PHONE = '+14155550131';
  const api = (method: string, path: string, body?: unknown) => rig.h.request(method, path, body);
  const fromPage = (page: Page, method: string, path: string, body?: unknown) =>
    page.evaluate(
      async ([m, p, b]) => {
        const r = await fetch(p as string, {
          method: m as string,
          headers: b === undefined ? {} : { 'content-type': 'application/json' },
          body: b === undefined ? undefined : JSON.stringify(b),
        });
        return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
      },
      [method, path, body] as const,
    );
  const signedIn = async (who: ConsolePerson, path: string, viewport = { width: 1280, height: 800 }) => {
    const { context, page, watch } = await newConsolePage(rig.browser, viewport);
    await signInWithTotp(page, rig.base, who, path);
    return { context, page, watch };
  };
  const schedule = async (name: string, userIds: string[], startDate: string) => {
    const r = await api('POST', '/v1/schedules', {
      name,
      timeZone: 'UTC',
      layers: [{ userIds, kind: 'daily', handoffTime: '07:00', startDate }],
    });
    expect(r.status).toBe(201);
    return r.body.id as string;
  };

  beforeAll(async () => {
    db = await createTestDatabase(backend, 'sealpost-console-oncall-');
    rig = await startConsole({ ...db.env, SEALPOST_QUIET_HOURS: 'off' });
    [admin, nurse, nurse2] = await Promise.all([
      consoleUser(rig.h, ['admin']),
      consoleUser(rig.h, ['nurse']),
      consoleUser(rig.h, ['nurse']),
    ]);
    chargeId = await schedule('4-west charge nurse', [nurse.userId], '2026-01-01');
    swapId = await schedule('4-west swaps', [nurse.userId, nurse2.userId], '2027-03-01');
    const patient = samplePatient({ name: { given: [marker], family: marker } });
    expect((await api('PUT', `/v1/patients/${patientId}`, patient)).status).toBe(201);
  }, 180_000);
  afterAll(async () => {
    await rig?.close();
    await db?.drop();
  });

  it("sets a nurse's SMS contact; a bad number shows the API's error and changes nothing", async () => {
    const { context, page, watch } = await signedIn(admin, '/console/alerts/contacts');
    await page.getByRole('heading', { name: 'Staff alert contacts', level: 1 }).waitFor();
    await page.getByLabel('Staff user id').fill(nurse.userId);
    await page.getByRole('button', { name: 'Show contacts' }).click();
    await page.getByRole('heading', { name: `Contacts of ${nurse.displayName}` }).waitFor();
    await page.getByText('No contact method: alerts cannot reach this person.').waitFor();
    await page.getByRole('button', { name: 'Add a method' }).click();
    await page.getByLabel('Method 1').selectOption('sms');
    await page.getByLabel('Address 1').fill(NURSE_PHONE);
    await page.getByRole('button', { name: 'Save contacts' }).click();
    await page.getByRole('status').filter({ hasText: 'Contacts saved.' }).waitFor();
    const saved = await api('GET', `/v1/users/${nurse.userId}/alert-contacts`);
    expect(saved.body.contacts).toEqual([{ kind: 'sms', value: NURSE_PHONE }]);
    await expectAccessible(page, 'staff contacts');
    await shoot(page, 'console-alerts-contacts');
    // A second method that is no phone number: refused, the first one stays.
    await page.getByRole('button', { name: 'Add a method' }).click();
    await page.getByLabel('Address 2').fill('not a phone');
    await page.getByRole('button', { name: 'Save contacts' }).click();
    await page.locator('[data-code="SP_ALERT_CONTACT_INVALID"]').waitFor();
    expect((await api('GET', `/v1/users/${nurse.userId}/alert-contacts`)).body.contacts).toEqual(saved.body.contacts);
    // An unknown person: the API's refusal.
    await page.getByLabel('Staff user id').fill('no-such-user');
    await page.getByRole('button', { name: 'Show contacts' }).click();
    await page.locator('.sp-problem[data-code]').waitFor();
    await expectNoLeak(page, watch, [marker, NURSE_PHONE]);
    await context.close();
  });

  it('assigns charge_nurse@4-west to a schedule and creates a group; an alert to the role reaches the nurse', async () => {
    const { context, page, watch } = await signedIn(admin, '/console/alerts/units');
    await page.getByRole('heading', { name: 'Unit roles', level: 1 }).waitFor();
    await page.getByText('No role is assigned yet.').waitFor();
    // A role name the API refuses: its error, and nothing assigned.
    await page.getByLabel('Unit (e.g. 4-west)').fill('4-west');
    await page.getByLabel('Role (e.g. charge_nurse)').fill('Charge Nurse');
    await page.getByLabel('On-call schedule').selectOption(chargeId);
    await page.getByRole('button', { name: 'Assign', exact: true }).click();
    await page.locator('.sp-problem[data-code]').waitFor();
    expect((await api('GET', '/v1/units')).body.items).toEqual([]);
    await page.getByLabel('Role (e.g. charge_nurse)').fill('charge_nurse');
    await page.getByRole('button', { name: 'Assign', exact: true }).click();
    await page.getByRole('cell', { name: 'charge_nurse@4-west', exact: true }).waitFor();
    await page.getByRole('cell', { name: '4-west charge nurse', exact: true }).waitFor();
    const role = await api('GET', '/v1/units/4-west/roles/charge_nurse');
    expect(role.body).toMatchObject({ scheduleId: chargeId, userIds: [] });

    // A group: an empty name is refused, then created with the nurse, then given a second member.
    await page.getByLabel('Members (staff user ids, comma-separated)').fill(nurse.userId);
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.locator('.sp-problem[data-code]').waitFor();
    expect((await api('GET', '/v1/groups')).body.items).toEqual([]);
    await page.getByLabel('Name', { exact: true }).fill('Rapid response 4-west');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.getByRole('cell', { name: 'Rapid response 4-west', exact: true }).waitFor();
    await page.getByRole('cell', { name: nurse.displayName, exact: true }).waitFor();
    await page.getByRole('button', { name: 'Edit Rapid response 4-west' }).click();
    await page.getByLabel('Members (staff user ids, comma-separated)').fill(`${nurse.userId}, ${nurse2.userId}`);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('cell', { name: `${nurse.displayName}, ${nurse2.displayName}` }).waitFor();
    const groups = (await api('GET', '/v1/groups')).body.items;
    expect(groups.map((g: { name: string; memberIds: string[] }) => [g.name, g.memberIds])).toEqual([
      ['Rapid response 4-west', [nurse.userId, nurse2.userId]],
    ]);
    await expectAccessible(page, 'units and groups');
    await page.evaluate(() => window.scrollTo(0, 0));
    await shoot(page, 'console-alerts-units');

    // The README's alert, with the bootstrap API key: the on-call charge nurse's phone gets it.
    const alert = await api('POST', '/v1/alerts', {
      priority: 'high',
      target: 'charge_nurse@4-west',
      patientId,
      summary: 'Bed 12 SpO2 low',
      details: `SpO2 84 for ${marker}`,
    });
    expect(alert.status).toBe(201);
    const alertId = alert.body.alertId as string;
    await expect
      .poll(
        async () =>
          ((await api('GET', '/v1/dev/outbox')).body.items as { channel: string; recipient: string; body: string }[])
            .filter((m) => m.channel === 'sms' && m.body.includes(alertId))
            .map((m) => m.recipient),
        { timeout: 60_000 },
      )
      .toEqual([NURSE_PHONE]);

    // The group goes, by the confirmation dialog; the server no longer has it.
    await page.getByRole('button', { name: 'Delete Rapid response 4-west' }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('No groups yet.').waitFor();
    expect((await api('GET', '/v1/groups')).body.items).toEqual([]);
    await expectNoLeak(page, watch, [marker, NURSE_PHONE]);
    await context.close();
  });

  it('swaps two shifts and downloads the iCalendar; a swap of a shift not theirs is refused', async () => {
    const { context, page, watch } = await signedIn(admin, `/console/alerts/schedules/${swapId}`);
    await page.getByRole('heading', { name: '4-west swaps', level: 1 }).waitFor();
    const swap = page.getByRole('form', { name: 'Swap shifts' });
    const fillHalf = async (half: 'A' | 'B', userId: string, start: string, end: string) => {
      const set = swap.getByRole('group', { name: new RegExp(`^Person ${half}`) });
      await set.getByLabel('Staff user id').fill(userId);
      await set.getByLabel('Start').fill(start);
      await set.getByLabel('End').fill(end);
    };
    // Backwards: nurse2 does not hold 1 March, so the API refuses and nothing is added.
    await fillHalf('A', nurse2.userId, '2027-03-01T07:00', '2027-03-02T07:00');
    await fillHalf('B', nurse.userId, '2027-03-02T07:00', '2027-03-03T07:00');
    await swap.getByRole('button', { name: 'Swap' }).click();
    await swap.locator('[data-code="SP_SCHEDULE_SWAP_MISMATCH"]').waitFor();
    const range = 'from=2027-03-01T00:00:00Z&to=2027-03-05T00:00:00Z';
    expect((await api('GET', `/v1/schedules/${swapId}/overrides?${range}`)).body.items).toEqual([]);
    await fillHalf('A', nurse.userId, '2027-03-01T07:00', '2027-03-02T07:00');
    await fillHalf('B', nurse2.userId, '2027-03-02T07:00', '2027-03-03T07:00');
    await swap.getByRole('button', { name: 'Swap' }).click();
    await swap.getByRole('status').filter({ hasText: 'The shifts are swapped.' }).waitFor();
    const ovr = (await api('GET', `/v1/schedules/${swapId}/overrides?${range}`)).body.items;
    expect(ovr.map((o: { userId: string; start: string }) => [o.userId, o.start])).toEqual([
      [nurse2.userId, '2027-03-01T07:00:00.000Z'],
      [nurse.userId, '2027-03-02T07:00:00.000Z'],
    ]);
    await expectAccessible(page, 'schedule with swaps');
    // The download link: iCalendar of the shown range, for this person's session.
    const href = await page.getByRole('link', { name: 'Download these shifts (iCalendar)' }).getAttribute('href');
    expect(href).toMatch(new RegExp(`^/v1/schedules/${swapId}/calendar\\.ics\\?from=`));
    const ics = await fromPage(page, 'GET', href!);
    expect([ics.status, ics.type]).toEqual([200, 'text/calendar; charset=utf-8']);
    expect(ics.text).toContain('BEGIN:VCALENDAR');
    expect(ics.text).not.toContain(marker);
    await expectNoLeak(page, watch, [marker, NURSE_PHONE]);
    await context.close();
  });

  it('shows a nurse the units and groups with names, read-only; no contacts; the server refuses anyway', async () => {
    expect((await api('POST', '/v1/groups', { name: 'Night float', memberIds: [nurse2.userId] })).status).toBe(201);
    const { context, page, watch } = await signedIn(nurse, '/console/alerts/units', PHONE);
    // On a phone the tables are cards.
    await page.getByText('charge_nurse@4-west', { exact: true }).first().waitFor();
    // Names through the messaging directory (a nurse has no user.manage).
    await page.getByText(nurse2.displayName).first().waitFor();
    expect(await page.getByRole('button', { name: 'Assign', exact: true }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Remove / }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Delete / }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Staff contacts' }).count()).toBe(0);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await expectAccessible(page, 'units as a nurse on a phone');
    await shoot(page, 'console-alerts-units-phone');
    await page.goto(`${rig.base}/console/alerts/contacts`);
    await page.waitForURL(/\/console\/alerts\/open$/);
    const put = await fromPage(page, 'PUT', '/v1/units/4-west/roles/charge_nurse', { userIds: [nurse.userId] });
    expect(put.status).toBe(403);
    const contacts = await fromPage(page, 'PUT', `/v1/users/${nurse2.userId}/alert-contacts`, {
      contacts: [{ kind: 'sms', value: '+14155550199' }],
    });
    expect(contacts.status).toBe(403);
    expect((await fromPage(page, 'GET', `/v1/users/${nurse2.userId}/alert-contacts`)).status).toBe(403);
    expect((await api('GET', '/v1/units/4-west/roles/charge_nurse')).body.scheduleId).toBe(chargeId);
    // No swap form for a nurse, but the iCalendar download.
    await page.goto(`${rig.base}/console/alerts/schedules/${swapId}`);
    await page.getByRole('link', { name: 'Download these shifts (iCalendar)' }).waitFor();
    expect(await page.getByRole('form', { name: 'Swap shifts' }).count()).toBe(0);
    await expectNoLeak(page, watch, [marker, NURSE_PHONE]);
    await context.close();
  });
});
