import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TypedApp } from '../types.js';

/** The page's only style sheet, inline and allowed by its hash (no 'unsafe-inline'). */
const STYLE = `body{font-family:system-ui,sans-serif;max-width:30rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}
label{display:block;font-weight:600;margin:.5rem 0 .25rem}input{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}
button{font-size:1rem;padding:.5rem 1rem;margin-top:.75rem}#error{color:#a40000;font-weight:600}code,li{font-family:ui-monospace,monospace}`;

const styleHash = createHash('sha256').update(STYLE, 'utf8').digest('base64');

/**
 * Same-origin script and fetch only; no inline script, no framing, no forms posting anywhere (the
 * script sends JSON, so a page whose script failed cannot leak a password into a URL or elsewhere).
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "connect-src 'self'",
  `style-src 'sha256-${styleHash}'`,
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>Sign in · Sealpost</title><style>${STYLE}</style>
<script src="/login.js" defer></script></head><body data-step="loading"><main>
<h1>Sign in</h1>
<p id="error" role="alert"></p>
<section id="signin" hidden>
<form id="signin-form" method="post"><label for="email">E-mail</label><input id="email" type="email" autocomplete="username" required>
<label for="password">Password</label><input id="password" type="password" autocomplete="current-password" required>
<button id="signin-submit" type="submit">Continue</button></form>
</section>
<section id="mfa" hidden>
<form id="totp-form" method="post"><label for="totp-code">Code from your authenticator app</label>
<input id="totp-code" inputmode="numeric" autocomplete="one-time-code" maxlength="6"><button id="totp-submit" type="submit">Verify</button></form>
<button id="use-key" type="button">Use security key or passkey</button>
<form id="recovery-form" method="post"><label for="recovery-code">Or a recovery code</label>
<input id="recovery-code" autocomplete="off"><button id="recovery-submit" type="submit">Use recovery code</button></form>
</section>
<section id="enrol" hidden>
<p>Your account needs a second factor before you can continue.</p>
<button id="register-key" type="button">Register security key or passkey</button>
<button id="setup-totp" type="button">Set up an authenticator app</button>
<form id="enrol-form" method="post" hidden><p>Key for your app: <code id="totp-secret"></code></p>
<label for="enrol-code">First code from the app</label><input id="enrol-code" inputmode="numeric" autocomplete="one-time-code" maxlength="6">
<button id="enrol-submit" type="submit">Confirm</button></form>
</section>
<section id="codes" hidden>
<p>Recovery codes: each works once if you lose your second factor. Keep them somewhere safe; they are not shown again.</p>
<ol id="recovery-codes"></ol><button id="codes-continue" type="button">I have saved them</button>
</section>
<section id="done" hidden>
<p>Signed in as <strong id="display-name"></strong>.</p><button id="signout" type="button">Sign out</button>
</section>
</main></body></html>`;

const SCRIPT = readFileSync(new URL('../login-page.js', import.meta.url), 'utf8');

/** GET /login and its script: the staff sign-in page (password, then second factor or its enrolment). */
export function loginPages(app: TypedApp): void {
  app.get('/login', { config: { permission: 'public' }, schema: { hide: true } }, async (_req, reply) =>
    // Replaces the strict API policy the onRequest hook set: this page runs its own same-origin script.
    reply.header('content-security-policy', CSP).type('text/html; charset=utf-8').send(PAGE),
  );
  app.get('/login.js', { config: { permission: 'public' }, schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').send(SCRIPT),
  );
}
