import { createHash } from 'node:crypto';
import type { Language } from '../core/domain.js';
import { portalHead, portalSignIn } from './portal-page-shell.js';

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

/** The page's only style sheet, inline and allowed by its hash. Narrow screens first (390 px phones). */
const STYLE = `*{box-sizing:border-box}body{font-family:system-ui,sans-serif;max-width:40rem;margin:0 auto;padding:1rem;line-height:1.5;color:#1b1b1b}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}input,textarea{font-size:1rem;padding:.5rem;width:100%}
textarea{min-height:5rem}button{font-size:1rem;padding:.6rem 1rem;margin-top:.75rem;min-height:2.75rem}
button:focus-visible,a:focus-visible,input:focus-visible,textarea:focus-visible{outline:3px solid #0b57d0;outline-offset:2px}
#error{color:#a40000;font-weight:600}#thread-list{list-style:none;padding:0}#thread-list button{width:100%;text-align:left}
#messages{list-style:none;padding:0}#messages li{border:1px solid #ccc;border-radius:.5rem;padding:.5rem .75rem;margin:.5rem 0;overflow-wrap:anywhere}
#messages li.mine{background:#eef4ff}.meta{font-size:.85rem;color:#555}.text{white-space:pre-wrap}`;

const styleHash = createHash('sha256').update(STYLE, 'utf8').digest('base64');

/**
 * Same-origin script, fetch and WebSocket only; no inline script, no framing, no form posts (the
 * script sends JSON). `blob:` downloads are links, not loads, so no other source is needed.
 */
export const INBOX_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "connect-src 'self'",
  `style-src 'sha256-${styleHash}'`,
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** The language of the page: `?lang=` when given (en|es), else the browser's first preference we speak. */
export function inboxLanguage(query: string | undefined, acceptLanguage: string | undefined): Language {
  if (query === 'es' || query === 'en') return query;
  const first = (acceptLanguage ?? '').split(',')[0]?.trim().toLowerCase() ?? '';
  return first.startsWith('es') ? 'es' : 'en';
}

export function inboxPage(lang: Language): string {
  const t = T[lang];
  return `${portalHead(lang, t.title, STYLE, '/portal/assets/inbox.js')}
<nav><a id="to-notifications" href="/portal/notifications">${t.notifications}</a></nav>
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
