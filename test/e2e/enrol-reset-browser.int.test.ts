import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, pageStep as step } from '../helpers/chromium.js';
import { eventually, httpsJson, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { totpCode } from '../../src/auth/totp.js';
import jsQRModule from 'jsqr';

// jsqr is CommonJS whose types declare an ES default export: the function is `.default` under NodeNext.
const jsQR = (
  jsQRModule as unknown as { default: (d: Uint8ClampedArray, w: number, h: number) => { data: string } | null }
).default;

/**
 * Decodes the QR code the page shows the way a phone's camera would, from rendered pixels: its SVG is
 * drawn onto a canvas in a blank page (the sign-in page's policy allows no image from a blob).
 */
async function scanQr(page: Page, selector: string): Promise<string | null> {
  const svg = await page.locator(`${selector} svg`).evaluate((el) => new XMLSerializer().serializeToString(el));
  const blank = await page.context().newPage();
  const px = await blank.evaluate(async (markup) => {
    const img = new Image();
    img.src = URL.createObjectURL(new Blob([markup], { type: 'image/svg+xml' }));
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 400;
    const g = canvas.getContext('2d')!;
    g.drawImage(img, 0, 0, 400, 400);
    return Array.from(g.getImageData(0, 0, 400, 400).data);
  }, svg);
  await blank.close();
  return jsQR(Uint8ClampedArray.from(px), 400, 400)?.data ?? null;
}

/** A password the policy accepts (long, not common, without the e-mail address). */
const strongPassword = () => `Tidal ${randomBytes(9).toString('base64url')} lantern`;

interface Invitee {
  id: string;
  email: string;
  displayName: string;
  enrolmentUrl: string;
  token: string;
}

/** Submits the new-password form and answers the error the page then shows (text and code). */
async function submitExpectingError(
  page: Page,
  password: string,
  again = password,
): Promise<{ text: string; code: string | null }> {
  await page.evaluate(() => {
    const e = document.getElementById('error')!;
    e.textContent = '';
    e.dataset.code = '';
  });
  await page.fill('#new-password', password);
  await page.fill('#new-password-again', again);
  await page.click('#newpassword-submit');
  await page.waitForFunction(() => (document.getElementById('error')?.textContent ?? '') !== '');
  return {
    text: (await page.locator('#error').textContent())!,
    code: await page.locator('#error').getAttribute('data-code'),
  };
}

async function setPassword(page: Page, password: string): Promise<void> {
  await page.fill('#new-password', password);
  await page.fill('#new-password-again', password);
  await page.click('#newpassword-submit');
}

describe('the enrolment and password-reset links in a real browser (Chromium)', () => {
  let h: Harness;
  let browser: Browser;
  let base: string;
  /** Every one-time token the tests handled: none may appear in the server log. */
  const tokens: string[] = [];

  const newPage = async () => (await browser.newContext()).newPage();
  const me = (page: Page) => page.evaluate(async () => (await fetch('/v1/me')).json());

  /**
   * Signed in without `?next=`: the page goes on to the console (which may answer 503 in a test
   * without a build: the address is what counts). Then /reset, a same-origin page whose policy lets
   * a script ask the API, shows whose session it is.
   */
  async function signedIn(page: Page, p: { displayName: string }) {
    await page.waitForURL((u) => u.pathname === '/console/');
    await page.goto(`${base}/reset`);
    await step(page, 'invalid');
    expect((await page.evaluate(async () => (await fetch('/v1/auth/mfa')).json())).displayName).toBe(p.displayName);
  }

  /** Signs out through the API from a same-origin page, then opens the sign-in page. */
  async function signOut(page: Page) {
    const r = await page.evaluate(
      async () =>
        (
          await fetch('/v1/auth/logout', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{}',
          })
        ).status,
    );
    expect(r).toBe(204);
    await page.goto(`${base}/login`);
    await step(page, 'signin');
  }

  async function invite(): Promise<Invitee> {
    const tag = randomBytes(5).toString('hex');
    const r = await h.request('POST', '/v1/users', {
      email: `staff-${tag}@clinic.test`,
      displayName: `Nurse ${tag}`,
      roles: ['nurse'],
    });
    expect(r.status).toBe(201);
    const url = new URL(r.body.enrolmentUrl);
    expect(`${url.origin}${url.pathname}`).toBe(`${base}/enrol`);
    const token = url.hash.slice(1);
    tokens.push(token);
    return {
      id: r.body.user.id,
      email: r.body.user.email,
      displayName: r.body.user.displayName,
      enrolmentUrl: r.body.enrolmentUrl,
      token,
    };
  }

  /** Opens the invitation link, sets `password` and enrols an authenticator app; answers its secret. */
  async function enrolWithApp(page: Page, p: Invitee, password: string): Promise<string> {
    await page.goto(p.enrolmentUrl);
    await step(page, 'newpassword');
    await setPassword(page, password);
    await step(page, 'enrol');
    await page.click('#setup-totp');
    await page.locator('#enrol-form').waitFor();
    const secret = (await page.locator('#totp-secret').textContent())!;
    await page.fill('#enrol-code', await totpCode(secret, Date.now()));
    await page.click('#enrol-submit');
    await step(page, 'codes');
    expect(await page.locator('#recovery-codes li').count()).toBe(10);
    await page.click('#codes-continue');
    await signedIn(page, p);
    return secret;
  }

  const userStatus = async (p: Invitee) => (await h.request('GET', `/v1/users/${p.id}`)).body.status as string;

  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_PUBLIC_URL: 'https://localhost:{port}' });
    base = h.app.config.publicUrl;
    browser = await launchChromium(h.cert);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    // The tokens travelled only in fragments and JSON bodies: the log holds none of them.
    if (h) {
      const log = readFileSync(h.logFile, 'utf8');
      for (const t of tokens) expect(log).not.toContain(t);
      await h.close();
    }
  }, 120_000);

  it('takes an invited user from the enrolment link through a first password and an authenticator app to a signed-in session', async () => {
    const p = await invite();
    const page = await newPage();
    await page.goto(p.enrolmentUrl);
    await step(page, 'newpassword');
    // The token left the address bar and this history entry as soon as the page loaded.
    expect(page.url()).toBe(`${base}/enrol`);
    expect(await page.evaluate(() => location.hash)).toBe('');
    await setPassword(page, strongPassword());
    await step(page, 'enrol');
    expect((await me(page)).session).toMatchObject({ stage: 'mfa_enrol', transport: 'cookie' });
    expect(await userStatus(p)).toBe('active');

    const [setup] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/v1/auth/mfa/totp/setup')),
      page.click('#setup-totp'),
    ]);
    await page.locator('#enrol-form').waitFor();
    const secret = (await page.locator('#totp-secret').textContent())!;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    // The page shows the otpauth:// URI as a QR code an authenticator app can scan.
    const { otpauthUri } = (await setup.json()) as { otpauthUri: string };
    expect(otpauthUri).toContain(`secret=${secret}`);
    expect(await page.locator('#totp-qr svg').isVisible()).toBe(true);
    expect(await scanQr(page, '#totp-qr')).toBe(otpauthUri);
    await page.fill('#enrol-code', await totpCode(secret, Date.now()));
    await page.click('#enrol-submit');
    await step(page, 'codes');
    await page.click('#codes-continue');
    // Signed in, the page goes on to the console.
    await signedIn(page, p);
    const session = (await me(page)).session;
    expect(session.stage).toBe('active');
    expect(session.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
    // The session lives in the HttpOnly cookie only; the page's script never holds it.
    expect(await page.evaluate(() => document.cookie)).toBe('');
    expect(readFileSync(h.logFile, 'utf8')).not.toContain(p.token);
  });

  it('continues at the second factor when the enrolment page is reloaded after the password, and enrols a passkey there', async () => {
    const p = await invite();
    const context = await browser.newContext();
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
      },
    });
    await page.goto(p.enrolmentUrl);
    await step(page, 'newpassword');
    await setPassword(page, strongPassword());
    await step(page, 'enrol');

    // The token is gone from the address: a reload finds the session, not the link.
    await page.reload();
    await step(page, 'enrol');
    await page.click('#register-key');
    await step(page, 'codes');
    await page.click('#codes-continue');
    await signedIn(page, p);
    expect((await me(page)).session.amr).toEqual(expect.arrayContaining(['pwd', 'hwk', 'mfa']));
    expect((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials).toHaveLength(1);

    // Signing out from the enrolment page leads to the sign-in page.
    await signOut(page);
    expect(page.url()).toBe(`${base}/login`);
  });

  it('catches a short or mismatched password before sending, shows the rule a weak one breaks without the password, and keeps the link usable', async () => {
    const p = await invite();
    const page = await newPage();
    const sent: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/v1/auth/enrol')) sent.push(r.url());
    });
    await page.goto(p.enrolmentUrl);
    await step(page, 'newpassword');

    expect((await submitExpectingError(page, 'short pass')).code).toBe('too_short');
    expect((await submitExpectingError(page, strongPassword(), strongPassword())).code).toBe('mismatch');
    expect(sent).toHaveLength(0);

    const weak = await submitExpectingError(page, 'qwerty123456');
    expect(weak.code).toBe('SP_USER_PASSWORD_WEAK');
    expect(weak.text).toContain('common passwords');
    expect(weak.text).not.toContain('qwerty123456');
    expect(await page.locator('#new-password').inputValue()).toBe('');
    expect(await page.locator('#newpassword-form').isVisible()).toBe(true);
    expect(await userStatus(p)).toBe('invited');
    expect((await me(page)).code).toBe('SP_AUTH_UNAUTHENTICATED');

    await setPassword(page, strongPassword());
    await step(page, 'enrol');
    expect(await userStatus(p)).toBe('active');
  });

  it('says a used, made-up or missing enrolment link is invalid as soon as it opens, and shows no form', async () => {
    const p = await invite();
    const first = await newPage();
    await enrolWithApp(first, p, strongPassword());

    // The page asks the server before it shows a form: a used or made-up link says so at once.
    const used = await newPage();
    await used.goto(p.enrolmentUrl);
    await step(used, 'invalid');
    expect(used.url()).toBe(`${base}/enrol`);
    expect(await used.locator('#invalid').getAttribute('data-code')).toBe('SP_AUTH_TOKEN_INVALID');
    expect(await used.locator('#invalid').textContent()).toContain('invalid, expired or already used');
    expect(await used.locator('#newpassword-form').isVisible()).toBe(false);
    expect((await me(used)).code).toBe('SP_AUTH_UNAUTHENTICATED');

    const madeUp = await newPage();
    await madeUp.goto(`${base}/enrol#${randomBytes(32).toString('base64url')}`);
    await step(madeUp, 'invalid');
    expect(await madeUp.locator('#newpassword-form').isVisible()).toBe(false);

    const missing = await newPage();
    await missing.goto(`${base}/enrol`);
    await step(missing, 'invalid');
    expect(await missing.locator('#newpassword-form').isVisible()).toBe(false);

    // The first person's enrolment is untouched by the refused attempts.
    expect(await userStatus(p)).toBe('active');
    expect((await me(first)).session.stage).toBe('active');
  });

  it('sets a new password from the reset e-mail link, ends the old sessions, and the new password signs in at /login', async () => {
    const p = await invite();
    const old = await newPage();
    const secret = await enrolWithApp(old, p, strongPassword());

    const asked = await httpsJson(
      h.url,
      h.cert,
      'POST',
      '/v1/auth/password-reset',
      { email: p.email },
      { authorization: '' },
    );
    expect(asked.status).toBe(202);
    const mail = await eventually(
      async () =>
        ((await h.request('GET', '/v1/dev/outbox?limit=500')).body.items as { recipient: string; body: string }[]).find(
          (m) => m.recipient === p.email && m.body.includes('/reset#'),
        ),
      'the password-reset e-mail',
    );
    const link = /(https:\/\/\S+\/reset#[A-Za-z0-9_-]+)/.exec(mail.body)![1];
    tokens.push(new URL(link).hash.slice(1));

    const page = await newPage();
    await page.goto(link);
    await step(page, 'newpassword');
    expect(page.url()).toBe(`${base}/reset`);
    const weak = await submitExpectingError(page, 'qwerty123456');
    expect(weak.code).toBe('SP_USER_PASSWORD_WEAK');
    const fresh = strongPassword();
    await setPassword(page, fresh);
    await step(page, 'reset-done');
    expect((await me(old)).code).toBe('SP_AUTH_UNAUTHENTICATED');

    await page.click('#to-login');
    await step(page, 'signin');
    expect(page.url()).toBe(`${base}/login`);
    await page.fill('#email', p.email);
    await page.fill('#password', fresh);
    await page.click('#signin-submit');
    await step(page, 'mfa');
    // The next step's code: the enrolment's code is used up, and +1 step is within the window.
    await page.fill('#totp-code', await totpCode(secret, Date.now() + 30_000));
    await page.click('#totp-submit');
    await signedIn(page, p);

    const again = await newPage();
    await again.goto(link);
    await step(again, 'invalid');
    expect(await again.locator('#newpassword-form').isVisible()).toBe(false);
    expect(readFileSync(h.logFile, 'utf8')).not.toContain(tokens[tokens.length - 1]);
  });

  it('serves the enrolment and reset pages with the policy that allows only their own script and same-origin requests', async () => {
    for (const path of ['/enrol', '/reset']) {
      const res = await httpsJson(h.url, h.cert, 'GET', path, undefined, { authorization: '' });
      expect(res.status, path).toBe(200);
      expect(String(res.headers['content-type'])).toMatch(/^text\/html/);
      const csp = String(res.headers['content-security-policy']);
      for (const directive of [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
      ])
        expect(csp, path).toContain(directive);
      expect(csp).not.toContain('unsafe-inline');
      expect(res.text).toContain('<script src="/login.js" defer></script>');
      expect(res.text).not.toMatch(/<script>|<script [^>]*>[^<]/);
      expect(res.text).toContain('<meta name="referrer" content="no-referrer">');
    }
  });
});
