import type { Language } from '../core/domain.js';
import { BRANDED_PAGE_CSP, brandHeader, brandLinks, type PageBrand } from './design/page-brand.js';

/**
 * The policy of a portal page with a script: same-origin script, fetch, style sheets and images;
 * no inline script or style, no framing, no form posts (the script sends JSON). `extra` adds the
 * page's own sources (e.g. a service worker).
 */
export function portalScriptCsp(extra: string[] = []): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "connect-src 'self'",
    ...extra,
    ...BRANDED_PAGE_CSP,
    "form-action 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/**
 * The pieces the portal pages' server-rendered shells share (`/portal/inbox`, `/portal/notifications`):
 * the document head with the page's own style sheet and module script, and the status and error
 * lines with the one-time-code sign-in forms the shared page script (portal-common.js) drives.
 * No patient data: everything a patient sees arrives through the API after sign-in.
 */
const T = {
  en: {
    loading: 'Loading…',
    signinIntro: 'Sign in with the e-mail address or mobile number your care team has on file.',
    why: 'We send a one-time code there so that only you can open your messages.',
    contact: 'E-mail or mobile number',
    sendCode: 'Send me a code',
    code: 'Code you received',
    verify: 'Sign in',
  },
  es: {
    loading: 'Cargando…',
    signinIntro:
      'Inicie sesión con el correo electrónico o el número de móvil que su equipo de atención tiene registrado.',
    why: 'Le enviamos allí un código de un solo uso para que solo usted pueda abrir sus mensajes.',
    contact: 'Correo electrónico o número de móvil',
    sendCode: 'Enviarme un código',
    code: 'Código recibido',
    verify: 'Iniciar sesión',
  },
} as const;

/**
 * From the doctype to the opening `<main>`: the shared and brand style sheets, the page's module
 * script, and the organisation's bar with the language switch (`?lang=`).
 */
export function portalHead(brand: PageBrand, lang: Language, title: string, script: string): string {
  return `<!doctype html>
<html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${title}</title>${brandLinks(brand)}
<script type="module" src="${script}"></script></head>
<body class="sp-page" data-step="loading">${brandHeader(brand, { lang, switchTo: (l) => `?lang=${l}` })}<main>`;
}

/** The status and error lines and the sign-in section (hidden until the script shows it). */
export function portalSignIn(lang: Language): string {
  const t = T[lang];
  return `<p id="status" role="status" aria-live="polite">${t.loading}</p>
<p id="error" role="alert"></p>
<section id="signin" hidden><p>${t.signinIntro}</p><p class="sp-why">${t.why}</p>
<form id="contact-form"><label for="contact">${t.contact}</label>
<input id="contact" autocomplete="username" required maxlength="254"><button id="send-code" type="submit">${t.sendCode}</button></form>
<form id="code-form" hidden><label for="code">${t.code}</label>
<input id="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required>
<button id="verify" type="submit">${t.verify}</button></form>
</section>`;
}
