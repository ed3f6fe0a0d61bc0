import { expect, type TestContext } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { eventually, type Harness } from './sealpost-harness.js';

/**
 * The patient's side of the portal inbox in Debian Chromium, for tests that drive /portal/inbox:
 * a phone-sized context, the page's steps, the keyboard sign-in with the one-time code from the dev
 * outbox, and the reply form.
 */

/** A phone-sized context; `locale` sets the browser's Accept-Language. */
export async function phoneContext(browser: Browser, locale = 'en-US'): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale });
  // Registering the browser makes some 40 key packages in page JavaScript: slow on a busy machine.
  context.setDefaultTimeout(120_000);
  return context;
}

/** Waits until the page reaches a step (or shows an error). */
export const inboxStep = (page: Page, name: string) =>
  page.waitForFunction(
    (n) => document.body.dataset.step === n || !!document.getElementById('error')?.textContent,
    name,
  );

/** Signs in through the page by keyboard only: type the contact, Enter, type the code, Enter. */
export async function signInByKeyboard(h: Harness, page: Page, email: string): Promise<void> {
  const outbox = async () => (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items as any[];
  await inboxStep(page, 'signin');
  expect(await page.evaluate(() => document.activeElement?.id)).toBe('contact');
  const before = (await outbox()).length;
  await page.keyboard.type(email);
  await page.keyboard.press('Enter');
  const mail = await eventually(async () => {
    const items = (await outbox()).slice(before).filter((m) => m.recipient === email);
    return items[items.length - 1];
  }, 'the sign-in code');
  const code = /code is (\d{6})/.exec(mail.body)![1]!;
  await page.waitForFunction(() => document.activeElement?.id === 'code');
  await page.keyboard.type(code);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => ['threads', 'unavailable', 'error'].includes(document.body.dataset.step ?? ''));
  expect(await page.locator('#error').textContent()).toBe('');
}

/** Sends the reply form and waits until the page says it was sent (or shows why not). */
export async function sendFromPage(
  page: Page,
  text: string,
  file?: { name: string; mimeType: string; buffer: Buffer },
): Promise<void> {
  await page.fill('#reply', text);
  if (file) await page.setInputFiles('#attachment', file);
  await page.locator('#send').focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(
    () =>
      ['Sent.', 'Enviado.'].includes(document.getElementById('status')?.textContent ?? '') ||
      !!document.getElementById('error')?.textContent,
  );
  expect(await page.locator('#error').textContent()).toBe('');
}

/** Logs what the page said (console, errors) and its state when the test fails. */
export function logPageOnFailure(page: Page, ctx: TestContext): void {
  const log: string[] = [];
  page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  ctx.onTestFailed(async () => {
    const state = await page
      .evaluate(() => [
        document.body.dataset.step,
        document.getElementById('status')?.textContent,
        document.getElementById('error')?.textContent,
      ])
      .catch(() => []);
    console.error('inbox page state at failure:', state, '\n' + log.join('\n'));
  });
}
