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
  type PageWatch,
} from '../helpers/console-browser.js';
import { BROWSER_BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { samplePatient } from '../helpers/sealpost-harness.js';
import { clientCert } from '../helpers/transport-pki.js';

/**
 * The alerts and on-call screen in Debian Chromium, on each backend: open alerts answered from the
 * console (acknowledge, decline, forward, resolve) and seen changed through the API; escalation
 * policies and schedules edited, with the server's refusals shown and nothing changed; the on-call
 * calendar across both DST changes of New York as the server computes them; devices registered,
 * changed and removed; the role rules; no PHI in the address bar, storage or console.
 */
describe.each(BROWSER_BACKENDS)('the alerts and on-call screen (%s)', (backend) => {
  let rig: ConsoleRig;
  let db: TestDatabase;
  let admin: ConsolePerson, nurse: ConsolePerson, auditor: ConsolePerson;
  let nurse2Id: string;
  const marker = `Zyx-PHI-${randomBytes(4).toString('hex')}`;
  const patientId = `p-${randomBytes(4).toString('hex')}`;
  const api = (method: string, path: string, body?: unknown) => rig.h.request(method, path, body);
  /** A fetch from the page: the signed-in person's cookie, as the console's own calls. */
  const fromPage = (page: Page, method: string, path: string, body?: unknown) =>
    page.evaluate(
      async ([m, p, b]) => {
        const r = await fetch(p as string, {
          method: m as string,
          headers: b === undefined ? {} : { 'content-type': 'application/json' },
          body: b === undefined ? undefined : JSON.stringify(b),
        });
        return { status: r.status, body: await r.json().catch(() => null) };
      },
      [method, path, body] as const,
    );
  const trigger = async (summary: string) => {
    // alert.trigger with an API key, as an EHR or a monitor gateway raises one.
    const r = await api('POST', '/v1/alerts', {
      priority: 'medium',
      target: `user:${nurse.userId}`,
      patientId,
      summary,
      details: `SpO2 84 for ${marker}`,
    });
    expect(r.status).toBe(201);
    return r.body.alertId as string;
  };
  const signedIn = async (who: ConsolePerson, path: string, viewport = { width: 1280, height: 800 }) => {
    const { context, page, watch } = await newConsolePage(rig.browser, viewport);
    await signInWithTotp(page, rig.base, who, path);
    return { context, page, watch };
  };

  beforeAll(async () => {
    db = await createTestDatabase(backend, 'sealpost-console-alerts-');
    rig = await startConsole({ ...db.env, SEALPOST_QUIET_HOURS: 'off' });
    [admin, nurse, auditor] = await Promise.all([
      consoleUser(rig.h, ['admin']),
      consoleUser(rig.h, ['nurse']),
      consoleUser(rig.h, ['auditor']),
    ]);
    nurse2Id = (await consoleUser(rig.h, ['nurse'])).userId;
    for (const [id, phone] of [
      [nurse.userId, '+14155550121'],
      [nurse2Id, '+14155550122'],
    ])
      expect(
        (
          await api('PUT', `/v1/users/${id}/alert-contacts`, {
            contacts: [{ kind: 'sms', value: phone }],
            settings: { language: 'en', timeZone: 'UTC', quietHours: null, doNotDisturbUntil: null },
          })
        ).status,
      ).toBe(200);
    const patient = samplePatient({ name: { given: [marker], family: marker } });
    expect((await api('PUT', `/v1/patients/${patientId}`, patient)).status).toBe(201);
  }, 180_000);
  afterAll(async () => {
    await rig?.close();
    await db?.drop();
  });

  it('lets a nurse acknowledge an alert raised through the API, and the API sees it acknowledged', async () => {
    const id = await trigger('Bed 12 SpO2 below 88');
    const { context, page, watch } = await signedIn(nurse, '/console/alerts');
    await page.waitForURL(/\/console\/alerts\/open$/);
    const link = page.getByRole('link', { name: 'Bed 12 SpO2 below 88' });
    await link.waitFor();
    await expectAccessible(page, 'open alerts');
    await shoot(page, 'console-alerts');
    // By keyboard: the summary link, then the Acknowledge button.
    await link.focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`/console/alerts/open/${id}$`));
    // The nurse was told of the alert: the API shows the details (and audits that read).
    await page.getByText(`SpO2 84 for ${marker}`).waitFor();
    await expectAccessible(page, 'alert detail');
    await page.getByRole('button', { name: 'Acknowledge' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: 'You acknowledged this alert.' }).waitFor();
    await expect.poll(() => page.getByTestId('alert-state').textContent()).toBe('Acknowledged');
    const after = await api('GET', `/v1/alerts/${id}`);
    expect(after.body.state).toBe('acknowledged');
    expect(after.body.acknowledgedBy).toBe(nurse.userId);
    expect(after.body.timeline.map((e: { kind: string }) => e.kind)).toContain('acknowledged');
    await expectNoLeak(page, watch, [marker]);
    await context.close();
  });

  it('forwards an alert to a group, declines and resolves it, each change on the server', async () => {
    const group = await api('POST', '/v1/groups', { name: 'Rapid response', memberIds: [nurse2Id] });
    expect(group.status).toBe(201);
    const id = await trigger('Bed 7 heart rate above 140');
    const { context, page, watch } = await signedIn(nurse, `/console/alerts/open/${id}`);
    await page.getByRole('radio', { name: 'A group' }).check();
    await page.getByLabel('Group', { exact: true }).selectOption(group.body.id);
    await page.getByRole('button', { name: 'Forward', exact: true }).click();
    await page.getByText('The alert was forwarded.').waitFor();
    const fwd = (await api('GET', `/v1/alerts/${id}`)).body;
    const forwarded = fwd.timeline.find((e: { kind: string }) => e.kind === 'forwarded');
    expect(forwarded.data.target).toBe(`group:${group.body.id}`);
    expect(forwarded.data.recipients).toEqual([nurse2Id]);
    // A person id that names nobody: the API's refusal is shown, the timeline does not grow.
    await page.getByRole('radio', { name: 'A person' }).check();
    await page.getByLabel('Staff user id').fill('u-nobody-here');
    await page.getByRole('button', { name: 'Forward', exact: true }).click();
    await page.locator('[data-code="SP_ALERT_TARGET_NOT_FOUND"]').waitFor();
    expect((await api('GET', `/v1/alerts/${id}`)).body.timeline).toHaveLength(fwd.timeline.length);

    // Declined by its only recipient, an alert on the built-in policy (one step) has nobody left: it expires.
    await page.getByRole('button', { name: 'Decline (pass on)' }).click();
    await page.getByText('You passed this alert on.').waitFor();
    await expect.poll(() => page.getByTestId('alert-state').textContent()).toBe('Expired');
    const declined = (await api('GET', `/v1/alerts/${id}`)).body;
    expect(declined.state).toBe('expired');
    expect(declined.timeline.map((e: { kind: string }) => e.kind)).toContain('declined');
    expect(await page.getByRole('button', { name: 'Acknowledge' }).count()).toBe(0);

    // The acknowledged alert of the test before: resolved after a confirmation.
    const [ack] = (await api('GET', '/v1/alerts?state=acknowledged')).body.items;
    await page.goto(`${rig.base}/console/alerts/open/${ack.id}`);
    await page.getByRole('button', { name: 'Resolve' }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor();
    await expectAccessible(page, 'resolve dialog');
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => page.getByTestId('alert-state').textContent()).toBe('Resolved');
    expect((await api('GET', `/v1/alerts/${ack.id}`)).body.state).toBe('resolved');
    expect(await page.getByRole('button', { name: 'Resolve' }).count()).toBe(0);
    await expectNoLeak(page, watch, [marker]);
    await context.close();
  });

  it('shows a nurse policies and schedules read-only, no devices; the server refuses the changes anyway', async () => {
    const { context, page, watch } = await signedIn(nurse, '/console/alerts/policies');
    await page.getByRole('heading', { name: 'Escalation policies', level: 1 }).waitFor();
    expect(await page.getByRole('link', { name: 'New policy' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Devices' }).count()).toBe(0);
    await page.getByRole('link', { name: 'Schedules' }).click();
    await page.getByRole('heading', { name: 'On-call schedules', level: 1 }).waitFor();
    expect(await page.getByRole('link', { name: 'New schedule' }).count()).toBe(0);
    await expectAccessible(page, 'schedules as a nurse');
    const policy = await fromPage(page, 'POST', '/v1/escalation-policies', {
      name: 'x',
      steps: [{ targets: ['target'], channels: ['sms'], waitSeconds: 60 }],
    });
    expect(policy.status).toBe(403);
    const schedule = await fromPage(page, 'POST', '/v1/schedules', { name: 'x', timeZone: 'UTC', layers: [] });
    expect(schedule.status).toBe(403);
    expect((await fromPage(page, 'GET', '/v1/medical-devices')).status).toBe(403);
    await expectNoLeak(page, watch, [marker]);
    await context.close();
  });

  it('lets an administrator create and edit an escalation policy; a bad target is refused and nothing is saved', async () => {
    const { context, page, watch } = await signedIn(admin, '/console/alerts/policies');
    await page.getByRole('link', { name: 'New policy' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Ward 4 nights');
    await page.getByLabel('Targets (comma-separated)').fill(`user:${nurse.userId}, user:u-nobody-here`);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('[data-code="SP_ALERT_TARGET_NOT_FOUND"]').waitFor();
    expect((await api('GET', '/v1/escalation-policies')).body.items).toHaveLength(0);
    await page.getByLabel('Targets (comma-separated)').fill(`user:${nurse.userId}`);
    await page.getByRole('checkbox', { name: 'E-mail' }).check();
    await page.getByRole('button', { name: 'Add a step' }).click();
    await page.getByLabel('Targets (comma-separated)').nth(1).fill(`user:${nurse2Id}`);
    await page.getByLabel('Wait before the next step (minutes)').nth(1).fill('30');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(/\/console\/alerts\/policies\/[^/]+$/);
    await page.getByRole('heading', { name: 'Ward 4 nights', level: 1 }).waitFor();
    await expectAccessible(page, 'policy editor');
    const created = (await api('GET', '/v1/escalation-policies')).body.items;
    expect(created).toHaveLength(1);
    expect(created[0].steps).toEqual([
      { targets: [`user:${nurse.userId}`], channels: ['sms', 'email'], waitSeconds: 300 },
      { targets: [`user:${nurse2Id}`], channels: ['sms'], waitSeconds: 1800 },
    ]);
    await expect.poll(() => page.getByLabel('Wait before the next step (minutes)').nth(1).inputValue()).toBe('30');
    await page.getByLabel('Wait before the next step (minutes)').first().fill('10');
    await page.getByLabel('Repeat (times)').first().fill('2');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    const edited = (await api('GET', `/v1/escalation-policies/${created[0].id}`)).body;
    expect(edited.steps[0]).toEqual({
      targets: [`user:${nurse.userId}`],
      channels: ['sms', 'email'],
      waitSeconds: 600,
      repeat: { times: 2, everySeconds: 120 },
    });
    // A rule set of its own for priority high.
    await page.getByRole('button', { name: 'Add a high-priority step' }).click();
    await page.getByLabel('Targets (comma-separated)').nth(2).fill(`user:${nurse.userId}, user:${nurse2Id}`);
    await page.getByRole('group', { name: 'High-priority step 1' }).getByRole('checkbox', { name: 'Pager' }).check();
    await page.getByRole('button', { name: 'Save' }).click();
    await expect
      .poll(async () => (await api('GET', `/v1/escalation-policies/${created[0].id}`)).body.highSteps)
      .toEqual([
        { targets: [`user:${nurse.userId}`, `user:${nurse2Id}`], channels: ['sms', 'paging'], waitSeconds: 300 },
      ]);
    // An administrator reads alerts (PHI-free) but answers none and sees no details.
    const id = await trigger('Bed 3 apnoea alarm');
    await page.goto(`${rig.base}/console/alerts/open/${id}`);
    await page.getByRole('heading', { name: 'Bed 3 apnoea alarm', level: 1 }).waitFor();
    expect(await page.getByRole('button', { name: 'Acknowledge' }).count()).toBe(0);
    expect(await page.getByText(marker).count()).toBe(0);
    await expectNoLeak(page, watch, [marker]);
    await context.close();
  });

  it("edits a schedule and shows the server's shifts across New York's DST changes", async () => {
    const { context, page, watch } = await signedIn(admin, '/console/alerts/schedules');
    await page.getByRole('link', { name: 'New schedule' }).click();
    await page.getByLabel('Name', { exact: true }).fill('ICU nights');
    await page.getByLabel('Time zone').fill('America/New_York');
    await page.getByLabel('People in order (staff user ids, comma-separated)').fill(`${nurse.userId}, ${nurse2Id}`);
    await page.getByLabel('Hand-off time (HH:MM)').fill('08:00');
    await page.getByLabel('First hand-off').fill('2026-03-01');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'ICU nights', exact: true, level: 1 }).waitFor();
    const id = new URL(page.url()).pathname.split('/').pop()!;
    const goTo = async (date: string) => {
      await page.getByLabel('Go to').fill(date);
      await page.getByText(/^Showing /).waitFor({ state: 'attached' });
    };
    const day = (date: string) => page.locator(`[data-testid="calendar"] > li[data-date="${date}"]`);

    // Spring forward: the shift handed off at 08:00 EST on Saturday 7 March ends at 08:00 EDT, 23 h later.
    await goTo('2026-03-08');
    await expect.poll(() => day('2026-03-07').textContent()).toMatch(/08:00 EST – Mar 8, 08:00 EDT \(23 h\)/);
    await expect.poll(() => day('2026-03-06').textContent()).toMatch(/\(24 h\)/);
    const q = 'from=2026-03-07T00:00:00Z&to=2026-03-09T00:00:00Z';
    const shifts = (await api('GET', `/v1/schedules/${id}/shifts?${q}`)).body.items;
    expect(shifts).toContainEqual(
      expect.objectContaining({ start: '2026-03-07T13:00:00.000Z', end: '2026-03-08T12:00:00.000Z' }),
    );
    await expectAccessible(page, 'schedule week');
    await page.locator('#cal-heading').evaluate((e) => e.scrollIntoView());
    await shoot(page, 'console-alerts-schedule');

    // An override typed in the schedule's zone (10:00–14:00 EST) reaches the API as that instant.
    const ovr = page.getByRole('region', { name: 'Overrides' });
    await ovr.getByLabel('Staff user id').fill(nurse2Id);
    await ovr.getByLabel('Start', { exact: true }).fill('2026-03-05T10:00');
    await ovr.getByLabel('End', { exact: true }).fill('2026-03-05T14:00');
    await page.getByRole('button', { name: 'Add override' }).click();
    await expect.poll(() => day('2026-03-05').textContent()).toContain('Override');
    const overrides = (
      await api('GET', `/v1/schedules/${id}/overrides?${'from=2026-03-01T00:00:00Z&to=2026-03-10T00:00:00Z'}`)
    ).body.items;
    expect(overrides).toEqual([
      expect.objectContaining({ userId: nurse2Id, start: '2026-03-05T15:00:00.000Z', end: '2026-03-05T19:00:00.000Z' }),
    ]);

    // A bad hand-off time: the API's code is shown and the schedule is unchanged.
    const handoff = page.getByLabel('Hand-off time (HH:MM)');
    await page.getByRole('link', { name: 'Edit layers' }).click();
    await expect.poll(() => handoff.inputValue()).toBe('08:00');
    await handoff.fill('8am');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('[data-code="SP_SCHEDULE_HANDOFF_INVALID"]').waitFor();
    expect((await api('GET', `/v1/schedules/${id}`)).body.layers[0].handoffTime).toBe('08:00');
    await page.getByLabel('Hand-off time (HH:MM)').fill('09:00');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'ICU nights', exact: true, level: 1 }).waitFor();
    expect((await api('GET', `/v1/schedules/${id}`)).body.layers[0].handoffTime).toBe('09:00');
    await goTo('2026-03-08');
    await expect.poll(() => day('2026-03-07').textContent()).toMatch(/09:00 EST – Mar 8, 09:00 EDT \(23 h\)/);

    // Fall back, in the month view: the shift of Saturday 31 October lasts 25 h.
    await page.getByRole('button', { name: 'Month' }).click();
    await goTo('2026-11-01');
    await expect.poll(() => day('2026-10-31').textContent()).toMatch(/09:00 EDT – Nov 1, 09:00 EST \(25 h\)/);
    await expectAccessible(page, 'schedule month');

    // A time window (weekends, 08:00–20:00): outside it the layer has nobody, and the calendar says so.
    await page.getByRole('link', { name: 'Edit layers' }).click();
    await expect.poll(() => handoff.inputValue()).toBe('09:00');
    await page.getByRole('button', { name: 'Add a time window' }).click();
    const window1 = page.getByRole('group', { name: 'Window 1' });
    await window1.getByRole('checkbox', { name: 'Sat' }).check();
    await window1.getByRole('checkbox', { name: 'Sun' }).check();
    await expectAccessible(page, 'schedule editor');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'ICU nights', exact: true, level: 1 }).waitFor();
    expect((await api('GET', `/v1/schedules/${id}`)).body.layers[0].restrictions).toEqual([
      { days: [6, 7], start: '08:00', end: '20:00' },
    ]);
    await page.getByText('Nobody on call').first().waitFor();
    await expectNoLeak(page, watch, [marker]);
    await context.close();
  });

  it('registers, changes and removes a medical device; a bad certificate is refused', async () => {
    const cert = await clientCert('mon-icu-3');
    const { context, page, watch } = await signedIn(admin, '/console/alerts/devices');
    await page.getByRole('heading', { name: 'Medical devices', level: 1 }).waitFor();
    await page.getByLabel('Device id').fill('mon-icu-3');
    await page.getByLabel('Client certificate (PEM)').fill('not a certificate');
    await page.getByLabel('Location (unit/bed)').fill('icu/3');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.locator('.sp-problem').waitFor();
    expect((await api('GET', '/v1/medical-devices')).body.items).toHaveLength(0);
    await page.getByLabel('Client certificate (PEM)').fill(cert.cert);
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByRole('cell', { name: 'mon-icu-3', exact: true }).waitFor();
    expect((await api('GET', '/v1/medical-devices/mon-icu-3')).body).toMatchObject({ location: 'icu/3', target: null });
    await expectAccessible(page, 'devices');
    await page.getByRole('button', { name: 'Change mon-icu-3' }).click();
    await page.getByLabel('Alarm target').fill('charge_nurse@icu');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'charge_nurse@icu', exact: true }).waitFor();
    expect((await api('GET', '/v1/medical-devices/mon-icu-3')).body.target).toBe('charge_nurse@icu');
    await page.getByRole('button', { name: 'Remove' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('No devices registered.').waitFor();
    expect((await api('GET', '/v1/medical-devices/mon-icu-3')).body.removedAt).not.toBeNull();
    await expectNoLeak(page, watch, [marker]);
    await context.close();
  });

  it('fits a phone, and shows an auditor nothing of it', async () => {
    const { context, page, watch } = await signedIn(nurse, '/console/alerts/open', PHONE);
    // Expired and resolved alerts are listed only on request.
    await page.getByRole('heading', { name: 'Open alerts', level: 1 }).waitFor();
    await page.locator('.sp-loading').waitFor({ state: 'detached' });
    expect(await page.getByRole('link', { name: 'Bed 7 heart rate above 140' }).count()).toBe(0);
    await page.getByRole('checkbox', { name: 'Show resolved and expired too' }).check();
    await page.getByRole('link', { name: 'Bed 7 heart rate above 140' }).waitFor();
    await page.getByRole('link', { name: 'Bed 12 SpO2 below 88' }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await expectAccessible(page, 'open alerts on a phone');
    await shoot(page, 'console-alerts-phone');
    await page.getByLabel('Language').selectOption('es');
    await page.getByRole('heading', { name: 'Alertas abiertas', level: 1 }).waitFor();
    await page.getByRole('checkbox', { name: 'Mostrar también resueltas y caducadas' }).waitFor();
    await expectAccessible(page, 'open alerts in Spanish');
    await expectNoLeak(page, watch, [marker]);
    await context.close();

    const a = await signedIn(auditor, '/console/');
    expect(await a.page.getByRole('link', { name: 'Alerts and on-call' }).count()).toBe(0);
    await a.page.goto(`${rig.base}/console/alerts`);
    await a.page.getByRole('heading', { name: 'There is no such page' }).waitFor();
    expect((await fromPage(a.page, 'GET', '/v1/alerts')).status).toBe(403);
    await a.context.close();
  });
});
