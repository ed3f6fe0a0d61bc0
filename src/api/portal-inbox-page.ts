import type { Language } from '../core/domain.js';
import { portalHead, portalScriptCsp, portalSignIn } from './portal-page-shell.js';
import type { PageBrand } from './design/page-brand.js';

/**
 * The portal inbox's server-rendered shell. It holds no patient data: the page script
 * (portal-inbox.js, loaded from /portal/assets/) signs the patient in, registers the browser as a
 * messaging device and decrypts the care-team threads with the SDK, all in the browser.
 */
const T = {
  en: {
    title: 'Secure messages',
    threads: 'Your conversations',
    noThreads: 'You have no conversations yet.',
    back: 'Back to conversations',
    reply: 'Your message',
    attach: 'Attach a file (optional)',
    send: 'Send',
    signout: 'Sign out',
    notifications: 'Your notifications',
  },
  es: {
    title: 'Mensajes seguros',
    threads: 'Sus conversaciones',
    noThreads: 'Todavía no tiene conversaciones.',
    back: 'Volver a las conversaciones',
    reply: 'Su mensaje',
    attach: 'Adjuntar un archivo (opcional)',
    send: 'Enviar',
    signout: 'Cerrar sesión',
    notifications: 'Sus notificaciones',
  },
} as const;

/**
 * Same-origin script, fetch and WebSocket only; no inline script, no framing, no form posts (the
 * script sends JSON). `blob:` downloads are links, not loads, so no other source is needed.
 */
export const INBOX_CSP = portalScriptCsp();

/** The language of the page: `?lang=` when given (en|es), else the browser's first preference we speak. */
export function inboxLanguage(query: string | undefined, acceptLanguage: string | undefined): Language {
  if (query === 'es' || query === 'en') return query;
  const first = (acceptLanguage ?? '').split(',')[0]?.trim().toLowerCase() ?? '';
  return first.startsWith('es') ? 'es' : 'en';
}

export function inboxPage(brand: PageBrand, lang: Language): string {
  const t = T[lang];
  return `${portalHead(brand, lang, t.title, '/portal/assets/inbox.js')}
<nav aria-label="${t.notifications}"><a id="to-notifications" href="/portal/notifications?lang=${lang}">${t.notifications}</a></nav>
<h1>${t.title}</h1>
${portalSignIn(lang)}
<section id="threads" hidden aria-labelledby="threads-title"><h2 id="threads-title">${t.threads}</h2>
<p id="no-threads" hidden>${t.noThreads}</p><ul id="thread-list"></ul>
<button id="signout" type="button">${t.signout}</button></section>
<section id="thread" hidden aria-labelledby="thread-title"><button id="back" type="button">${t.back}</button>
<h2 id="thread-title" tabindex="-1"></h2><ol id="messages" aria-live="polite"></ol>
<form id="reply-form"><label for="reply">${t.reply}</label><textarea id="reply" required maxlength="10000"></textarea>
<label for="attachment">${t.attach}</label><input id="attachment" type="file">
<button id="send" type="submit">${t.send}</button></form></section>
</main></body></html>`;
}
