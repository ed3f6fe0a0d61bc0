// What the portal pages share (served at /portal/assets/portal-common.js, imported by the page
// scripts inbox.js and notifications.js, so it loads before either runs): the page language, the
// status and error lines, JSON calls to the API with the session cookie, and the one-time-code
// sign-in forms. Same-origin module, no inline script; nothing identifying goes into the address bar.

export const lang = document.documentElement.lang === 'es' ? 'es' : 'en';
const T = {
  en: {
    codeSent: 'If this contact is on file, a code is on its way.',
    failed: 'Something went wrong. Please try again.',
    badCode: 'That code did not work. Ask for a new one.',
  },
  es: {
    codeSent: 'Si este contacto está registrado, el código está en camino.',
    failed: 'Algo salió mal. Inténtelo de nuevo.',
    badCode: 'Ese código no funcionó. Pida uno nuevo.',
  },
}[lang];

export const $ = (id) => document.getElementById(id);
export const say = (text) => ($('status').textContent = text);
export const fail = (e) => {
  $('error').textContent = e?.status === 401 && e?.code === 'SP_AUTH_CODE_INVALID' ? T.badCode : T.failed;
  if (e?.code) $('error').dataset.code = e.code;
};
export const clearError = () => {
  $('error').textContent = '';
  delete $('error').dataset.code;
};

/** JSON to and from the API with the session cookie (same origin; the server checks Origin). */
export async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return null;
  const json = await res.json().catch(() => null);
  if (!res.ok)
    throw Object.assign(new Error(json?.code ?? String(res.status)), { status: res.status, code: json?.code });
  return json;
}

const contactOf = (value) =>
  value.includes('@')
    ? { system: 'email', value: value.trim() }
    : { system: 'sms', value: value.replace(/[\s()-]/g, '') };

/**
 * Wires the sign-in forms (#contact-form asks for a code, #code-form sends it back for a session
 * cookie); `signedIn` runs once the code was accepted.
 */
export function wireSignIn(signedIn) {
  $('contact-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError();
    try {
      await api('POST', '/v1/patient-auth/start', { contact: contactOf($('contact').value) });
      say(T.codeSent);
      $('code-form').hidden = false;
      $('code').focus();
    } catch (e) {
      fail(e);
    }
  });

  $('code-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError();
    try {
      await api('POST', '/v1/patient-auth/verify', {
        contact: contactOf($('contact').value),
        code: $('code').value.trim(),
        transport: 'cookie',
      });
      $('code').value = '';
    } catch (e) {
      fail(e);
      return;
    }
    await signedIn();
  });
}
