import { readFileSync } from 'node:fs';
import type { RoutePlugin } from '../types.js';
import type { BrandingService } from '../../core/branding-service.js';
import { DEFAULT_TENANT, type Language } from '../../core/domain.js';
import { inboxLanguage } from '../portal-inbox-page.js';
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

/** Every visible string of the pages, in both languages (the script's messages are in login-page.js). */
const T = {
  en: {
    toLogin: '/login',
    signin: 'Sign in',
    enrolTitle: 'Set up your account',
    resetTitle: 'Choose a new password',
    signinWhy: 'Staff accounts can open patient records, so signing in takes your password and then a second factor.',
    email: 'E-mail',
    password: 'Password',
    continue: 'Continue',
    mfaWhy: 'A second factor proves it is you even if someone else learnt your password.',
    totpCode: 'Code from your authenticator app',
    verify: 'Verify',
    useKey: 'Use security key or passkey',
    recoveryCode: 'Or a recovery code',
    useRecovery: 'Use recovery code',
    enrolNeed: 'Your account needs a second factor before you can continue.',
    enrolWhy: 'With a second factor, a stolen password alone cannot open patient records.',
    registerKey: 'Register security key or passkey',
    setupTotp: 'Set up an authenticator app',
    scan: 'Scan this code with your authenticator app:',
    qrLabel: "QR code of the authenticator app's key",
    typeKey: 'Or type in the key:',
    firstCode: 'First code from the app',
    confirm: 'Confirm',
    codes:
      'Recovery codes: each works once if you lose your second factor. Keep them somewhere safe; they are not shown again.',
    saved: 'I have saved them',
    signedInAs: 'Signed in as',
    whatNow:
      'Opening the <a id="to-console" href="/console/">console</a>, where you do what your roles allow. Programs use the API: its reference at <a href="/docs">/docs</a> lists every route and its permission.',
    signout: 'Sign out',
    passwordWhy: 'Your password protects access to patient records: choose one you use nowhere else.',
    newPassword: 'New password (at least 12 characters)',
    again: 'The same password again',
    invalid: 'This link is invalid, expired or already used.',
    welcome: 'Welcome. Choose the password for your account; a second factor comes next.',
    setPassword: 'Set password',
    invitationAgain: 'Open the link from your invitation again, or ask your administrator for a new invitation.',
    chooseNew: 'Choose a new password for your account.',
    changePassword: 'Change password',
    resetAgain: 'Open the link from your e-mail again, or ask for a new password-reset e-mail.',
    resetDone: 'Your password has been changed and every session of your account has ended.',
    signinNew: 'Sign in with the new password',
  },
  es: {
    toLogin: '/login?lang=es',
    signin: 'Iniciar sesión',
    enrolTitle: 'Configure su cuenta',
    resetTitle: 'Elija una contraseña nueva',
    signinWhy:
      'Las cuentas del personal pueden abrir historias clínicas, por eso iniciar sesión pide su contraseña y después un segundo factor.',
    email: 'Correo electrónico',
    password: 'Contraseña',
    continue: 'Continuar',
    mfaWhy: 'Un segundo factor demuestra que es usted aunque otra persona conozca su contraseña.',
    totpCode: 'Código de su aplicación de autenticación',
    verify: 'Verificar',
    useKey: 'Usar llave de seguridad o clave de acceso',
    recoveryCode: 'O un código de recuperación',
    useRecovery: 'Usar código de recuperación',
    enrolNeed: 'Su cuenta necesita un segundo factor antes de continuar.',
    enrolWhy: 'Con un segundo factor, una contraseña robada no basta para abrir historias clínicas.',
    registerKey: 'Registrar llave de seguridad o clave de acceso',
    setupTotp: 'Configurar una aplicación de autenticación',
    scan: 'Escanee este código con su aplicación de autenticación:',
    qrLabel: 'Código QR de la clave de la aplicación de autenticación',
    typeKey: 'O escriba la clave:',
    firstCode: 'Primer código de la aplicación',
    confirm: 'Confirmar',
    codes:
      'Códigos de recuperación: cada uno sirve una vez si pierde su segundo factor. Guárdelos en un lugar seguro; no se vuelven a mostrar.',
    saved: 'Ya los he guardado',
    signedInAs: 'Sesión iniciada como',
    whatNow:
      'Abriendo la <a id="to-console" href="/console/">consola</a>, donde hace lo que sus funciones permiten. Los programas usan la API: su referencia en <a href="/docs">/docs</a> enumera cada ruta y su permiso.',
    signout: 'Cerrar sesión',
    passwordWhy: 'Su contraseña protege el acceso a las historias clínicas: elija una que no use en ningún otro sitio.',
    newPassword: 'Contraseña nueva (al menos 12 caracteres)',
    again: 'La misma contraseña otra vez',
    invalid: 'Este enlace no es válido, ha caducado o ya se usó.',
    welcome: 'Bienvenido. Elija la contraseña de su cuenta; después viene un segundo factor.',
    setPassword: 'Guardar contraseña',
    invitationAgain: 'Abra de nuevo el enlace de su invitación o pida a su administrador una invitación nueva.',
    chooseNew: 'Elija una contraseña nueva para su cuenta.',
    changePassword: 'Cambiar contraseña',
    resetAgain: 'Abra de nuevo el enlace de su correo o pida un nuevo correo para restablecer la contraseña.',
    resetDone: 'Su contraseña se ha cambiado y todas las sesiones de su cuenta han terminado.',
    signinNew: 'Iniciar sesión con la contraseña nueva',
  },
} as const;
type Strings = (typeof T)[Language];

// The sections each page is built from. Section ids are the script's steps (`data-step` on the body).
const SIGNIN = (t: Strings) => `<section id="signin" hidden>
<p class="sp-why">${t.signinWhy}</p>
<form id="signin-form" method="post"><label for="email">${t.email}</label><input id="email" type="email" autocomplete="username" required>
<label for="password">${t.password}</label><input id="password" type="password" autocomplete="current-password" required>
<button id="signin-submit" type="submit">${t.continue}</button></form>
</section>`;

const MFA = (t: Strings) => `<section id="mfa" hidden>
<p class="sp-why">${t.mfaWhy}</p>
<form id="totp-form" method="post"><label for="totp-code">${t.totpCode}</label>
<input id="totp-code" inputmode="numeric" autocomplete="one-time-code" maxlength="6"><button id="totp-submit" type="submit">${t.verify}</button></form>
<button id="use-key" type="button">${t.useKey}</button>
<form id="recovery-form" method="post"><label for="recovery-code">${t.recoveryCode}</label>
<input id="recovery-code" autocomplete="off"><button id="recovery-submit" type="submit">${t.useRecovery}</button></form>
</section>`;

const ENROL = (t: Strings) => `<section id="enrol" hidden>
<p>${t.enrolNeed}</p>
<p class="sp-why">${t.enrolWhy}</p>
<button id="register-key" type="button" class="sp-primary">${t.registerKey}</button>
<button id="setup-totp" type="button">${t.setupTotp}</button>
<form id="enrol-form" method="post" hidden><p>${t.scan}</p>
<div id="totp-qr" role="img" aria-label="${t.qrLabel}"></div>
<p>${t.typeKey} <code id="totp-secret"></code></p>
<label for="enrol-code">${t.firstCode}</label><input id="enrol-code" inputmode="numeric" autocomplete="one-time-code" maxlength="6">
<button id="enrol-submit" type="submit">${t.confirm}</button></form>
</section>`;

const CODES = (t: Strings) => `<section id="codes" hidden>
<p>${t.codes}</p>
<ol id="recovery-codes"></ol><button id="codes-continue" type="button" class="sp-primary">${t.saved}</button>
</section>`;

const DONE = (t: Strings) => `<section id="done" hidden>
<p>${t.signedInAs} <strong id="display-name"></strong>.</p>
<div id="what-now"><p>${t.whatNow}</p></div>
<button id="signout" type="button">${t.signout}</button>
</section>`;

/**
 * The new-password form of the enrolment and reset pages. `novalidate`: the script checks length and
 * match itself and says so in words; the policy beyond that (common passwords, the e-mail address in
 * it) is the server's, answered as SP_USER_PASSWORD_WEAK with the rule broken.
 */
const NEW_PASSWORD = (t: Strings, intro: string, submit: string) => `<section id="newpassword" hidden>
<p>${intro}</p>
<p class="sp-why">${t.passwordWhy}</p>
<form id="newpassword-form" method="post" novalidate><label for="new-password">${t.newPassword}</label>
<input id="new-password" type="password" autocomplete="new-password">
<label for="new-password-again">${t.again}</label><input id="new-password-again" type="password" autocomplete="new-password">
<button id="newpassword-submit" type="submit">${submit}</button></form>
</section>`;

const INVALID = (t: Strings, what: string) => `<section id="invalid" hidden>
<p><strong>${t.invalid}</strong></p><p>${what}</p>
</section>`;

const RESET_DONE = (t: Strings) => `<section id="reset-done" hidden>
<p>${t.resetDone}</p><p><a id="to-login" href="${t.toLogin}">${t.signinNew}</a></p>
</section>`;

/**
 * The language switch: plain links (they work before the script runs) to the same page in the other
 * language, keeping `?next=`. The enrolment and reset tokens live in the fragment, which only the
 * script knows; it carries the token across the switch (login-page.js).
 */
function switchTo(next: string | undefined) {
  return (l: Language) => {
    const q = new URLSearchParams({ lang: l });
    if (next) q.set('next', next);
    return `?${q.toString()}`;
  };
}

function page(
  brand: PageBrand,
  lang: Language,
  next: string | undefined,
  mode: Mode,
  title: string,
  sections: string[],
): string {
  return `<!doctype html>
<html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${title} · Sealpost</title>${brandLinks(brand)}
<script src="/login.js" defer></script></head><body class="sp-page" data-mode="${mode}" data-step="loading">
${brandHeader(brand, { lang, switchTo: switchTo(next) })}<main>
<h1>${title}</h1>
<p id="error" role="alert"></p>
${sections.join('\n')}
</main></body></html>`;
}

type Render = (brand: PageBrand, lang: Language, next: string | undefined) => string;
const PAGES: Record<Mode, Render> = {
  login: (b, l, n) => {
    const t = T[l];
    return page(b, l, n, 'login', t.signin, [SIGNIN(t), MFA(t), ENROL(t), CODES(t), DONE(t)]);
  },
  enrol: (b, l, n) => {
    const t = T[l];
    return page(b, l, n, 'enrol', t.enrolTitle, [
      NEW_PASSWORD(t, t.welcome, t.setPassword),
      INVALID(t, t.invitationAgain),
      ENROL(t),
      CODES(t),
      DONE(t),
    ]);
  },
  reset: (b, l, n) => {
    const t = T[l];
    return page(b, l, n, 'reset', t.resetTitle, [
      NEW_PASSWORD(t, t.chooseNew, t.changePassword),
      INVALID(t, t.resetAgain),
      RESET_DONE(t),
    ]);
  },
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
 * Before sign-in the tenant is unknown: the pages show the default tenant's organisation. English or
 * Spanish by `?lang=en|es`, else the browser's Accept-Language.
 */
export const loginPages: RoutePlugin<{ branding: BrandingService }> = async (app, { branding }) => {
  const paths: [string, Mode][] = [
    ['/login', 'login'],
    ['/enrol', 'enrol'],
    ['/reset', 'reset'],
  ];
  for (const [path, mode] of paths) {
    app.get(path, { config: { permission: 'public' }, schema: { hide: true } }, async (req, reply) => {
      const brand = { tenantId: DEFAULT_TENANT, branding: await branding.get(DEFAULT_TENANT) };
      const q = (req.query ?? {}) as Record<string, unknown>;
      const lang = inboxLanguage(typeof q.lang === 'string' ? q.lang : undefined, req.headers['accept-language']);
      // Kept as given across the switch (escaped there); the script alone decides whether to follow it.
      const next = typeof q.next === 'string' && q.next.length <= 2000 ? q.next : undefined;
      // Replaces the strict API policy the onRequest hook set: these pages run their own same-origin script.
      return reply
        .header('content-security-policy', CSP)
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .header('vary', 'accept-language')
        .send(PAGES[mode](brand, lang, next));
    });
  }
  app.get('/login.js', { config: { permission: 'public' }, schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').send(SCRIPT),
  );
};
