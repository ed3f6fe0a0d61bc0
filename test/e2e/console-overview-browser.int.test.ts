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
import { eventually, samplePatient } from '../helpers/sealpost-harness.js';
import { auditEvents } from '../helpers/staff-sign-in.js';

const PHI = `Zyx-PHI-${Math.random().toString(36).slice(2, 8)}`;

/**
 * The Overview screen in Debian Chromium against a real server: deliveries that went out (SMS, dev
 * outbox) and dead letters (webhooks to a refused address) appear as figures, charts with their
 * tables, failures by code and provider health; an administrator retries and cancels dead letters
 * (checked through the API and the audit log); an auditor only reads; a receptionist has no
 * overview. A patient's name planted as a PHI marker never reaches URLs, storage or the console.
 */
describe('the console overview in a real browser', () => {
  let rig: ConsoleRig;
  const dead: string[] = [];

  async function send(id: string, telecom: unknown[], done: (s: string) => boolean): Promise<string> {
    const h = rig.h;
    await h.request('PUT', `/v1/patients/${id}`, samplePatient({ name: { given: [PHI], family: PHI }, telecom }));
    const res = await h.request('POST', '/v1/notifications', {
      type: 'follow_up',
      patientId: id,
      data: { reason: `Review ${PHI}`, dueDate: '2030-01-01' },
    });
    expect(res.status).toBe(202);
    const d = await eventually(async () => {
      const n = (await h.request('GET', `/v1/notifications/${res.body.id}`)).body;
      return done(n.deliveries[0].status) && n.deliveries[0];
    }, `delivery of ${id}`);
    return d.id;
  }

  beforeAll(async () => {
    rig = await startConsole({ SEALPOST_WEBHOOK_PROVIDER: 'http', SEALPOST_WEBHOOK_SECRET: 'overview-secret' });
    await send('ov-sms', [{ system: 'sms', value: '+14155552671', rank: 1 }], (s) => s === 'sent' || s === 'delivered');
    const hook = [{ system: 'webhook', value: 'https://169.254.169.254/hook', rank: 1 }];
    dead.push(await send('ov-dead1', hook, (s) => s === 'dead'));
    dead.push(await send('ov-dead2', hook, (s) => s === 'dead'));
  }, 180_000);
  afterAll(async () => rig?.close());

  const deadIds = async () =>
    ((await rig.h.request('GET', '/v1/ops/dead-letters')).body.items as { id: string }[]).map((d) => d.id);

  it('shows figures, charts with their tables, failures, providers and dead letters; retries and cancels them', async () => {
    const admin = await consoleUser(rig.h, ['admin']);
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(page, rig.base, admin, '/console/overview');
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    // The queue, provider health and failures from the server.
    await page.getByRole('heading', { name: 'Provider health' }).waitFor();
    expect(await page.getByTestId('queue-due').textContent()).toBe('0');
    const providers = page.locator('section[aria-labelledby="sp-overview-providers"]');
    await expect.poll(() => providers.textContent()).toContain('Failing');
    expect(await providers.textContent()).toContain('SP_CHANNEL_ADDRESS_REFUSED');
    const failures = page.locator('section[aria-labelledby="sp-overview-failures"]');
    expect(await failures.textContent()).toContain('SP_CHANNEL_ADDRESS_REFUSED');
    await shoot(page, 'console-overview');
    // Each chart has its figures as a table behind a disclosure.
    expect(await page.locator('.sp-overview-chart').count()).toBe(2);
    await page.getByText('Show the figures as a table').first().click();
    const table = page.locator('figure').first().locator('table');
    await table.waitFor();
    expect(await table.textContent()).toContain('Dead');
    // Another window: the pressed button says which, the figures are read again.
    await page.getByRole('button', { name: 'Last hour' }).click();
    await expect.poll(() => page.getByRole('button', { name: 'Last hour' }).getAttribute('aria-pressed')).toBe('true');
    await expect.poll(() => page.getByRole('heading', { name: 'Activity: Last hour' }).count()).toBe(1);
    await expectAccessible(page, 'overview');

    // The dead letters: both listed; retry the first (queued now, audited), cancel the second.
    const deadTable = page.locator('section[aria-labelledby="sp-overview-dead"] table');
    for (const id of dead) await deadTable.getByText(id).waitFor();
    const row = (id: string) => deadTable.locator('tr', { hasText: id });
    await row(dead[0]).getByRole('button', { name: 'Retry' }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor();
    await expectAccessible(page, 'retry dialog');
    await dialog.getByRole('button', { name: 'Retry' }).click();
    await page.getByText(`Delivery ${dead[0]} is queued again.`).waitFor();
    await eventually(
      async () => (await auditEvents(rig.h, 'delivery.retried')).some((e) => e.target?.id === dead[0]),
      'retry audited',
    );
    await row(dead[1]).getByRole('button', { name: 'Cancel delivery' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Cancel delivery' }).click();
    await page.getByText(`Delivery ${dead[1]} is cancelled.`).waitFor();
    expect(await deadIds()).not.toContain(dead[1]);
    await expect.poll(() => deadTable.locator('tr', { hasText: dead[1] }).count()).toBe(0);
    expect(
      (await auditEvents(rig.h, 'delivery.dead_letter_cancelled')).filter((e) => e.target?.id === dead[1]),
    ).toHaveLength(1);
    await expectNoLeak(page, watch, [PHI]);
    await context.close();
  });

  it('lets an auditor read the overview without any action, and gives a receptionist none', async () => {
    const auditor = await consoleUser(rig.h, ['auditor']);
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(page, rig.base, auditor, '/console/overview');
    await page.getByRole('heading', { name: 'Dead letters' }).waitFor();
    await page.locator('section[aria-labelledby="sp-overview-dead"] table').waitFor();
    expect(await page.getByRole('button', { name: 'Retry' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Cancel delivery' }).count()).toBe(0);
    // The server refuses it anyway.
    const refused = await page.evaluate(
      async (id) => (await fetch(`/v1/ops/dead-letters/${id}/retry`, { method: 'POST' })).status,
      dead[0],
    );
    expect(refused).toBe(403);
    await expectAccessible(page, 'overview (auditor)');
    await expectNoLeak(page, watch, [PHI]);
    await context.close();

    const receptionist = await consoleUser(rig.h, ['receptionist']);
    const r = await newConsolePage(rig.browser, DESKTOP);
    await signInWithTotp(r.page, rig.base, receptionist, '/console/overview');
    expect(await r.page.locator('nav[aria-label="Console"]').getByRole('link', { name: 'Overview' }).count()).toBe(0);
    await r.page.getByRole('heading', { level: 1 }).waitFor();
    expect(await r.page.getByRole('heading', { name: 'Provider health' }).count()).toBe(0);
    await r.context.close();
  });

  it('fits a phone and speaks Spanish', async () => {
    const admin = await consoleUser(rig.h, ['admin']);
    const { context, page, watch } = await newConsolePage(rig.browser, PHONE);
    await signInWithTotp(page, rig.base, admin, '/console/overview');
    await page.getByRole('heading', { name: 'Provider health' }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    await expectAccessible(page, 'overview (phone)');
    await shoot(page, 'console-overview-phone');
    await page.getByLabel('Language').selectOption('es');
    await page.getByRole('heading', { level: 1, name: 'Resumen' }).waitFor();
    await page.getByRole('heading', { name: 'Estado de los proveedores' }).waitFor();
    await expectAccessible(page, 'overview (es)');
    await expectNoLeak(page, watch, [PHI]);
    await context.close();
  });
});
