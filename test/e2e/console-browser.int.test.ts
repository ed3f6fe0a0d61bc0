/// <reference types="vite/client" />
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
import { staffWithPassword } from '../helpers/identity.js';
import { ROLE_PERMISSIONS } from '../../src/auth/permissions.js';
import type { Role } from '../../src/core/domain.js';
import en from '../../web/src/i18n/en.json' with { type: 'json' };

/** The console's screens as its registry declares them (web/src/screens/<name>/index.ts). */
const SCREENS = Object.values(
  import.meta.glob<{ screen: { path: string; order: number; labelKey: string; anyOf: string[] } }>(
    '../../web/src/screens/*/index.ts',
    { eager: true },
  ),
)
  .map((m) => m.screen)
  .sort((a, b) => a.order - b.order);
const label = (key: string) => key.split('.').reduce((o: any, k) => o?.[k], en) as string;
import { httpsJson } from '../helpers/sealpost-harness.js';

/**
 * The console's frame in Debian Chromium: how a person gets in (password and a real second factor:
 * an authenticator app's code computed here, or a passkey of Chromium's virtual authenticator), what
 * the frame shows, the languages, the phone layout, the idle warning and automatic sign-out, and the
 * strict policy (no CSP violation, no PHI in the address bar, storage or console).
 */
describe('the console in a real browser', () => {
  let rig: ConsoleRig;

  beforeAll(async () => {
    // Five-minute idle timeout: the console warns at 160 s of inactivity and signs out at 240 s (page
    // clock). The server's own timeout runs on real time: five minutes leave a loaded machine room to
    // finish the test before the server ends the session itself (the console would then say "ended").
    rig = await startConsole({ SEALPOST_SESSION_IDLE_MINUTES: '5' });
  }, 120_000);
  afterAll(async () => rig?.close());

  it('sends a visitor without a session to the sign-in page, and back to the console after password and TOTP', async () => {
    const admin = await consoleUser(rig.h, ['admin']);
    const { context, page, watch } = await newConsolePage(rig.browser);
    await page.goto(`${rig.base}/console/`);
    await page.waitForURL(/\/login\?next=%2Fconsole%2F/);
    await signInWithTotp(page, rig.base, admin);
    expect(new URL(page.url()).pathname.startsWith('/console/')).toBe(true);
    await expect.poll(() => page.locator('.sp-signed-in').textContent()).toContain(admin.displayName);
    expect(await page.locator('nav[aria-label="Console"]').count()).toBe(1);
    await expectAccessible(page);
    await shoot(page, 'console-frame');
    await expectNoLeak(page, watch, [admin.password]);
    await context.close();
  });

  it('signs in with a passkey of the virtual authenticator', async () => {
    const p = await staffWithPassword(rig.h, ['admin']);
    const { context, page } = await newConsolePage(rig.browser);
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
      },
    });
    // Enrolment at the first sign-in: password, then "register a passkey", then the recovery codes.
    await page.goto(`${rig.base}/login?next=%2Fconsole%2F`);
    await page.fill('#email', p.email);
    await page.fill('#password', p.password);
    await page.click('#signin-submit');
    await page.click('#register-key');
    await page.locator('#codes-continue').click();
    await page.waitForURL(/\/console\//);
    await page.locator('main h1').first().waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#email').waitFor();
    expect(new URL(page.url()).pathname).toBe('/login');
    // Signed out: the console's API calls are refused; then in again with password and passkey.
    expect(await page.evaluate(async () => (await fetch('/v1/me')).status)).toBe(401);
    await page.goto(`${rig.base}/console/`);
    await page.locator('#email').waitFor();
    await page.fill('#email', p.email);
    await page.fill('#password', p.password);
    await page.click('#signin-submit');
    await page.click('#use-key');
    await page.waitForURL(/\/console\//);
    const me = await page.evaluate(async () => (await fetch('/v1/me')).json());
    expect(me.session.amr).toEqual(expect.arrayContaining(['pwd', 'hwk']));
    await context.close();
  });

  it('speaks Spanish when asked, and keeps the choice after a reload', async () => {
    const p = await consoleUser(rig.h, ['auditor']);
    const { context, page } = await newConsolePage(rig.browser);
    await signInWithTotp(page, rig.base, p);
    await page.getByLabel('Language').selectOption('es');
    await expect.poll(() => page.locator('html').getAttribute('lang')).toBe('es');
    expect(await page.getByRole('button', { name: 'Cerrar sesión' }).count()).toBe(1);
    await page.reload();
    await page.getByRole('button', { name: 'Cerrar sesión' }).waitFor();
    await expectAccessible(page);
    await context.close();
  });

  it('fits a phone: no sideways scrolling, navigation behind a menu button', async () => {
    const p = await consoleUser(rig.h, ['admin']);
    const { context, page } = await newConsolePage(rig.browser, PHONE);
    await signInWithTotp(page, rig.base, p);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    const menu = page.getByRole('button', { name: 'Menu' });
    expect(await menu.getAttribute('aria-expanded')).toBe('false');
    expect(await page.locator('#sp-nav').isVisible()).toBe(false);
    await menu.click();
    expect(await page.locator('#sp-nav').isVisible()).toBe(true);
    const height = await menu.evaluate((b) => b.getBoundingClientRect().height);
    expect(height).toBeGreaterThanOrEqual(44);
    await expectAccessible(page);
    await shoot(page, 'console-frame-phone');
    await context.close();
  });

  it('warns before the idle timeout, stays on request, then signs out by itself and ends the session', async () => {
    const p = await consoleUser(rig.h, ['admin']);
    const { context, page, watch } = await newConsolePage(rig.browser, DESKTOP);
    await page.clock.install();
    await signInWithTotp(page, rig.base, p);
    const warning = page.getByRole('alertdialog');
    await page.clock.fastForward(161_000);
    await warning.waitFor();
    expect(await warning.textContent()).toContain('signed out in');
    await expectAccessible(page);
    await page.getByRole('button', { name: 'Stay signed in' }).click();
    await warning.waitFor({ state: 'detached' });
    // The dialog's React Aria buttons and modal ran under the console's policy without a violation.
    await expectNoLeak(page, watch, []);
    await page.clock.fastForward(241_000);
    // Polled, not awaited as a navigation: the page clock also runs the sign-in page's timers.
    await expect.poll(() => new URL(page.url()).searchParams.get('reason'), { timeout: 20_000 }).toBe('idle');
    expect(new URL(page.url()).pathname).toBe('/login');
    // The console signed out: the session is over on the server too, not only forgotten by the page.
    const cookies = await context.cookies(rig.base);
    const cookie = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
    const me = await httpsJson(rig.h.url, rig.h.cert, 'GET', '/v1/me', undefined, {
      authorization: '',
      cookie,
    });
    expect(me.status).toBe(401);
    await context.close();
  });

  it('shows each role exactly the screens its permissions open', async () => {
    const roles: Role[] = ['admin', 'physician', 'nurse', 'receptionist', 'billing', 'auditor'];
    const seen: Record<string, string[]> = {};
    for (const role of roles) {
      const p = await consoleUser(rig.h, [role]);
      const { context, page } = await newConsolePage(rig.browser);
      await signInWithTotp(page, rig.base, p);
      seen[role] = await page.locator('#sp-nav a').allTextContents();
      const expected = SCREENS.filter((s) =>
        s.anyOf.some((x: string) => (ROLE_PERMISSIONS[role] as readonly string[]).includes(x)),
      );
      expect(seen[role], role).toEqual(expected.map((s) => label(s.labelKey)));
      // A screen outside the role, opened by its address, is not there for this person.
      const other = SCREENS.find((s) => !expected.includes(s));
      if (other) {
        await page.goto(`${rig.base}/console/${other.path}`);
        await page.getByRole('heading', { name: 'There is no such page' }).waitFor();
      }
      await context.close();
    }
    // The examples: an auditor reads the audit log and administers nothing; a receptionist and
    // billing staff see neither the audit log nor people and access.
    expect(seen.auditor).toContain(label('audit.nav'));
    expect(seen.auditor).not.toContain(label('people.nav'));
    for (const r of ['receptionist', 'billing']) {
      expect(seen[r]).not.toContain(label('audit.nav'));
      expect(seen[r]).not.toContain(label('people.nav'));
    }
  }, 240_000);

  it('serves only built files and the app shell under /console, under a strict policy', async () => {
    const index = await httpsJson(rig.h.url, rig.h.cert, 'GET', '/console/notifications/x', undefined, {
      authorization: '',
    });
    expect(index.status).toBe(200);
    const csp = String(index.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(index.text).not.toMatch(/<script>|<style[\s>]|\sstyle="/);
    for (const path of ['/console/../package.json', '/console/assets/..%2F..%2Fpackage.json', '/console/nope.js'])
      expect((await httpsJson(rig.h.url, rig.h.cert, 'GET', path, undefined, { authorization: '' })).status).toBe(404);
  });
});
