import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { launchChromium, pageStep as step } from '../helpers/chromium.js';
import { httpsJson, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithPassword } from '../helpers/identity.js';
import { totpCode } from '../../src/auth/totp.js';

type Person = Awaited<ReturnType<typeof staffWithPassword>>;

describe('the staff sign-in page in a real browser (Chromium, virtual authenticator)', () => {
  let h: Harness;
  let browser: Browser;
  let base: string;

  /** A fresh browser context with a CTAP2 platform authenticator that verifies the user. */
  async function browserWithAuthenticator(): Promise<{ page: Page; cdp: CDPSession; authenticatorId: string }> {
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
    return { page, cdp, authenticatorId };
  }

  async function passwordStep(page: Page, p: Person, expected: 'mfa' | 'mfa_enrol') {
    await page.goto(`${base}/login`);
    await step(page, 'signin');
    await page.fill('#email', p.email);
    await page.fill('#password', p.password);
    await page.click('#signin-submit');
    await step(page, expected === 'mfa' ? 'mfa' : 'enrol');
  }

  /** Enrols a passkey through the page, saves the recovery codes, signs out. */
  async function enrolPasskey(page: Page, p: Person): Promise<string[]> {
    await passwordStep(page, p, 'mfa_enrol');
    await page.click('#register-key');
    await step(page, 'codes');
    const codes = await page.locator('#recovery-codes li').allTextContents();
    await page.click('#codes-continue');
    await signedIn(page, p);
    await signOut(page);
    return codes;
  }

  /** Signs in with password and passkey through the page; returns the assertion the page sent. */
  async function signInWithPasskey(page: Page, p: Person): Promise<Record<string, any>> {
    await passwordStep(page, p, 'mfa');
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith('/v1/auth/webauthn/login/verify')),
      page.click('#use-key'),
    ]);
    await signedIn(page, p);
    return request.postDataJSON().credential;
  }

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
  const storedCredentials = (p: Person) => h.app.store.read.mfa.credentials('default', p.userId);

  beforeAll(async () => {
    // An IP address is not a valid WebAuthn RP ID: the server's public URL names localhost.
    h = await startSealpost({ SEALPOST_PUBLIC_URL: 'https://localhost:{port}' });
    base = h.app.config.publicUrl;
    browser = await launchChromium(h.cert);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('enrols a passkey from an mfa_enrol session, then signs in with password and passkey to an active session', async () => {
    const p = await staffWithPassword(h, ['physician']);
    const { page, cdp, authenticatorId } = await browserWithAuthenticator();

    const codes = await enrolPasskey(page, p);
    expect(codes).toHaveLength(10);
    const [cred] = await storedCredentials(p);
    expect(cred).toMatchObject({ user_id: p.userId, name: 'Security key' });
    const onAuthenticator = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    expect(onAuthenticator).toHaveLength(1);
    expect(onAuthenticator[0]).toMatchObject({
      rpId: 'localhost',
      isResidentCredential: true,
      userHandle: Buffer.from(p.userId).toString('base64'),
    });
    // Signed out: the old session is gone on the server, not only in the page.
    expect((await me(page)).code).toBe('SP_AUTH_UNAUTHENTICATED');

    await signInWithPasskey(page, p);
    const session = (await me(page)).session;
    expect(session.stage).toBe('active');
    expect(session.transport).toBe('cookie');
    expect(session.amr).toEqual(expect.arrayContaining(['pwd', 'hwk', 'mfa']));
    // The session cookie is HttpOnly: page script never sees the token.
    expect(await page.evaluate(() => document.cookie)).toBe('');
    const signCount = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0].signCount;
    expect(signCount).toBeGreaterThan(0);
    expect(Number((await storedCredentials(p))[0].counter)).toBe(signCount);
    const audit = (await h.request('GET', '/v1/audit/events?action=auth.mfa_verified&limit=500')).body.items as {
      actor: string;
      details: { method: string };
    }[];
    expect(audit.some((e) => e.actor === `user:${p.userId}` && e.details.method === 'webauthn')).toBe(true);
  });

  it('signs in through the page with an authenticator app: enrol and confirm, save the recovery codes, then password and a TOTP code', async () => {
    const p = await staffWithPassword(h, ['billing']);
    const { page } = await browserWithAuthenticator();
    await passwordStep(page, p, 'mfa_enrol');
    await page.click('#setup-totp');
    await page.locator('#enrol-form').waitFor();
    const secret = (await page.locator('#totp-secret').textContent())!;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    await page.fill('#enrol-code', await totpCode(secret, Date.now()));
    await page.click('#enrol-submit');
    await step(page, 'codes');
    expect(await page.locator('#recovery-codes li').count()).toBe(10);
    await page.click('#codes-continue');
    await signedIn(page, p);
    await signOut(page);

    await passwordStep(page, p, 'mfa');
    // The next step's code: the confirming code's step is used up, and +1 step is within the window.
    await page.fill('#totp-code', await totpCode(secret, Date.now() + 30_000));
    await page.click('#totp-submit');
    await signedIn(page, p);
    expect((await me(page)).session.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
  });

  it('serves the sign-in page with a policy that allows only its own script and same-origin requests', async () => {
    const res = await httpsJson(h.url, h.cert, 'GET', '/login', undefined, { authorization: '' });
    expect(res.status).toBe(200);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.text).not.toMatch(/<script>|<script [^>]*>[^<]/);
    const js = await httpsJson(h.url, h.cert, 'GET', '/login.js', undefined, { authorization: '' });
    expect(js.status).toBe(200);
    expect(String(js.headers['content-type'])).toMatch(/^text\/javascript/);
  });

  it('refuses a replayed assertion and assertions with a tampered or foreign-origin clientDataJSON, and they change nothing', async () => {
    const p = await staffWithPassword(h, ['nurse']);
    const { page } = await browserWithAuthenticator();
    await enrolPasskey(page, p);
    const captured = await signInWithPasskey(page, p);
    const counter = Number((await storedCredentials(p))[0].counter);

    // A second sign-in from an app: stage mfa, then the captured assertion sent straight to the verify route.
    const login = await httpsJson(
      h.url,
      h.cert,
      'POST',
      '/v1/auth/login',
      { email: p.email, password: p.password, transport: 'bearer' },
      { authorization: '' },
    );
    expect(login.body.stage).toBe('mfa');
    const call = (path: string, body: unknown) =>
      httpsJson(h.url, h.cert, 'POST', path, body, { authorization: `Bearer ${login.body.token}` });
    const clientData = JSON.parse(Buffer.from(captured.response.clientDataJSON, 'base64url').toString('utf8'));
    const withClientData = (over: Record<string, unknown>) => ({
      ...captured,
      response: {
        ...captured.response,
        clientDataJSON: Buffer.from(JSON.stringify({ ...clientData, ...over })).toString('base64url'),
      },
    });

    const attempts: [string, (challenge: string) => unknown][] = [
      ['replayed as captured', () => captured],
      ['tampered to the live challenge', (challenge) => withClientData({ challenge })],
      ['from another origin', (challenge) => withClientData({ challenge, origin: 'https://evil.example' })],
    ];
    for (const [what, make] of attempts) {
      const options = await call('/v1/auth/webauthn/login/options', {});
      expect(options.status, what).toBe(200);
      expect(options.body.rpId).toBe('localhost');
      const r = await call('/v1/auth/webauthn/login/verify', { credential: make(options.body.challenge) });
      expect(r.status, what).toBe(401);
      expect(r.body.code, what).toBe('SP_AUTH_WEBAUTHN_FAILED');
      expect(r.body.token, what).toBeUndefined();
    }

    const after = await httpsJson(h.url, h.cert, 'GET', '/v1/me', undefined, {
      authorization: `Bearer ${login.body.token}`,
    });
    expect(after.body.session.stage).toBe('mfa');
    expect(Number((await storedCredentials(p))[0].counter)).toBe(counter);
    const failed = (await h.request('GET', '/v1/audit/events?action=auth.mfa_failed&limit=500')).body.items as {
      target: { id: string };
      details: { method: string };
    }[];
    expect(failed.filter((e) => e.target.id === after.body.session.id && e.details.method === 'webauthn')).toHaveLength(
      3,
    );
    // Without asking for options first there is no challenge to answer: refused as well.
    expect((await call('/v1/auth/webauthn/login/verify', { credential: captured })).body.code).toBe(
      'SP_AUTH_WEBAUTHN_FAILED',
    );
  });

  it('refuses a registration answered for another challenge and leaves the account without a credential', async () => {
    const p = await staffWithPassword(h, ['receptionist']);
    const { page } = await browserWithAuthenticator();
    await passwordStep(page, p, 'mfa_enrol');
    // The page's own registration, intercepted: its challenge is then voided by a newer options call.
    await page.route('**/v1/auth/webauthn/register/verify', async (route) => {
      await page.evaluate(() =>
        fetch('/v1/auth/webauthn/register/options', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        }),
      );
      await route.continue();
    });
    await page.click('#register-key');
    await page.waitForFunction(() => (document.getElementById('error')?.textContent ?? '') !== '');
    expect(await page.locator('#error').getAttribute('data-code')).toBe('SP_AUTH_WEBAUTHN_FAILED');
    expect(await storedCredentials(p)).toHaveLength(0);
    expect((await me(page)).session.stage).toBe('mfa_enrol');
  });
});
