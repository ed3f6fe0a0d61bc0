import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import { samplePatient } from '../helpers/sealpost-harness.js';

const PHI = `Zyx-PHI-${Math.random().toString(36).slice(2, 8)}`;
const SECRET = `settings-secret-${Math.random().toString(36).slice(2, 8)}`;
// A 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

/**
 * The Settings screen in Debian Chromium against a real server: the organisation's name, accent
 * colour and logo changed through the branding API (checked through the API; a bad colour shows the
 * API's error and changes nothing), reminder offsets and quiet hours with the variables that set
 * them, channel configuration without secrets, template previews with sample data in English and
 * Spanish beside their nudges; an auditor reads only, a nurse has no settings.
 */
describe('the console settings in a real browser', () => {
  let rig: ConsoleRig;
  const branding = async () => (await rig.h.request('GET', '/v1/branding')).body;

  beforeAll(async () => {
    rig = await startConsole({ SEALPOST_WEBHOOK_PROVIDER: 'http', SEALPOST_WEBHOOK_SECRET: SECRET });
    // A patient whose name is the PHI marker: nothing of it may reach the browser's URL, storage or console.
    await rig.h.request('PUT', '/v1/patients/set-1', samplePatient({ name: { given: [PHI], family: PHI } }));
  }, 180_000);
  afterAll(async () => rig?.close());

  it('changes the name, accent and logo through the API, refuses a bad colour, and shows settings, channels and previews', async () => {
    const admin = await consoleUser(rig.h, ['admin']);
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(page, rig.base, admin, '/console/settings');
    await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
    const name = page.getByLabel('Organisation name');
    await expect.poll(() => name.inputValue()).toBe((await branding()).organisationName);

    await name.fill('Riverside Test Clinic');
    await page.getByLabel('Accent colour').fill('#0b6e4f');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved.').waitFor();
    expect(await branding()).toMatchObject({ organisationName: 'Riverside Test Clinic', accentColor: '#0b6e4f' });

    // A colour the API refuses: its error, and nothing changed.
    await name.fill('Not saved');
    await page.getByLabel('Accent colour').fill('not-a-colour');
    await page.getByRole('button', { name: 'Save' }).click();
    const alert = page.locator('.sp-settings-form [role="alert"]');
    await alert.waitFor();
    expect(await alert.getAttribute('data-code')).toBe('SP_BRANDING_COLOR_INVALID');
    expect(await branding()).toMatchObject({ organisationName: 'Riverside Test Clinic', accentColor: '#0b6e4f' });

    // The logo: uploaded, shown, removed after confirmation.
    await page.getByLabel('Logo file (PNG, JPEG or WebP, at most 256 KB)').setInputFiles({
      name: 'logo.png',
      mimeType: 'image/png',
      buffer: PNG,
    });
    await page.getByRole('button', { name: 'Upload logo' }).click();
    await page.getByRole('img', { name: "The organisation's logo" }).waitFor();
    expect((await branding()).hasLogo).toBe(true);

    // Reminder offsets and quiet hours, with where they are set.
    const quiet = page.getByTestId('quiet-hours');
    expect(await quiet.textContent()).toContain('Off');
    expect(await quiet.textContent()).toContain('SEALPOST_QUIET_HOURS');
    expect(await page.getByTestId('reminder-offsets').textContent()).toContain('7 days before');
    // Channels: the webhook's provider is live, its secret only said to be set.
    const channels = page.locator('section[aria-labelledby="sp-settings-channels"]');
    expect(await channels.textContent()).toContain('Signing secret set: yes');
    expect(await page.content()).not.toContain(SECRET);

    // Template previews: the secure text with sample data in both languages, the nudge beside it.
    await page.getByLabel('Notification type').selectOption('test_result_ready');
    const preview = page.getByTestId('template-preview');
    for (const lang of ['en', 'es'])
      await expect
        .poll(async () => preview.locator(`article[lang="${lang}"]`).textContent())
        .toContain('Sample blood test');
    // The nudge beside the secure text carries the (sample) link and no data of the notification.
    const nudge = await preview.locator('article[lang="es"] dl').textContent();
    expect(nudge).toContain('/m/l/SAMPLE');
    expect(nudge).not.toContain('Sample blood test');
    await expectAccessible(page, 'settings');
    await page.evaluate(() => window.scrollTo(0, 0));
    await shoot(page, 'console-settings');

    await page.getByRole('button', { name: 'Remove logo' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Remove logo' }).click();
    await page.getByText('No logo yet.').waitFor();
    expect((await branding()).hasLogo).toBe(false);
    await expectNoLeak(page, watch, [PHI, SECRET]);
    await context.close();
  });

  it('shows an auditor the settings read-only, and a nurse none', async () => {
    const auditor = await consoleUser(rig.h, ['auditor']);
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(page, rig.base, auditor, '/console/settings');
    await page.getByRole('heading', { name: 'Message templates' }).waitFor();
    await page.getByRole('heading', { name: 'Organisation' }).waitFor();
    expect(await page.getByRole('button', { name: 'Save' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Upload logo' }).count()).toBe(0);
    expect(await page.getByLabel('Organisation name').count()).toBe(0);
    const status = await page.evaluate(
      async () =>
        (
          await fetch('/v1/branding', {
            method: 'PUT',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ organisationName: 'Auditor was here' }),
          })
        ).status,
    );
    expect(status).toBe(403);
    expect((await branding()).organisationName).not.toBe('Auditor was here');
    await expectAccessible(page, 'settings (auditor)');
    await expectNoLeak(page, watch, [PHI, SECRET]);
    await context.close();

    const nurse = await consoleUser(rig.h, ['nurse']);
    const n = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(n.page, rig.base, nurse, '/console/settings');
    await n.page.getByRole('heading', { level: 1 }).waitFor();
    expect(await n.page.locator('nav[aria-label="Console"]').getByRole('link', { name: 'Settings' }).count()).toBe(0);
    expect(await n.page.getByRole('heading', { name: 'Message templates' }).count()).toBe(0);
    await n.context.close();
  });

  it('fits a phone and speaks Spanish', async () => {
    const admin = await consoleUser(rig.h, ['admin']);
    const { context, page, watch } = await newConsolePage(rig.browser, PHONE);
    await signInWithTotp(page, rig.base, admin, '/console/settings');
    await page.getByRole('heading', { name: 'Message templates' }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await expectAccessible(page, 'settings (phone)');
    await shoot(page, 'console-settings-phone');
    await page.getByLabel('Language').selectOption('es');
    await page.getByRole('heading', { level: 1, name: 'Configuración' }).waitFor();
    await page.getByRole('heading', { name: 'Plantillas de mensajes' }).waitFor();
    await expectAccessible(page, 'settings (es)');
    await expectNoLeak(page, watch, [PHI, SECRET]);
    await context.close();
  });
});
