import { generateKeyPairSync, randomBytes } from 'node:crypto';
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
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { httpsJson } from '../helpers/sealpost-harness.js';
import { samplePatient } from '../helpers/sample-patient.js';

const tag = randomBytes(4).toString('hex');
/** Planted PHI: a patient's name and a break-glass reason naming them. Neither may reach URL, storage or console. */
const PHI = `Zyx-PHI-${tag}`;
const PATIENT = `pp-${tag}`;
const REASON = `Unconscious in the emergency department, ${PHI}`;

/**
 * People and access in Debian Chromium: an administrator invites a person (the enrolment link is
 * shown once and works), changes roles, ends a session, disables and re-enables, wipes; creates an
 * API key that works against the API until it is revoked; registers and revokes a SMART client;
 * reviews a break-glass grant and acknowledges its alert. Everything is checked on the server;
 * auditors and clinicians do not get the screen, and the server refuses them anyway.
 */
describe('the People and access screen in a real browser', () => {
  let rig: ConsoleRig;
  const as = (p: TestPerson | string, method: string, path: string, body?: unknown) =>
    httpsJson(rig.h.url, rig.h.cert, method, path, body, {
      authorization: `Bearer ${typeof p === 'string' ? p : p.token}`,
    });
  const confirmIn = async (page: Page, button: string, confirm = 'Confirm') => {
    await page.getByRole('button', { name: button, exact: true }).first().click();
    const dialog = page.getByRole('alertdialog');
    await dialog.getByRole('button', { name: confirm }).click();
    await dialog.waitFor({ state: 'detached' });
  };

  beforeAll(async () => {
    rig = await startConsole();
    expect(
      (await rig.h.request('PUT', `/v1/patients/${PATIENT}`, samplePatient({ name: { given: ['Ana'], family: PHI } })))
        .status,
    ).toBe(201);
    // A physician outside the care team breaks the glass (second factor: one of their recovery codes).
    const physician = await staffWithSession(rig.h, ['physician']);
    const setup = await as(physician, 'POST', '/v1/auth/mfa/totp/setup');
    const { totpCode } = await import('../../src/auth/totp.js');
    const confirm = await as(physician, 'POST', '/v1/auth/mfa/totp/confirm', {
      code: await totpCode(setup.body.secret, Date.now()),
    });
    expect(confirm.status).toBe(200);
    const token = confirm.body.token ?? physician.token;
    const bg = await as(token, 'POST', `/v1/patients/${PATIENT}/break-glass`, {
      reason: REASON,
      recoveryCode: confirm.body.recoveryCodes[0],
    });
    expect(bg.status).toBe(201);
  }, 120_000);
  afterAll(async () => rig?.close());

  it('lets an administrator invite a person, change roles, end a session, disable, enable and wipe', async () => {
    const admin = await consoleUser(rig.h, ['admin']);
    const adminApi = await staffWithSession(rig.h, ['admin']);
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(page, rig.base, admin, '/console/people');
    await page.waitForURL(/\/console\/people\/users$/);
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    await expectAccessible(page, 'people/users');
    await shoot(page, 'console-people');

    // Invite: the link is shown once, in a field to copy; it enrols the person.
    const email = `nurse.${tag}@clinic.test`;
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel('Name shown to others').fill(`RN ${tag}`);
    await page.getByRole('checkbox', { name: 'Nurse' }).check();
    await page.getByRole('button', { name: 'Invite' }).click();
    const secret = page.locator('.sp-people-secret-value');
    await secret.waitFor();
    const link = await secret.inputValue();
    expect(link).toMatch(/\/enrol#[A-Za-z0-9_-]{43}$/);
    expect(await page.getByText('Shown once').count()).toBe(1);
    await expectAccessible(page, 'people/users invite link');
    const token = link.slice(link.indexOf('#') + 1);
    const users = (await as(adminApi, 'GET', '/v1/users?limit=500')).body.items as any[];
    const invited = users.find((u) => u.email === email);
    expect(invited).toMatchObject({ status: 'invited', roles: ['nurse'] });
    await page.getByRole('button', { name: 'Done' }).click();
    expect(await secret.count()).toBe(0);

    // The same address again: the API's refusal, and no second user.
    await page.getByLabel('E-mail address').fill(email);
    await page.getByLabel('Name shown to others').fill('Someone else');
    await page.getByRole('checkbox', { name: 'Billing' }).check();
    await page.getByRole('button', { name: 'Invite' }).click();
    await page.locator('.sp-problem[data-code="SP_USER_EXISTS"]').waitFor();
    const again = (await as(adminApi, 'GET', '/v1/users?limit=500')).body.items as any[];
    expect(again.filter((u) => u.email === email)).toHaveLength(1);

    // The person enrols with the link, and has a session the administrator can see and end.
    const enrol = await httpsJson(
      rig.h.url,
      rig.h.cert,
      'POST',
      '/v1/auth/enrol',
      {
        token,
        password: `violet harbour lantern ${tag}`,
      },
      { authorization: '' },
    );
    expect(enrol.status).toBe(200);
    await page.goto(`${rig.base}/console/people/users/${invited.id}`);
    await page.getByRole('heading', { level: 1, name: `RN ${tag}` }).waitFor();
    await page.getByRole('cell', { name: /App or script/ }).waitFor();
    await expectAccessible(page, 'people/users/:id');
    await confirmIn(page, 'End session');
    await page.getByText('No live session.').waitFor();
    expect((await as(enrol.body.token, 'GET', '/v1/me')).status).toBe(401);

    // Roles: nurse → nurse + physician.
    await page.getByRole('checkbox', { name: 'Physician' }).check();
    await page.getByRole('button', { name: 'Save roles' }).click();
    await page.getByText('Roles saved').waitFor();
    expect((await as(adminApi, 'GET', `/v1/users/${invited.id}`)).body.roles.sort()).toEqual(['nurse', 'physician']);

    // Disable, enable, remote wipe (a second enrolment session first, so there is something to wipe).
    await confirmIn(page, 'Disable');
    await page.getByText('Disabled;').waitFor();
    expect((await as(adminApi, 'GET', `/v1/users/${invited.id}`)).body.status).toBe('disabled');
    await confirmIn(page, 'Enable');
    await page.getByText('Enabled.').waitFor();
    expect((await as(adminApi, 'GET', `/v1/users/${invited.id}`)).body.status).not.toBe('disabled');
    const signIn = await httpsJson(
      rig.h.url,
      rig.h.cert,
      'POST',
      '/v1/auth/login',
      { email, password: `violet harbour lantern ${tag}`, transport: 'bearer' },
      { authorization: '' },
    );
    expect(signIn.status).toBe(200);
    await confirmIn(page, 'Remote wipe');
    await page.getByText(/Ended 1 sessions/).waitFor();
    expect((await as(signIn.body.token, 'GET', '/v1/me')).status).toBe(401);

    // A new enrolment link for someone still invited: the earlier one stops working.
    const other = await rig.h.request('POST', '/v1/users', {
      email: `other.${tag}@clinic.test`,
      displayName: `Other ${tag}`,
      roles: ['billing'],
    });
    const firstLink: string = other.body.enrolmentUrl;
    await page.goto(`${rig.base}/console/people/users/${other.body.user.id}`);
    await page.getByRole('heading', { level: 1, name: `Other ${tag}` }).waitFor();
    await confirmIn(page, 'New enrolment link');
    const link2 = await page.locator('.sp-people-secret-value').inputValue();
    expect(link2).not.toBe(firstLink);
    const enrolWith = (l: string) =>
      httpsJson(
        rig.h.url,
        rig.h.cert,
        'POST',
        '/v1/auth/enrol',
        { token: l.slice(l.indexOf('#') + 1), password: `violet harbour lantern ${tag}` },
        { authorization: '' },
      );
    expect((await enrolWith(firstLink)).status).not.toBe(200);
    expect((await enrolWith(link2)).status).toBe(200);
    await page.getByRole('button', { name: 'Done' }).click();

    // One's own account: no disable or wipe offered.
    await page.goto(`${rig.base}/console/people/users/${admin.userId}`);
    await page.getByText('You cannot disable or wipe your own account here.').waitFor();
    expect(await page.getByRole('button', { name: 'Disable' }).isDisabled()).toBe(true);

    await expectNoLeak(page, watch, [PHI, token, link2.slice(link2.indexOf('#') + 1), admin.password]);
    await context.close();
  });

  it('creates an API key shown once that works against the API, rotates it, and revoking makes it fail', async () => {
    const admin = await consoleUser(rig.h, ['admin']);
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(page, rig.base, admin, '/console/people/api-keys');
    await page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor();
    // Only scopes whose permissions an administrator holds are offered (no EHR integration key).
    expect(await page.getByRole('checkbox', { name: /^audit/ }).count()).toBe(1);
    expect(await page.getByRole('checkbox', { name: /^integration/ }).count()).toBe(0);
    await expectAccessible(page, 'people/api-keys');

    // No scope is an integration key, which an administrator may not mint: the API refuses, nothing is made.
    const before = (await rig.h.request('GET', '/v1/api-keys?limit=500')).body.items.length;
    await page.getByLabel('Name', { exact: true }).fill(`Nothing ${tag}`);
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.locator('.sp-problem[data-code="SP_AUTH_FORBIDDEN"]').waitFor();
    expect((await rig.h.request('GET', '/v1/api-keys?limit=500')).body.items.length).toBe(before);

    await page.getByLabel('Name', { exact: true }).fill(`Audit feed ${tag}`);
    await page.getByRole('checkbox', { name: /^audit/ }).check();
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = page.locator('.sp-people-secret-value');
    await secret.waitFor();
    const key = await secret.inputValue();
    expect(key).toMatch(/^sp_/);
    expect((await as(key, 'GET', '/v1/audit/events?limit=1')).status).toBe(200);
    await page.getByRole('button', { name: 'Done' }).click();
    expect(await secret.count()).toBe(0);
    // Last use is shown once the server recorded it.
    await page.reload();
    const row = page.locator('tr', { hasText: `Audit feed ${tag}` });
    await row.waitFor();
    await expect
      .poll(async () => (await row.locator('td[data-label="Last used"]').textContent())?.trim())
      .not.toBe('—');

    // Rotate: a new key, shown once, that works.
    await row.getByRole('button', { name: 'Rotate' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
    const rotated = await page.locator('.sp-people-secret-value').inputValue();
    expect(rotated).not.toBe(key);
    expect((await as(rotated, 'GET', '/v1/audit/events?limit=1')).status).toBe(200);
    await page.getByRole('button', { name: 'Done' }).click();
    await expectAccessible(page, 'people/api-keys list');
    await shoot(page, 'console-people-keys');

    // Revoke the new key: it fails at once.
    const newRow = page.locator('tr', { hasText: rotated.split('_')[1] });
    await newRow.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('alertdialog').waitFor({ state: 'detached' });
    await expect.poll(async () => (await as(rotated, 'GET', '/v1/audit/events?limit=1')).status).toBe(401);
    await expectNoLeak(page, watch, [PHI, key, rotated]);
    await context.close();
  });

  it('registers a SMART client (the API refuses scopes beyond the administrator) and revokes it', async () => {
    const admin = await consoleUser(rig.h, ['admin']);
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(page, rig.base, admin, '/console/people/clients');
    await page.getByRole('heading', { level: 1, name: 'SMART clients' }).waitFor();
    const jwk = {
      ...generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' }),
      kid: `k-${tag}`,
      alg: 'ES384',
    };
    const count = async () => (await rig.h.request('GET', '/v1/oauth-clients?limit=500')).body.items.length;
    const before = await count();
    await page.getByLabel('Name', { exact: true }).fill(`Monitor ${tag}`);
    await page.getByLabel(/System scopes/).fill('system/Patient.rs');
    await page.getByLabel(/Public keys/).fill(JSON.stringify({ keys: [jwk] }));
    await page.getByRole('button', { name: 'Register' }).click();
    await page.locator('.sp-problem[data-code="SP_AUTH_FORBIDDEN"]').waitFor();
    expect(await count()).toBe(before);

    await page.getByLabel(/System scopes/).fill('system/AuditEvent.rs');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByText(`Registered Monitor ${tag}`).waitFor();
    const client = (await rig.h.request('GET', '/v1/oauth-clients?limit=500')).body.items.find(
      (c: any) => c.name === `Monitor ${tag}`,
    );
    expect(client).toMatchObject({ scopes: ['system/AuditEvent.rs'], revokedAt: null });
    await expectAccessible(page, 'people/clients');
    const row = page.locator('tr', { hasText: `Monitor ${tag}` });
    await row.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
    await row.getByText('Revoked').waitFor();
    expect((await rig.h.request('GET', `/v1/oauth-clients/${client.clientId}`)).body.revokedAt).not.toBeNull();
    await expectNoLeak(page, watch, [PHI]);
    await context.close();
  });

  it('shows break-glass grants with their reasons to administrators, records a review with a note, and closes alerts with notes', async () => {
    const admin = await consoleUser(rig.h, ['admin']);
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(page, rig.base, admin, '/console/people/break-glass');
    await page.getByRole('heading', { level: 1, name: 'Break-glass and alerts' }).waitFor();
    const row = page.locator('tr', { hasText: PATIENT });
    await row.getByText(PHI).waitFor();
    await expectAccessible(page, 'people/break-glass');
    await shoot(page, 'console-people-break-glass');
    // Review: unjustified, with a note naming the patient. The access ends, the alert closes.
    await row.getByRole('button', { name: 'Review' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('radio', { name: 'Unjustified' }).check();
    await dialog.getByLabel('Note (optional)').fill(`Not on shift; asked ${PHI}`);
    await expectAccessible(page, 'people/break-glass review dialog');
    await dialog.getByRole('button', { name: 'Record review' }).click();
    await dialog.waitFor({ state: 'detached' });
    await row.getByText('Ended').waitFor();
    await row.getByText(`Not on shift; asked ${PHI}`).waitFor();
    const grants = (await rig.h.request('GET', '/v1/break-glass')).body.items as any[];
    expect(grants.find((g) => g.patientId === PATIENT)).toMatchObject({
      reviewOutcome: 'unjustified',
      reviewNote: `Not on shift; asked ${PHI}`,
    });
    expect(grants.find((g) => g.patientId === PATIENT).revokedAt).not.toBeNull();
    const open = (await rig.h.request('GET', '/v1/security-alerts?open=true')).body.items as any[];
    expect(open.filter((a) => a.kind === 'break_glass')).toEqual([]);

    // Another alert (a lockout): acknowledge, then close with a note.
    const alertId = `al-${tag}`;
    await rig.h.app.store.transaction((tx) =>
      tx.access.insertAlert({
        id: alertId,
        tenant_id: 'default',
        kind: 'account_locked',
        actor: 'system:lockout',
        target_type: 'user',
        target_id: admin.userId,
        created_at: Date.now(),
      }),
    );
    await page.reload();
    const alert = page.locator('tr', { hasText: 'Account locked' });
    await alert.getByRole('button', { name: 'Acknowledge' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
    await alert.getByText(/Acknowledged by/).waitFor();
    await alert.getByRole('button', { name: 'Close with a note' }).click();
    await page.getByRole('dialog').getByLabel('Note (optional)').fill('Typo in the password, called them');
    await page.getByRole('dialog').getByRole('button', { name: 'Close with a note' }).click();
    await alert.getByText(/Closed by/).waitFor();
    const closed = ((await rig.h.request('GET', '/v1/security-alerts')).body.items as any[]).find(
      (a) => a.id === alertId,
    );
    expect(closed).toMatchObject({ closeNote: 'Typo in the password, called them' });
    expect(closed.closedAt).not.toBeNull();
    await expectAccessible(page, 'people/break-glass reviewed');
    await expectNoLeak(page, watch, [PHI, REASON]);
    await context.close();
  });

  it('is neither shown to an auditor nor to a clinician, and the server refuses them', async () => {
    for (const role of ['auditor', 'nurse'] as const) {
      const p = await consoleUser(rig.h, [role]);
      const { context, page } = await newConsolePage(rig.browser, DESKTOP);
      await signInWithTotp(page, rig.base, p);
      expect(
        await page
          .getByRole('navigation', { name: 'Console' })
          .getByRole('link', { name: 'People and access' })
          .count(),
      ).toBe(0);
      await page.goto(`${rig.base}/console/people/users`);
      await page.locator('main h1').first().waitFor();
      expect(await page.getByRole('button', { name: 'Invite' }).count()).toBe(0);
      for (const path of ['/v1/users', '/v1/api-keys', '/v1/oauth-clients', '/v1/break-glass', '/v1/security-alerts']) {
        const status = await page.evaluate(async (u) => (await fetch(u)).status, path);
        expect(status, `${role} ${path}`).toBe(403);
      }
      const invite = await page.evaluate(
        async () =>
          (
            await fetch('/v1/users', {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ email: 'x@clinic.test', displayName: 'X', roles: ['admin'] }),
            })
          ).status,
      );
      expect(invite).toBe(403);
      await context.close();
    }
  });

  it('fits a phone: tables become cards, no sideways scrolling', async () => {
    const admin = await consoleUser(rig.h, ['admin']);
    const { context, page, watch } = await newConsolePage(rig.browser, PHONE);
    await signInWithTotp(page, rig.base, admin, '/console/people/users');
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    await page.getByRole('link', { name: admin.displayName }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await expectAccessible(page, 'people/users phone');
    await shoot(page, 'console-people-phone');
    for (const view of ['api-keys', 'clients', 'break-glass']) {
      await page.goto(`${rig.base}/console/people/${view}`);
      await page.locator('main h1').first().waitFor();
      await page.waitForLoadState('networkidle');
      expect(await page.evaluate(() => document.documentElement.scrollWidth), view).toBeLessThanOrEqual(PHONE.width);
      await expectAccessible(page, `people/${view} phone`);
    }
    await expectNoLeak(page, watch, [PHI]);
    await context.close();
  });
});
