import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from './chromium.js';
import { httpsJson, startSealpost, type Harness } from './sealpost-harness.js';
import { staffWithPassword } from './identity.js';
import { totpCode, totpStep } from '../../src/auth/totp.js';
import type { Role } from '../../src/core/domain.js';

/**
 * What the console's browser tests share: a server serving the built console (web/dist, built by
 * test/helpers/build-console.ts before the suite, or SEALPOST_CONSOLE_DIR), Debian Chromium, staff
 * who sign in with a real second factor, axe-core, and the checks that no PHI reaches the browser's
 * address bar, storage or console.
 */

export interface ConsoleRig {
  h: Harness;
  browser: Browser;
  /** https://localhost:<port> (a passkey's RP ID cannot be an IP address). */
  base: string;
  close(): Promise<void>;
}

export async function startConsole(env: Record<string, string> = {}): Promise<ConsoleRig> {
  const h = await startSealpost({
    SEALPOST_PUBLIC_URL: 'https://localhost:{port}',
    ...(process.env.SEALPOST_CONSOLE_DIR ? { SEALPOST_CONSOLE_DIR: process.env.SEALPOST_CONSOLE_DIR } : {}),
    ...env,
  });
  const browser = await launchChromium(h.cert);
  return {
    h,
    browser,
    base: h.app.config.publicUrl,
    async close() {
      await browser.close();
      await h.close();
    },
  };
}

export interface ConsolePerson {
  userId: string;
  email: string;
  password: string;
  displayName: string;
  /** The TOTP seed enrolled through the API (base32). */
  secret: string;
  /** The last TOTP step the server accepted from this person: the next sign-in needs a later one. */
  lastStep: number;
}

/**
 * A staff member with these roles, a password and an authenticator app enrolled through the API
 * (sign-in, setup, confirm with the previous step's code), ready to sign in with the current code.
 */
export async function consoleUser(h: Harness, roles: Role[], tenantId = 'default'): Promise<ConsolePerson> {
  const p = await staffWithPassword(h, roles, 'correct horse battery staple', tenantId);
  const call = (method: string, path: string, token?: string, body?: unknown) =>
    httpsJson(h.url, h.cert, method, path, body, { authorization: token ? `Bearer ${token}` : '' });
  for (let attempt = 0; ; attempt++) {
    const login = await call('POST', '/v1/auth/login', undefined, {
      email: p.email,
      password: p.password,
      transport: 'bearer',
    });
    expect(login.status).toBe(200);
    const setup = await call('POST', '/v1/auth/mfa/totp/setup', login.body.token, {});
    expect(setup.status).toBe(200);
    const at = Date.now() - 30_000; // the previous step: the current one stays free for the browser
    const confirm = await call('POST', '/v1/auth/mfa/totp/confirm', login.body.token, {
      code: await totpCode(setup.body.secret, at),
    });
    if (confirm.status === 200) {
      await call('POST', '/v1/auth/logout', confirm.body.token ?? login.body.token);
      return { ...p, secret: setup.body.secret, lastStep: totpStep(at) };
    }
    // A step boundary passed between the two calls; once more.
    if (attempt > 1) expect(confirm.status).toBe(200);
  }
}

/** A TOTP code of a step later than the person's last, within the server's ±1 window. */
export async function nextCode(p: ConsolePerson): Promise<string> {
  let at = Date.now();
  // The next step is inside the server's window; beyond that, wait for the clock.
  if (totpStep(at) <= p.lastStep) at += 30_000;
  while (totpStep(at) <= p.lastStep) {
    await new Promise((r) => setTimeout(r, 1000));
    at = Date.now() + 30_000;
  }
  p.lastStep = totpStep(at);
  return totpCode(p.secret, at);
}

/** Signs in through /login (password, then the authenticator's code) and waits for the console. */
export async function signInWithTotp(page: Page, base: string, p: ConsolePerson, path = '/console/'): Promise<void> {
  await page.goto(`${base}/login?next=${encodeURIComponent(path)}`);
  await page.locator('#email').waitFor({ state: 'visible' });
  await page.fill('#email', p.email);
  await page.fill('#password', p.password);
  await page.click('#signin-submit');
  await page.locator('#totp-code').waitFor({ state: 'visible' });
  await page.fill('#totp-code', await nextCode(p));
  await page.click('#totp-submit');
  await page.waitForURL(/\/console\//);
  await page.locator('main h1').first().waitFor();
}

export interface PageWatch {
  /** Every URL the page's main frame was at. */
  urls: string[];
  /** Console messages and page errors. */
  console: string[];
  /** Content-Security-Policy violations (the console must cause none). */
  cspViolations: string[];
}

const watches = new WeakMap<Page, PageWatch>();

/** Starts recording what a page shows the outside: its URLs, console output and CSP violations. */
export function watchPage(page: Page): PageWatch {
  const w: PageWatch = { urls: [], console: [], cspViolations: [] };
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) w.urls.push(f.url());
  });
  page.on('console', (m) => {
    w.console.push(m.text());
    if (/Content Security Policy/i.test(m.text())) w.cspViolations.push(m.text());
  });
  page.on('pageerror', (e) => w.console.push(String(e)));
  watches.set(page, w);
  return w;
}

/**
 * No PHI marker in any URL the page visited (including the current one, after client-side
 * navigation), in its console, or in local or session storage of the origin.
 */
export async function expectNoLeak(page: Page, w: PageWatch, markers: string[]): Promise<void> {
  const storage = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
  const places = { urls: [...w.urls, page.url()].join('\n'), console: w.console.join('\n'), storage };
  for (const m of markers)
    for (const [where, text] of Object.entries(places))
      expect(text.toLowerCase().includes(m.toLowerCase()), `PHI marker ${m} found in ${where}`).toBe(false);
  expect(w.cspViolations).toEqual([]);
}

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core over the page as it is now: no violation of WCAG 2.0–2.2 A and AA. */
export async function expectAccessible(page: Page, what = page.url()): Promise<void> {
  // axe measures with inline styles of its own, which the console's policy refuses: what the
  // policy reports during the check is axe's, not the console's.
  const w = watches.get(page);
  const before = w?.cspViolations.length ?? 0;
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE);
  const result = await page.evaluate(() =>
    (window as any).axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
    }),
  );
  await page.waitForTimeout(50); // console events of the run arrive asynchronously
  if (w) w.cspViolations.splice(before);
  const violations = (result.violations as any[]).map(
    (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n: any) => n.target.join(' ')).join(', ')}`,
  );
  expect(violations, `axe-core on ${what}`).toEqual([]);
}

const SHOTS_DIR = fileURLToPath(new URL('../../docs/console/', import.meta.url));
let tempShots: string | undefined;

/**
 * A full-page screenshot at the page's viewport: into docs/console/<name>.png when
 * SEALPOST_UPDATE_SCREENSHOTS=1 (to refresh the README's pictures), otherwise into a temp directory.
 */
export async function shoot(page: Page, name: string): Promise<string> {
  const dir =
    process.env.SEALPOST_UPDATE_SCREENSHOTS === '1'
      ? SHOTS_DIR
      : (tempShots ??= mkdtempSync(join(tmpdir(), 'sealpost-shots-')));
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/** The two viewports of the issue: a phone (390×844) and a laptop (1280×800). */
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

/** A fresh context (own cookies and storage) with a page at this viewport. */
export async function newConsolePage(
  browser: Browser,
  viewport = DESKTOP,
): Promise<{ context: BrowserContext; page: Page; watch: PageWatch }> {
  const context = await browser.newContext({ viewport, locale: 'en-US' });
  const page = await context.newPage();
  return { context, page, watch: watchPage(page) };
}
