import type { Language } from '../core/domain.js';
import { portalHead, portalScriptCsp, portalSignIn } from './portal-page-shell.js';
import type { PageBrand } from './design/page-brand.js';

/**
 * The signed-in patient's portal home (`/portal/notifications`): notifications (unread count, newest
 * first, live over Server-Sent Events, read and acknowledge), preferences, consents and devices.
 * The server renders a shell without patient data; the page script (portal-notifications.js, from
 * /portal/assets/) signs the patient in and fetches everything through the patient's own API.
 */
const T = {
  en: {
    title: 'Your notifications',
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

/**
 * Same-origin script, fetch, EventSource and service worker only; no inline script, no framing, no
 * form posts (the script sends JSON).
 */
export const NOTIFICATIONS_CSP = portalScriptCsp(["worker-src 'self'"]);

export function notificationsPage(brand: PageBrand, lang: Language): string {
  const t = T[lang];
  return `${portalHead(brand, lang, t.title, '/portal/assets/notifications.js')}
<nav aria-label="${t.messages}"><a id="to-messages" href="/portal/inbox?lang=${lang}">${t.messages}</a></nav>
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
