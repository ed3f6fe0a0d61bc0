import type { Language } from '../core/domain.js';

/** Server-rendered portal pages: no JavaScript, every value HTML-escaped, strings in en and es. */
const T = {
  en: {
    title: 'Secure message',
    intro: (org: string) => `You have a secure message from ${org}. To read it, confirm your date of birth.`,
    dob: 'Date of birth',
    open: 'Open message',
    or: 'Or get a one-time code on the phone or e-mail this message was sent to.',
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
    dob: 'Fecha de nacimiento',
    open: 'Abrir mensaje',
    or: 'O reciba un código de un solo uso en el teléfono o correo al que se envió este mensaje.',
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

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function layout(lang: Language, body: string): string {
  return `<!doctype html>
<html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${T[lang].title}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}
form{margin:1rem 0}label{display:block;font-weight:600;margin-bottom:.25rem}input{font-size:1rem;padding:.4rem}
button{font-size:1rem;padding:.5rem 1rem;margin-top:.5rem}.error{color:#a40000;font-weight:600}.message{white-space:pre-wrap;border:1px solid #ccc;padding:1rem;border-radius:.5rem}
.ok{color:#0a5d00;font-weight:600}</style></head><body><main>${body}</main></body></html>`;
}

export function verifyPage(o: {
  lang: Language;
  organisation: string;
  token: string;
  error?: string;
  codeSent?: boolean;
}): string {
  const t = T[o.lang];
  const base = `/m/${escapeHtml(o.token)}`;
  return layout(
    o.lang,
    `<h1>${t.title}</h1><p>${escapeHtml(t.intro(o.organisation))}</p>
${o.error ? `<p class="error" role="alert" id="error">${escapeHtml(o.error)}</p>` : ''}
<form method="post" action="${base}/verify"><label for="birthDate">${t.dob}</label>
<input id="birthDate" name="birthDate" type="date" required autocomplete="bday"><br><button type="submit" id="open">${t.open}</button></form>
<p>${t.or}</p>
${o.codeSent ? `<p class="ok" id="code-sent">${t.codeSent}</p>` : ''}
<form method="post" action="${base}/code"><button type="submit" id="send-code">${t.sendCode}</button></form>
<form method="post" action="${base}/verify"><label for="code">${t.code}</label>
<input id="code" name="code" inputmode="numeric" pattern="[0-9]{6}" autocomplete="one-time-code" required><br><button type="submit" id="verify-code">${t.verifyCode}</button></form>`,
  );
}

export function messagePage(o: {
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
    o.lang,
    `<h1 id="title">${escapeHtml(o.title)}</h1><div class="message" id="message">${escapeHtml(o.body)}</div>${more}
${o.acknowledged ? `<p class="ok" id="acknowledged">${t.acked}</p>` : `<form method="post" action="/m/${escapeHtml(o.token)}/acknowledge"><button type="submit" id="acknowledge">${t.ack}</button></form>`}`,
  );
}

export function invalidLinkPage(lang: Language = 'en'): string {
  return layout(lang, `<h1>${T[lang].title}</h1><p class="error" id="invalid">${T[lang].invalid}</p>`);
}

export function wrongAnswerText(lang: Language, attemptsLeft: number): string {
  return T[lang].wrong(attemptsLeft);
}

export function missingAnswerText(lang: Language): string {
  return T[lang].missing;
}
