import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import {
  consoleUser,
  DESKTOP,
  expectAccessible,
  expectNoLeak,
  newConsolePage,
  shoot,
  signInWithTotp,
  startConsole,
  type ConsoleRig,
} from '../helpers/console-browser.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { samplePatient } from '../helpers/sample-patient.js';
import { verifyReportDir } from '../../src/audit/privacy/report-verify.js';

const tag = randomBytes(4).toString('hex');
/** Planted PHI: the flagged colleague's name. It must reach no URL, storage or console of the browser. */
const PHI = `Qvx-PHI-${tag}`;
const PATIENT = `pv-${tag}`;

/**
 * The Privacy screen in Debian Chromium: a privacy officer signs in with TOTP, flags a colleague as a
 * sensitive patient, and sees the alert the real monitor raised after a receptionist looked that
 * colleague up through the API; investigates it, adds a note, closes it as a policy reminder (each
 * step checked on the server), follows its evidence to the audit screen, creates and deletes a
 * suppression, and runs the breach report whose downloaded report.json verifies offline. A nurse
 * gets no Privacy screen and a 403 from the API. axe-core on every view; no PHI leaks.
 */
describe('the Privacy screen in a real browser', () => {
  let rig: ConsoleRig;
  let officerApi: TestPerson;
  let receptionist: TestPerson;
  const as = (p: TestPerson, method: string, path: string, body?: unknown) =>
    rig.h.request(method, path, body, p.headers);
  const tab = (page: Page, name: string) =>
    page.getByRole('navigation', { name: 'Privacy monitoring' }).getByRole('link', { name, exact: true }).click();

  beforeAll(async () => {
    // The monitor's own timer never fires during the test: the test runs it once the snooping is logged.
    rig = await startConsole({ SEALPOST_PRIVACY_MONITOR_INTERVAL_MS: '3600000' });
    officerApi = await staffWithSession(rig.h, ['privacy_officer']);
    receptionist = await staffWithSession(rig.h, ['receptionist']);
    expect(
      (await rig.h.request('PUT', `/v1/patients/${PATIENT}`, samplePatient({ name: { given: ['Ana'], family: PHI } })))
        .status,
    ).toBe(201);
  }, 120_000);
  afterAll(async () => rig?.close());

  it('lets a privacy officer flag a colleague, review the alert raised by their lookup, investigate, note and close it', async () => {
    const officer = await consoleUser(rig.h, ['privacy_officer']);
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(page, rig.base, officer, '/console/privacy');
    await page.waitForURL(/\/console\/privacy\/alerts$/);
    await page.getByRole('heading', { level: 1, name: 'Privacy alerts' }).waitFor();
    await page.getByText('No privacy alert.').waitFor();
    await expectAccessible(page, 'privacy/alerts (empty)');

    // The colleague is flagged as a staff member, by patient id typed in the form.
    await tab(page, 'Sensitive patients');
    await page.getByRole('heading', { level: 1, name: 'Sensitive patients' }).waitFor();
    await page.getByLabel('Patient id').fill(PATIENT);
    await page.getByLabel('Kind').selectOption('staff');
    await page.getByRole('button', { name: 'Flag patient' }).click();
    await page.getByText(/^Flagged as Staff member/).waitFor();
    const flagged = (await as(officerApi, 'GET', '/v1/privacy/sensitive-patients')).body.items as any[];
    expect(flagged).toEqual([expect.objectContaining({ kind: 'staff' })]);
    await page.getByRole('cell', { name: flagged[0].patientRef }).waitFor();
    await expectAccessible(page, 'privacy/sensitive');

    // A receptionist looks the colleague up through the API; the real monitor reads the log.
    expect((await as(receptionist, 'GET', `/v1/patients/${PATIENT}`)).status).toBe(200);
    // The detector gives a lookup 15 minutes for a booking that would explain it, measured in the
    // log's own time: an entry stamped 16 minutes later moves that time on without waiting for it.
    await rig.h.app.store.transaction((tx) =>
      tx.audit.append({
        tenantId: 'default',
        at: new Date(Date.now() + 16 * 60_000),
        actor: 'system:test',
        action: 'test.clock_advanced',
        outcome: 'success',
      }),
    );
    await rig.h.app.privacyMonitor.runOnce();
    const alerts = (await as(officerApi, 'GET', '/v1/privacy/alerts')).body.items as any[];
    const alert = alerts.find((a) => a.subject === `user:${receptionist.userId}`);
    expect(alert).toMatchObject({ status: 'open', detectors: expect.arrayContaining(['sensitive_patient']) });

    await tab(page, 'Alerts');
    await page.getByRole('heading', { level: 1, name: 'Privacy alerts' }).waitFor();
    await page.getByRole('button', { name: 'Refresh' }).click();
    const link = page.getByRole('link', { name: `Person ${receptionist.userId}` });
    await link.waitFor();
    await page.getByRole('row').filter({ has: link }).getByText('Sensitive patient').waitFor();
    // The status filter: closed alerts only hides it, open alerts shows it.
    await page.getByLabel('Status').selectOption('closed');
    await page.getByText('No privacy alert.').waitFor();
    await page.getByLabel('Status').selectOption('open');
    await link.waitFor();
    await expectAccessible(page, 'privacy/alerts');
    await link.click();

    await page.getByRole('heading', { level: 1, name: 'Privacy alert' }).waitFor();
    expect(page.url()).toBe(`${rig.base}/console/privacy/alerts/${alert.id}`);
    await page.getByTestId('privacy-alert-status').getByText('Open').waitFor();
    expect(await page.getByTestId('privacy-alert-person').textContent()).toContain(`Staff ${receptionist.userId}`);
    for (const reason of alert.reasons as string[]) await page.getByText(reason, { exact: true }).waitFor();
    // The evidence: the receptionist's read, linked to its entry (and proof) on the audit screen.
    const leaf = (alert.evidence as number[])[0]! - 1;
    const evidence = page.getByRole('link', { name: `Open entry ${leaf} and its proof` });
    await evidence.waitFor();
    await page.getByRole('cell', { name: 'patient.read' }).first().waitFor();
    await expectAccessible(page, 'privacy/alerts/:id');

    // Investigate.
    await page.getByRole('button', { name: 'Investigate' }).click();
    await page.getByText('You are investigating this alert.').waitFor();
    await page.getByTestId('privacy-alert-status').getByText('Investigating').waitFor();
    const investigating = (await as(officerApi, 'GET', `/v1/privacy/alerts/${alert.id}`)).body;
    expect(investigating).toMatchObject({ status: 'investigating', assignee: `user:${officer.userId}` });
    expect(await page.getByRole('button', { name: 'Investigate' }).count()).toBe(0);

    // A note.
    const noteText = `Spoke with the receptionist's manager ${tag}.`;
    await page.getByLabel('Note', { exact: true }).fill(noteText);
    await page.getByRole('button', { name: 'Add note' }).click();
    await page.getByTestId('privacy-notes').getByText(noteText).waitFor();
    expect((await as(officerApi, 'GET', `/v1/privacy/alerts/${alert.id}`)).body.notes).toEqual([
      expect.objectContaining({ text: noteText }),
    ]);
    // The picture shows the alert from its top (adding the note scrolled down to the form).
    await page.evaluate(() => {
      (document.activeElement as HTMLElement | null)?.blur();
      window.scrollTo(0, 0);
      document.querySelector('main')?.scrollTo(0, 0);
    });
    await shoot(page, 'privacy');

    // Close: the dialog asks for an outcome and a note, and refuses without them.
    await page.getByRole('button', { name: 'Close…' }).click();
    const dialog = page.getByRole('alertdialog', { name: 'Close this alert' });
    await dialog.waitFor();
    await expectAccessible(page, 'privacy/alerts/:id close dialog');
    await dialog.getByRole('button', { name: 'Close alert' }).click();
    await dialog.getByText('Choose an outcome and write a note.').waitFor();
    expect((await as(officerApi, 'GET', `/v1/privacy/alerts/${alert.id}`)).body.status).toBe('investigating');
    await dialog.getByRole('radio', { name: 'Policy reminder' }).check();
    await dialog.getByLabel('Closing note').fill('Reminded of the access policy for colleagues.');
    await dialog.getByRole('button', { name: 'Close alert' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByText('The alert is closed.').waitFor();
    await page.getByTestId('privacy-alert-status').getByText('Closed · Policy reminder').waitFor();
    const closed = (await as(officerApi, 'GET', `/v1/privacy/alerts/${alert.id}`)).body;
    expect(closed).toMatchObject({ status: 'closed', outcome: 'policy_reminder' });
    expect(closed.notes).toHaveLength(2);
    // A closed alert offers no action.
    expect(await page.getByRole('button', { name: 'Close…' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Add note' }).count()).toBe(0);
    await expectAccessible(page, 'privacy/alerts/:id closed');

    // The evidence opens on the audit screen, with its proof.
    await evidence.click();
    await page.waitForURL(new RegExp(`/console/audit/entries/${leaf}$`));
    await page.getByRole('heading', { level: 1, name: `Audit entry ${leaf}` }).waitFor();
    expect(await page.getByTestId('audit-entry-json').textContent()).toContain('"action":"patient.read"');

    await expectNoLeak(page, watch, [PHI, PATIENT]);
    await context.close();
  });

  it('lets a privacy officer create and delete a suppression, and run a breach report that verifies offline', async () => {
    const officer = await consoleUser(rig.h, ['privacy_officer']);
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(page, rig.base, officer, '/console/privacy/suppressions');
    await page.getByRole('heading', { level: 1, name: 'Suppressions' }).waitFor();
    await page.getByText('No suppression rule.').waitFor();
    await expectAccessible(page, 'privacy/suppressions (empty)');

    // A rule naming neither a detector nor a subject is the API's to refuse, and nothing is created.
    await page.getByLabel('Reason').fill('Covering the ward this week');
    await page.getByRole('button', { name: 'Create suppression' }).click();
    await page.locator('.sp-problem[data-code="SP_PRIVACY_SUPPRESSION_INVALID"]').waitFor();
    expect((await as(officerApi, 'GET', '/v1/privacy/suppressions')).body.items).toEqual([]);

    await page.getByLabel('Detector').selectOption('off_hours');
    await page.getByLabel('Who').fill(`user:${receptionist.userId}`);
    await page.getByRole('button', { name: 'Create suppression' }).click();
    await page.getByText('Suppression created.').waitFor();
    const rules = (await as(officerApi, 'GET', '/v1/privacy/suppressions')).body.items as any[];
    expect(rules).toEqual([
      expect.objectContaining({
        detector: 'off_hours',
        subject: `user:${receptionist.userId}`,
        reason: 'Covering the ward this week',
        expired: false,
      }),
    ]);
    // About thirty days, as the form proposes.
    expect(Date.parse(rules[0].expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    await page.getByRole('cell', { name: 'Covering the ward this week' }).waitFor();
    await expectAccessible(page, 'privacy/suppressions');

    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByText('No suppression rule.').waitFor();
    expect((await as(officerApi, 'GET', '/v1/privacy/suppressions')).body.items).toEqual([]);

    // The breach report for the receptionist: one patient affected, the kinds of information, the files.
    await page
      .getByRole('navigation', { name: 'Privacy monitoring' })
      .getByRole('link', { name: 'Breach report' })
      .click();
    await page.getByRole('heading', { level: 1, name: 'Breach investigation report' }).waitFor();
    await expectAccessible(page, 'privacy/report');
    await page.getByLabel('Scope').selectOption('user');
    // One refused attempt of theirs: listed apart, not counted among the patients affected.
    expect((await as(receptionist, 'GET', '/v1/privacy/alerts')).status).toBe(403);
    await page.getByLabel('User id').fill(receptionist.userId);
    await page.getByRole('button', { name: 'Run report' }).click();
    const summary = page.getByTestId('privacy-report-summary');
    await summary.waitFor();
    expect(await page.getByTestId('privacy-report-patients').textContent()).toBe('1');
    expect(await page.getByTestId('privacy-report-refused').textContent()).toBe('1');
    expect(Number(await page.getByTestId('privacy-report-entries').textContent())).toBeGreaterThan(0);
    await page
      .getByTestId('privacy-report-kinds')
      .getByText(/^demographics/)
      .waitFor();
    await expectAccessible(page, 'privacy/report summary');

    const dir = mkdtempSync(join(tmpdir(), 'sealpost-console-report-'));
    for (const [button, name] of [
      ['Download report.json', 'report.json'],
      ['Download report.sig.json', 'report.sig.json'],
    ]) {
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: button }).click(),
      ]);
      expect(download.suggestedFilename()).toBe(name);
      await download.saveAs(join(dir, name));
    }
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    expect(report.patients).toMatchObject({ count: 1, ids: [PATIENT] });
    // Pinned to the key set the server publishes: authentic, not only self-consistent.
    const keys = (await rig.h.request('GET', '/.well-known/sealpost-keys.json', undefined, { authorization: '' })).body;
    const verified = verifyReportDir(dir, keys);
    expect(verified.problems).toEqual([]);
    expect(verified.ok).toBe(true);
    // One altered byte and it no longer verifies.
    writeFileSync(join(dir, 'report.json'), readFileSync(join(dir, 'report.json'), 'utf8').replace('"1', '"2'));
    expect(verifyReportDir(dir, keys).ok).toBe(false);

    await expectNoLeak(page, watch, [PHI, PATIENT]);
    await context.close();
  });

  it('shows a nurse no Privacy screen, and the API refuses them', async () => {
    const nurse = await consoleUser(rig.h, ['nurse']);
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(page, rig.base, nurse);
    expect(await page.getByRole('link', { name: 'Privacy', exact: true }).count()).toBe(0);
    await page.goto(`${rig.base}/console/privacy/alerts`);
    await page.getByRole('heading', { level: 1, name: 'There is no such page' }).waitFor();
    await expectAccessible(page, 'privacy as a nurse');
    const nurseApi = await staffWithSession(rig.h, ['nurse']);
    for (const [method, path] of [
      ['GET', '/v1/privacy/alerts'],
      ['GET', '/v1/privacy/suppressions'],
      ['PUT', `/v1/patients/${PATIENT}/sensitivity`],
    ]) {
      const r = await as(nurseApi, method, path, method === 'PUT' ? { kind: 'vip' } : undefined);
      expect(r.status, `${method} ${path}`).toBe(403);
    }
    await expectNoLeak(page, watch, [PHI, PATIENT]);
    await context.close();
  });
});
