import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import type { Browser, Page } from 'playwright-core';
import jsQRModule from 'jsqr';
import { launchChromium, pageStep as step } from '../helpers/chromium.js';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession } from '../helpers/identity.js';
import { DESKTOP, expectAccessible, PHONE, shoot } from '../helpers/console-browser.js';
import { logoPng } from '../helpers/tiny-png.js';

// jsqr is CommonJS whose types declare an ES default export: the function is `.default` under NodeNext.
const jsQR = (
  jsQRModule as unknown as { default: (d: Uint8ClampedArray, w: number, h: number) => { data: string } | null }
).default;

const NAME = 'Harbour Health Clinic';
const ACCENT = '#0f6e6e';

/** Decodes the QR code the page shows from rendered pixels, as a phone's camera would. */
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

describe('one visual identity: the sign-in, enrolment and portal pages carry the organisation in a real browser', () => {
  let h: Harness;
  let browser: Browser;
  let base: string;

  /** The organisation at the top: its name, its logo (loaded, not broken) and its accent on the bar. */
  async function expectBrand(page: Page) {
    expect(await page.locator('#brand-name').textContent()).toBe(NAME);
    const logo = page.locator('#brand-logo');
    await logo.waitFor();
    expect(await logo.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(64);
    // The accent arrived through /brand.css under the page's style-src 'self'.
    expect(await page.locator('.sp-brand').evaluate((el) => getComputedStyle(el).backgroundColor)).toBe(
      'rgb(15, 110, 110)',
    );
  }

  /**
   * Phone first: nothing scrolls sideways at 360 px and every visible button is a 44 px touch
   * target; axe-core finds no WCAG 2.2 AA violation; then the two screenshots.
   */
  async function expectPhoneFirst(page: Page, shot: string) {
    await page.setViewportSize({ width: 360, height: 740 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    const heights = await page
      .locator('button:visible, input[type=submit]:visible, .sp-lang a:visible')
      .evaluateAll((els) => els.map((e) => [e.id || e.textContent, Math.round(e.getBoundingClientRect().height)]));
    expect(heights.length).toBeGreaterThan(0);
    expect(heights.filter(([, px]) => (px as number) < 44)).toEqual([]);
    await expectAccessible(page, shot);
    await page.setViewportSize(PHONE);
    await shoot(page, `${shot}-phone`);
    await page.setViewportSize(DESKTOP);
    await shoot(page, shot);
  }

  /** The logo upload: raw bytes, over the harness's TLS. */
  function putLogo(token: string, png: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        new URL('/v1/branding/logo', h.url),
        { method: 'PUT', ca: h.cert, headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(png);
    });
  }

  /** Sends a results notice by SMS and answers the portal link of its nudge. */
  async function portalLink(): Promise<string> {
    const res = await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'p1',
      data: { testName: 'Lipid panel' },
      channels: ['sms'],
    });
    expect(res.status).toBe(202);
    const deliveryId = res.body.deliveries[0].id;
    const nudge = await eventually(
      async () =>
        ((await h.request('GET', '/v1/dev/outbox')).body.items as { deliveryId: string; body: string }[]).find(
          (m) => m.deliveryId === deliveryId,
        ),
      'the SMS nudge',
    );
    return /(https:\/\/\S+\/m\/[A-Za-z0-9_-]+)/.exec(nudge.body)![1]!;
  }

  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_PUBLIC_URL: 'https://localhost:{port}' });
    base = h.app.config.publicUrl;
    const admin = await staffWithSession(h, ['admin']);
    const set = await h.request(
      'PUT',
      '/v1/branding',
      { organisationName: NAME, accentColor: ACCENT },
      { authorization: admin.headers.authorization },
    );
    expect(set.status).toBe(200);
    expect(await putLogo(admin.token, logoPng())).toBe(200);
    expect((await h.request('PUT', '/v1/patients/p1', samplePatient())).status).toBe(201);
    browser = await launchChromium(h.cert);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await h?.close();
  }, 120_000);

  it('shows the organisation on the sign-in page, fits a 360 px phone and passes axe-core', async () => {
    const page = await (await browser.newContext()).newPage();
    const refused: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) refused.push(m.text());
    });
    await page.goto(`${base}/login`);
    await step(page, 'signin');
    await expectBrand(page);
    expect(await page.locator('#signin .sp-why').isVisible()).toBe(true);
    await expectPhoneFirst(page, 'signin');
    // Everything the page loads is allowed by its own policy: no inline style, no foreign source.
    expect(refused).toEqual([]);
  });

  it("speaks Spanish on the sign-in page by the browser's language, and its switch keeps where sign-in goes next", async () => {
    const context = await browser.newContext({ locale: 'es-ES' });
    const page = await context.newPage();
    const refused: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) refused.push(m.text());
    });
    await page.goto(`${base}/login?next=${encodeURIComponent('/console/settings')}`);
    await step(page, 'signin');
    expect(await page.locator('html').getAttribute('lang')).toBe('es');
    expect(await page.locator('h1').textContent()).toBe('Iniciar sesión');
    expect(await page.locator('label[for=password]').textContent()).toBe('Contraseña');
    expect(await page.locator('#lang-es').getAttribute('aria-current')).toBe('true');
    await expectBrand(page);
    await expectAccessible(page, 'signin-es');
    // The switch is a plain link that already carries ?next= (it works before the script runs).
    expect(await page.locator('#lang-en').getAttribute('href')).toBe('?lang=en&next=%2Fconsole%2Fsettings');
    await Promise.all([page.waitForURL(/lang=en/), page.click('#lang-en')]);
    await step(page, 'signin');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/console/settings');
    expect(await page.locator('h1').textContent()).toBe('Sign in');
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    await Promise.all([page.waitForURL(/lang=es/), page.click('#lang-es')]);
    await step(page, 'signin');
    const url = new URL(page.url());
    expect([url.searchParams.get('lang'), url.searchParams.get('next')]).toEqual(['es', '/console/settings']);
    // The script's own messages are Spanish too: a refused sign-in.
    await page.fill('#email', 'nobody@clinic.test');
    await page.fill('#password', 'not the password at all');
    await page.click('#signin-submit');
    await page.waitForFunction(() => (document.getElementById('error')?.textContent ?? '') !== '');
    expect(await page.locator('#error').textContent()).toBe('No se pudo iniciar sesión');
    expect(await page.locator('#error').getAttribute('data-code')).toBe('SP_AUTH_LOGIN_FAILED');
    await expectAccessible(page, 'signin-es-error');
    await page.setViewportSize(PHONE);
    await shoot(page, 'signin-es-phone');
    expect(refused).toEqual([]);
    await context.close();
  });

  it('keeps the enrolment link usable across the language switch, and says in Spanish what is wrong', async () => {
    const tag = randomBytes(5).toString('hex');
    const invited = await h.request('POST', '/v1/users', {
      email: `staff-${tag}@clinic.test`,
      displayName: `Nurse ${tag}`,
      roles: ['nurse'],
    });
    expect(invited.status).toBe(201);
    const page = await (await browser.newContext()).newPage();
    await page.goto(invited.body.enrolmentUrl);
    await step(page, 'newpassword');
    expect(page.url()).not.toContain('#');
    await Promise.all([page.waitForURL(/lang=es/), page.click('#lang-es')]);
    await step(page, 'newpassword');
    // The token crossed in the fragment and left the address bar again.
    expect(page.url()).not.toContain('#');
    expect(await page.locator('h1').textContent()).toBe('Configure su cuenta');
    await page.fill('#new-password', 'Tidal lantern 1234');
    await page.fill('#new-password-again', 'Tidal lantern 5678');
    await page.click('#newpassword-submit');
    await page.waitForFunction(() => (document.getElementById('error')?.textContent ?? '') !== '');
    expect(await page.locator('#error').textContent()).toBe(
      'Las dos contraseñas no coinciden; escriba la misma contraseña dos veces',
    );
    await expectAccessible(page, 'enrol-es');
    await page.context().close();
  });

  it('shows the organisation on the enrolment page and a scannable QR code at the authenticator-app step', async () => {
    const tag = randomBytes(5).toString('hex');
    const invited = await h.request('POST', '/v1/users', {
      email: `staff-${tag}@clinic.test`,
      displayName: `Nurse ${tag}`,
      roles: ['nurse'],
    });
    expect(invited.status).toBe(201);
    const page = await (await browser.newContext()).newPage();
    await page.goto(invited.body.enrolmentUrl);
    await step(page, 'newpassword');
    await expectBrand(page);
    const password = `Tidal ${randomBytes(9).toString('base64url')} lantern`;
    await page.fill('#new-password', password);
    await page.fill('#new-password-again', password);
    await page.click('#newpassword-submit');
    await step(page, 'enrol');
    const [setup] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/v1/auth/mfa/totp/setup')),
      page.click('#setup-totp'),
    ]);
    await page.locator('#enrol-form').waitFor();
    const { otpauthUri } = (await setup.json()) as { otpauthUri: string };
    const qr = await page.locator('#totp-qr svg').boundingBox();
    expect(qr!.width).toBeGreaterThanOrEqual(150);
    expect(Math.abs(qr!.width - qr!.height)).toBeLessThan(2);
    expect(await scanQr(page, '#totp-qr')).toBe(otpauthUri);
    await page.locator('#totp-qr').scrollIntoViewIfNeeded();
    await expectPhoneFirst(page, 'enrol');
  });

  it('shows the organisation on the portal verification page, says why it asks, and switches to Spanish', async () => {
    const link = await portalLink();
    const page = await (await browser.newContext()).newPage();
    await page.goto(link);
    await expectBrand(page);
    expect(await page.locator('#why').textContent()).toBe(
      'We ask for your date of birth so that only you can read this message.',
    );
    await expectPhoneFirst(page, 'portal');
    await page.click('#lang-es');
    expect(await page.locator('h1').textContent()).toBe('Mensaje seguro');
    expect(await page.locator('html').getAttribute('lang')).toBe('es');
    await expectBrand(page);
  });

  it("shows the organisation on the patient portal's sign-in, with the reason it asks for a contact", async () => {
    for (const path of ['/portal/notifications', '/portal/inbox']) {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${base}${path}`);
      await page.locator('#signin').waitFor();
      await expectBrand(page);
      expect(await page.locator('#signin .sp-why').isVisible()).toBe(true);
      await expectPhoneFirst(page, path === '/portal/inbox' ? 'portal-inbox-signin' : 'portal-signin');
      await page.context().close();
    }
  });

  it('lets a reader verify and read the message with JavaScript turned off', async () => {
    const link = await portalLink();
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: PHONE });
    const page = await context.newPage();
    await page.goto(link);
    expect(await page.locator('#brand-name').textContent()).toBe(NAME);
    expect(await page.locator('#brand-logo').evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(64);
    await page.fill('#birthDate', samplePatient().birthDate as string);
    await Promise.all([page.waitForURL(/\/message$/), page.click('#open')]);
    expect(await page.locator('#title').textContent()).toBe('Your results are ready: Lipid panel');
    expect(await page.locator('#brand-name').textContent()).toBe(NAME);
    await shoot(page, 'portal-message-phone');
    await Promise.all([page.waitForURL(/\/message$/), page.click('#acknowledge')]);
    expect(await page.locator('#acknowledged').isVisible()).toBe(true);
    await context.close();
  });
});
