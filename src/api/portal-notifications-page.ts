import { createHash } from 'node:crypto';
import type { Language } from '../core/domain.js';
import { portalHead, portalSignIn } from './portal-page-shell.js';

/**
 * The signed-in patient's portal home (`/portal/notifications`): notifications (unread count, newest
 * first, live over Server-Sent Events, read and acknowledge), preferences, consents and devices.
 * The server renders a shell without patient data; the page script (portal-notifications.js, from
 * /portal/assets/) signs the patient in and fetches everything through the patient's own API.
 */
const T = {
  en: {
    title: 'Your notifications',
    language: 'Language',
    messages: 'Secure messages',
    notifications: 'Notifications',
    none: 'You have no notifications.',
    back: 'Back to notifications',
    acknowledge: 'Acknowledge',
    preferences: 'Preferences',
    consents: 'What we may send you',
    devices: 'Your devices',
    signout: 'Sign out',
  },
  es: {
    title: 'Sus notificaciones',
    language: 'Idioma',
    messages: 'Mensajes seguros',
    notifications: 'Notificaciones',
    none: 'No tiene notificaciones.',
    back: 'Volver a las notificaciones',
    acknowledge: 'Confirmar lectura',
    preferences: 'Preferencias',
    consents: 'Qué podemos enviarle',
    devices: 'Sus dispositivos',
    signout: 'Cerrar sesión',
  },
} as const;

/** The page's only style sheet, inline and allowed by its hash. Narrow screens first (390 px phones). */
const STYLE = `*{box-sizing:border-box}body{font-family:system-ui,sans-serif;max-width:44rem;margin:0 auto;padding:1rem;line-height:1.5;color:#1b1b1b}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}input,select{font-size:1rem;padding:.5rem;width:100%}input[type=checkbox]{width:auto}
button{font-size:1rem;padding:.6rem 1rem;margin-top:.75rem;min-height:2.75rem}
button:focus-visible,a:focus-visible,input:focus-visible,select:focus-visible{outline:3px solid #0b57d0;outline-offset:2px}
nav{display:flex;gap:1rem;flex-wrap:wrap}main{overflow-wrap:anywhere}#error{color:#a40000;font-weight:600}.ok{color:#0a5d00}
ul{list-style:none;padding:0}#notification-list button{width:100%;text-align:left}
#notification-list li.unread button{font-weight:700;border-left:4px solid #0b57d0}
.meta{font-size:.85rem;color:#555}.body{white-space:pre-wrap;border:1px solid #ccc;border-radius:.5rem;padding:.75rem;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;table-layout:fixed;font-size:.9rem}th,td{text-align:left;padding:.25rem;border-bottom:1px solid #ddd;overflow-wrap:anywhere}
section{margin-top:1.5rem}`;

const styleHash = createHash('sha256').update(STYLE, 'utf8').digest('base64');

/**
 * Same-origin script, fetch, EventSource and service worker only; no inline script, no framing, no
 * form posts (the script sends JSON).
 */
export const NOTIFICATIONS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "connect-src 'self'",
  "worker-src 'self'",
  `style-src 'sha256-${styleHash}'`,
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function notificationsPage(lang: Language): string {
  const t = T[lang];
  return `${portalHead(lang, t.title, STYLE, '/portal/assets/notifications.js')}
<nav aria-label="${t.language}"><a id="lang-en" href="?lang=en" lang="en" hreflang="en">English</a><a id="lang-es" href="?lang=es" lang="es" hreflang="es">Español</a><a id="to-messages" href="/portal/inbox?lang=${lang}">${t.messages}</a></nav>
<h1>${t.title}</h1>
${portalSignIn(lang)}
<div id="home" hidden>
<section id="notifications" aria-labelledby="notifications-title"><h2 id="notifications-title">${t.notifications} <span id="unread-badge"></span></h2>
<p id="unread" aria-live="polite"></p><p id="no-notifications" hidden>${t.none}</p><ul id="notification-list"></ul></section>
<section id="notification" hidden aria-labelledby="notification-title"><button id="back" type="button">${t.back}</button>
<h2 id="notification-title" tabindex="-1"></h2><p class="meta" id="notification-meta"></p><div class="body" id="notification-body"></div>
<button id="acknowledge" type="button">${t.acknowledge}</button><p class="ok" id="acknowledged" hidden></p></section>
<section id="preferences" aria-labelledby="preferences-title"><h2 id="preferences-title">${t.preferences}</h2><div id="preferences-content"></div></section>
<section id="consents" aria-labelledby="consents-title"><h2 id="consents-title">${t.consents}</h2><div id="consents-content"></div></section>
<section id="devices" aria-labelledby="devices-title"><h2 id="devices-title">${t.devices}</h2><div id="devices-content"></div></section>
<button id="signout" type="button">${t.signout}</button>
</div>
</main></body></html>`;
}
