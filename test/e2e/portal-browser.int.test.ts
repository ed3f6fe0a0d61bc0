import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';

interface OutboxItem {
  id: string;
  deliveryId: string;
  channel: string;
  recipient: string;
  body: string;
}

describe('the patient portal in a real browser', () => {
  let h: Harness;
  let browser: Browser;
  const outbox = async () => (await h.request('GET', '/v1/dev/outbox')).body.items as OutboxItem[];
  const newPage = async () => (await browser.newContext()).newPage();

  /** Sends a test-result notification by SMS and returns its id and the link from the nudge. */
  async function sendAndGetLink(testName: string): Promise<{ id: string; link: string }> {
    const res = await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'p1',
      data: { testName },
      channels: ['sms'],
    });
    expect(res.status).toBe(202);
    const deliveryId = res.body.deliveries[0].id;
    const nudge = await eventually(
      async () => (await outbox()).find((m) => m.deliveryId === deliveryId),
      'the SMS nudge',
    );
    const link = /View it at (https:\/\/\S+\/m\/[A-Za-z0-9_-]+)\./.exec(nudge.body)?.[1];
    expect(link).toBeDefined();
    return { id: res.body.id, link: link! };
  }

  async function submitBirthDate(page: Page, birthDate: string) {
    await page.fill('#birthDate', birthDate);
    const [res] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/verify')), page.click('#open')]);
    return res.status();
  }

  beforeAll(async () => {
    h = await startSealpost();
    expect((await h.request('PUT', '/v1/patients/p1', samplePatient())).status).toBe(201);
    browser = await launchChromium(h.cert);
  });

  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('shows the message after the reader enters a one-time code sent to the phone the nudge went to', async () => {
    const { id, link } = await sendAndGetLink('Thyroid panel');
    const page = await newPage();
    await page.goto(link);
    const before = new Set((await outbox()).map((m) => m.id));

    await page.click('#send-code');
    await page.locator('#code-sent').waitFor();
    expect(page.url()).toBe(`${link}?code=sent`);
    const sms = await eventually(
      async () => (await outbox()).find((m) => !before.has(m.id) && /verification code is \d{6}/.test(m.body)),
      'the one-time code',
    );
    expect(sms).toMatchObject({ channel: 'sms', recipient: '+14155552671' });
    expect(sms.body).not.toContain('Thyroid');
    expect(await page.content()).not.toContain('Thyroid');

    await page.fill('#code', /verification code is (\d{6})/.exec(sms.body)![1]);
    await page.click('#verify-code');
    expect(await page.locator('#title').textContent()).toBe('Your results are ready: Thyroid panel');
    expect(await page.locator('#message').textContent()).toContain('Test: Thyroid panel');

    const view = (await h.request('GET', `/v1/notifications/${id}`)).body;
    expect(view.deliveries[0]).toMatchObject({ status: 'read', readAt: expect.any(String) });
    expect(view.acknowledgedAt).toBeNull();
  });

  it('does not accept a one-time code the server did not send', async () => {
    const { link } = await sendAndGetLink('Ferritin');
    const page = await newPage();
    await page.goto(link);
    await page.fill('#code', '000000');
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/verify')),
      page.click('#verify-code'),
    ]);
    expect(res.status()).toBe(401);
    expect(await page.locator('#error').textContent()).toContain('attempts left');
    expect(await page.content()).not.toContain('Ferritin');
  });

  it('burns a link after five wrong dates of birth, so a sixth attempt with the right one shows the invalid-link page', async () => {
    const { id, link } = await sendAndGetLink('Hepatitis C antibody');
    // A second tab keeps the form open: after the link is burned the portal no longer serves one.
    const [attacker, patient] = [await newPage(), await newPage()];
    await attacker.goto(link);
    await patient.goto(link);

    for (const left of [4, 3, 2, 1]) {
      expect(await submitBirthDate(attacker, '1999-12-31')).toBe(401);
      expect(await attacker.locator('#error').textContent()).toContain(`${left} attempt${left === 1 ? '' : 's'} left`);
    }
    await submitBirthDate(attacker, '1999-12-31');
    expect(await attacker.content()).not.toContain('Hepatitis');

    expect(await submitBirthDate(patient, '1980-04-02')).toBe(404);
    await patient.locator('#invalid').waitFor();
    expect(await patient.content()).not.toContain('Hepatitis');
    const again = await patient.goto(link);
    expect(again!.status()).toBe(404);
    await patient.locator('#invalid').waitFor();

    const view = (await h.request('GET', `/v1/notifications/${id}`)).body;
    expect(view.deliveries[0].readAt).toBeNull();
  });

  it('answers an unknown link with the invalid-link page and status 404', async () => {
    const page = await newPage();
    const res = await page.goto(`${h.url}/m/${'A'.repeat(43)}`);
    expect(res!.status()).toBe(404);
    expect(await page.locator('#invalid').textContent()).toContain('This link is invalid');
    expect(await page.locator('form').count()).toBe(0);
  });
});
