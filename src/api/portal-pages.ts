import type { Language } from '../core/domain.js';
import { brandHeader, brandLinks, escapeHtml, type PageBrand } from './design/page-brand.js';

export { escapeHtml };

/**
 * The policy of the portal's server-rendered pages: no script at all, the shared and brand style
 * sheets and the logo from this origin, forms posting only here.
 */
export const PORTAL_PAGE_CSP =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Server-rendered portal pages: no JavaScript, every value HTML-escaped, strings in en and es. */
const T = {
  en: {
    title: 'Secure message',
    intro: (org: string) => `You have a secure message from ${org}. To read it, confirm your date of birth.`,
    why: 'We ask for your date of birth so that only you can read this message.',
    dob: 'Date of birth',
    orWord: 'or',
    open: 'Open message',
    or: 'Get a one-time code on the phone or e-mail this message was sent to.',
    sendCode: 'Send me a code',
    codeSent: 'If a contact point is on file, a code is on its way. Enter it below.',
    code: 'One-time code',
    verifyCode: 'Verify code',
    wrong: (left: number) => `That did not match. ${left} attempt${left === 1 ? '' : 's'} left.`,
    missing: 'Enter your date of birth or a one-time code.',
    invalid:
      'This link is invalid, has expired, has already been used, or was locked after too many attempts. Please contact your care team.',
    ack: 'Acknowledge',
    acked: 'Thank you. You have acknowledged this message.',
  },
  es: {
    title: 'Mensaje seguro',
    intro: (org: string) => `Tiene un mensaje seguro de ${org}. Para leerlo, confirme su fecha de nacimiento.`,
    why: 'Le pedimos su fecha de nacimiento para que solo usted pueda leer este mensaje.',
    dob: 'Fecha de nacimiento',
    orWord: 'o',
    open: 'Abrir mensaje',
    or: 'Reciba un código de un solo uso en el teléfono o correo al que se envió este mensaje.',
    sendCode: 'Enviarme un código',
    codeSent: 'Si hay un contacto registrado, el código está en camino. Escríbalo abajo.',
    code: 'Código de un solo uso',
    verifyCode: 'Verificar código',
    wrong: (left: number) => `No coincide. Le quedan ${left} intento${left === 1 ? '' : 's'}.`,
    missing: 'Escriba su fecha de nacimiento o un código de un solo uso.',
    invalid:
      'Este enlace no es válido, ha caducado, ya se usó o se bloqueó tras demasiados intentos. Comuníquese con su equipo de atención.',
    ack: 'Confirmar lectura',
    acked: 'Gracias. Ha confirmado la lectura de este mensaje.',
  },
} as const;

/** The language a portal page was asked for (`?lang=`), else the patient's. */
export function portalLanguage(query: unknown, fallback: Language): Language {
  return query === 'es' || query === 'en' ? query : fallback;
}

function layout(brand: PageBrand, lang: Language, body: string, switchTo?: (l: Language) => string): string {
  return `<!doctype html>
<html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${T[lang].title}</title>${brandLinks(brand)}</head>
<body class="sp-page">${brandHeader(brand, { lang, switchTo })}<main>${body}</main></body></html>`;
}

export function verifyPage(o: {
  brand: PageBrand;
  lang: Language;
  organisation: string;
  token: string;
  error?: string;
  codeSent?: boolean;
  /** The reader picked the language with the switch: the forms carry it on. */
  langChosen?: boolean;
}): string {
  const t = T[o.lang];
  const base = `/m/${escapeHtml(o.token)}`;
  // A language the reader chose (`?lang=`) stays through the forms; otherwise the patient's own applies.
  const q = o.langChosen ? `?lang=${o.lang}` : '';
  return layout(
    o.brand,
    o.lang,
    `<h1>${t.title}</h1><p>${escapeHtml(t.intro(o.organisation))}</p>
<p class="sp-why" id="why">${t.why}</p>
${o.error ? `<p class="error" role="alert" id="error">${escapeHtml(o.error)}</p>` : ''}
<form method="post" action="${base}/verify${q}"><label for="birthDate">${t.dob}</label>
<input id="birthDate" name="birthDate" type="date" required autocomplete="bday"><button type="submit" id="open">${t.open}</button></form>
<p class="sp-divider">${t.orWord}</p>
<p>${t.or}</p>
${o.codeSent ? `<p class="ok" id="code-sent" role="status">${t.codeSent}</p>` : ''}
<form method="post" action="${base}/code${q}"><button type="submit" id="send-code" class="sp-secondary">${t.sendCode}</button></form>
<form method="post" action="${base}/verify${q}"><label for="code">${t.code}</label>
<input id="code" name="code" inputmode="numeric" pattern="[0-9]{6}" autocomplete="one-time-code" required><button type="submit" id="verify-code">${t.verifyCode}</button></form>`,
    (l) => `/m/${o.token}?lang=${l}`,
  );
}

export function messagePage(o: {
  brand: PageBrand;
  lang: Language;
  token: string;
  title: string;
  body: string;
  acknowledged: boolean;
  /** The other notifications of a digest nudge, shown below the first. */
  digest?: { title: string; body: string }[];
}): string {
  const t = T[o.lang];
  const more = (o.digest ?? [])
    .map(
      (m) =>
        `<section class="digest-item"><h2>${escapeHtml(m.title)}</h2><div class="message">${escapeHtml(m.body)}</div></section>`,
    )
    .join('');
  return layout(
    o.brand,
    o.lang,
    `<h1 id="title">${escapeHtml(o.title)}</h1><div class="message" id="message">${escapeHtml(o.body)}</div>${more}
${o.acknowledged ? `<p class="ok" id="acknowledged">${t.acked}</p>` : `<form method="post" action="/m/${escapeHtml(o.token)}/acknowledge"><button type="submit" id="acknowledge">${t.ack}</button></form>`}`,
  );
}

export function invalidLinkPage(brand: PageBrand, lang: Language = 'en'): string {
  return layout(brand, lang, `<h1>${T[lang].title}</h1><p class="error" id="invalid">${T[lang].invalid}</p>`);
}

export function wrongAnswerText(lang: Language, attemptsLeft: number): string {
  return T[lang].wrong(attemptsLeft);
}

export function missingAnswerText(lang: Language): string {
  return T[lang].missing;
}
