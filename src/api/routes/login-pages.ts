import { readFileSync } from 'node:fs';
import type { RoutePlugin } from '../types.js';
import type { BrandingService } from '../../core/branding-service.js';
import { DEFAULT_TENANT } from '../../core/domain.js';
import { BRANDED_PAGE_CSP, brandHeader, brandLinks, type PageBrand } from '../design/page-brand.js';

/**
 * Same-origin script, fetch, style sheets and images only; no inline script or style, no framing,
 * no forms posting anywhere (the script sends JSON, so a page whose script failed cannot leak a
 * password into a URL or elsewhere).
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "connect-src 'self'",
  ...BRANDED_PAGE_CSP,
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** Which flow the shared script runs: it reads `data-mode` from the body. */
type Mode = 'login' | 'enrol' | 'reset';

// The sections each page is built from. Section ids are the script's steps (`data-step` on the body).
const SIGNIN = `<section id="signin" hidden>
<p class="sp-why">Staff accounts can open patient records, so signing in takes your password and then a second factor.</p>
<form id="signin-form" method="post"><label for="email">E-mail</label><input id="email" type="email" autocomplete="username" required>
<label for="password">Password</label><input id="password" type="password" autocomplete="current-password" required>
<button id="signin-submit" type="submit">Continue</button></form>
</section>`;

const MFA = `<section id="mfa" hidden>
<p class="sp-why">A second factor proves it is you even if someone else learnt your password.</p>
<form id="totp-form" method="post"><label for="totp-code">Code from your authenticator app</label>
<input id="totp-code" inputmode="numeric" autocomplete="one-time-code" maxlength="6"><button id="totp-submit" type="submit">Verify</button></form>
<button id="use-key" type="button">Use security key or passkey</button>
<form id="recovery-form" method="post"><label for="recovery-code">Or a recovery code</label>
<input id="recovery-code" autocomplete="off"><button id="recovery-submit" type="submit">Use recovery code</button></form>
</section>`;

const ENROL = `<section id="enrol" hidden>
<p>Your account needs a second factor before you can continue.</p>
<p class="sp-why">With a second factor, a stolen password alone cannot open patient records.</p>
<button id="register-key" type="button" class="sp-primary">Register security key or passkey</button>
<button id="setup-totp" type="button">Set up an authenticator app</button>
<form id="enrol-form" method="post" hidden><p>Scan this code with your authenticator app:</p>
<div id="totp-qr" role="img" aria-label="QR code of the authenticator app's key"></div>
<p>Or type in the key: <code id="totp-secret"></code></p>
<label for="enrol-code">First code from the app</label><input id="enrol-code" inputmode="numeric" autocomplete="one-time-code" maxlength="6">
<button id="enrol-submit" type="submit">Confirm</button></form>
</section>`;

const CODES = `<section id="codes" hidden>
<p>Recovery codes: each works once if you lose your second factor. Keep them somewhere safe; they are not shown again.</p>
<ol id="recovery-codes"></ol><button id="codes-continue" type="button" class="sp-primary">I have saved them</button>
</section>`;

const DONE = `<section id="done" hidden>
<p>Signed in as <strong id="display-name"></strong>.</p>
<div id="what-now"><p>Opening the <a id="to-console" href="/console/">console</a>, where you do what your roles allow.
Programs use the API: its reference at <a href="/docs">/docs</a> lists every route and its permission.</p></div>
<button id="signout" type="button">Sign out</button>
</section>`;

/**
 * The new-password form of the enrolment and reset pages. `novalidate`: the script checks length and
 * match itself and says so in words; the policy beyond that (common passwords, the e-mail address in
 * it) is the server's, answered as SP_USER_PASSWORD_WEAK with the rule broken.
 */
const NEW_PASSWORD = (intro: string, submit: string) => `<section id="newpassword" hidden>
<p>${intro}</p>
<p class="sp-why">Your password protects access to patient records: choose one you use nowhere else.</p>
<form id="newpassword-form" method="post" novalidate><label for="new-password">New password (at least 12 characters)</label>
<input id="new-password" type="password" autocomplete="new-password">
<label for="new-password-again">The same password again</label><input id="new-password-again" type="password" autocomplete="new-password">
<button id="newpassword-submit" type="submit">${submit}</button></form>
</section>`;

const INVALID = (what: string) => `<section id="invalid" hidden>
<p><strong>This link is invalid, expired or already used.</strong></p><p>${what}</p>
</section>`;

const RESET_DONE = `<section id="reset-done" hidden>
<p>Your password has been changed and every session of your account has ended.</p><p><a id="to-login" href="/login">Sign in with the new password</a></p>
</section>`;

function page(brand: PageBrand, mode: Mode, title: string, sections: string[]): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${title} · Sealpost</title>${brandLinks(brand)}
<script src="/login.js" defer></script></head><body class="sp-page" data-mode="${mode}" data-step="loading">
${brandHeader(brand)}<main>
<h1>${title}</h1>
<p id="error" role="alert"></p>
${sections.join('\n')}
</main></body></html>`;
}

const PAGES: Record<Mode, (brand: PageBrand) => string> = {
  login: (b) => page(b, 'login', 'Sign in', [SIGNIN, MFA, ENROL, CODES, DONE]),
  enrol: (b) =>
    page(b, 'enrol', 'Set up your account', [
      NEW_PASSWORD('Welcome. Choose the password for your account; a second factor comes next.', 'Set password'),
      INVALID('Open the link from your invitation again, or ask your administrator for a new invitation.'),
      ENROL,
      CODES,
      DONE,
    ]),
  reset: (b) =>
    page(b, 'reset', 'Choose a new password', [
      NEW_PASSWORD('Choose a new password for your account.', 'Change password'),
      INVALID('Open the link from your e-mail again, or ask for a new password-reset e-mail.'),
      RESET_DONE,
    ]),
};

/** One script for every page: it picks its flow from the body's `data-mode`. */
const SCRIPT = readFileSync(new URL('../login-page.js', import.meta.url), 'utf8');

/**
 * The staff sign-in pages and their shared script, all public and under one strict policy:
 * - GET /login: password, then a second factor or its enrolment; then the console (or `?next=`);
 * - GET /enrol: the invitation link (`/enrol#<token>`): first password, then second-factor enrolment;
 * - GET /reset: the password-reset link (`/reset#<token>`): a new password.
 * The one-time token travels in the fragment, which browsers never send, so it reaches neither this
 * route nor a log; the script takes it and removes it from the address bar and history at once.
 * Before sign-in the tenant is unknown: the pages show the default tenant's organisation.
 */
export const loginPages: RoutePlugin<{ branding: BrandingService }> = async (app, { branding }) => {
  const paths: [string, Mode][] = [
    ['/login', 'login'],
    ['/enrol', 'enrol'],
    ['/reset', 'reset'],
  ];
  for (const [path, mode] of paths) {
    app.get(path, { config: { permission: 'public' }, schema: { hide: true } }, async (_req, reply) => {
      const brand = { tenantId: DEFAULT_TENANT, branding: await branding.get(DEFAULT_TENANT) };
      // Replaces the strict API policy the onRequest hook set: these pages run their own same-origin script.
      return reply
        .header('content-security-policy', CSP)
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(PAGES[mode](brand));
    });
  }
  app.get('/login.js', { config: { permission: 'public' }, schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').send(SCRIPT),
  );
};
