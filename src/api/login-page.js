// Staff sign-in pages' script (served as /login.js; no framework, no inline script: CSP script-src 'self').
// The body's data-mode picks the flow:
// - login: password step, then a second factor (TOTP, recovery code, security key / passkey), or enrolment of one;
// - enrol: the invitation link's token and a first password, then the same second-factor enrolment;
// - reset: the reset link's token and a new password.
'use strict';

const $ = (id) => document.getElementById(id);
const MODE = document.body.dataset.mode || 'login';
const SECTIONS = Array.from(document.querySelectorAll('main > section'), (s) => s.id);
const MIN_PASSWORD = 12;
const LANG = document.documentElement.lang === 'es' ? 'es' : 'en';

/**
 * What the script says, in the page's language. In English the server's problem title (and detail)
 * is shown as it is; in Spanish the known codes have their own words, anything else a generic line.
 */
const M = {
  en: {
    failed: 'Something went wrong',
    request: 'Request failed',
    mismatch: 'The two passwords differ; type the same password twice',
    tooShort: (n) => `The password must have at least ${n} characters`,
    keyCancelled: 'The security key or passkey did not answer, or the request was cancelled',
    codes: {},
    details: [],
  },
  es: {
    failed: 'Algo salió mal',
    request: 'La solicitud falló',
    mismatch: 'Las dos contraseñas no coinciden; escriba la misma contraseña dos veces',
    tooShort: (n) => `La contraseña debe tener al menos ${n} caracteres`,
    keyCancelled: 'La llave de seguridad o clave de acceso no respondió, o se canceló la solicitud',
    codes: {
      SP_AUTH_LOGIN_FAILED: 'No se pudo iniciar sesión',
      SP_AUTH_MFA_FAILED: 'No se aceptó el segundo factor',
      SP_AUTH_WEBAUTHN_FAILED: 'No se aceptó la llave de seguridad o clave de acceso',
      SP_AUTH_MFA_NOT_ENROLLED: 'No hay registrado un segundo factor de este tipo',
      SP_AUTH_MFA_NOT_PENDING: 'Esta sesión no espera un segundo factor',
      SP_AUTH_MFA_STALE: 'Cambiar el segundo factor exige haber iniciado sesión hace poco; inicie sesión de nuevo',
      SP_AUTH_MFA_REQUIRED: 'Falta el segundo factor para completar el inicio de sesión',
      SP_AUTH_UNAUTHENTICATED: 'La sesión ha terminado; inicie sesión de nuevo',
      SP_AUTH_TOKEN_INVALID: 'Este enlace no es válido, ha caducado o ya se usó',
      SP_USER_PASSWORD_WEAK: 'La contraseña no cumple la política de contraseñas',
      SP_REQ_VALIDATION: 'Falta un dato o no es válido',
    },
    // The server's detail of SP_USER_PASSWORD_WEAK names the rule broken (never the password).
    details: [
      [/common passwords/, 'está en la lista de contraseñas comunes'],
      [/e-mail address/, 'contiene la dirección de correo'],
      [/characters/, 'debe tener de 12 a 128 caracteres'],
    ],
  },
}[LANG];

/**
 * The one-time token of an enrolment or reset link, taken from the fragment (never sent to any
 * server, so never in a log) and removed from the address bar and this history entry at once, so
 * neither the back button nor a bookmark nor a shoulder-surfer finds it. Kept only in this closure.
 */
let linkToken = '';
if (MODE !== 'login') {
  linkToken = location.hash.slice(1);
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
}

const b64u = {
  enc(buf) {
    const bytes = new Uint8Array(buf);
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  },
  dec(str) {
    const s = atob(str.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((str.length + 3) % 4));
    return Uint8Array.from(s, (c) => c.charCodeAt(0));
  },
};

function show(id) {
  for (const s of SECTIONS) $(s).hidden = s !== id;
  document.body.dataset.step = id;
  $('error').textContent = '';
}

function fail(e) {
  // The server's detail names the rule a password broke (never the password itself).
  $('error').textContent = message(e);
  $('error').dataset.code = e.code || '';
}

function message(e) {
  // A WebAuthn prompt dismissed or timed out: the browser's own words are in its language, not the page's.
  if (!e.code && (e.name === 'NotAllowedError' || e.name === 'AbortError')) return M.keyCancelled;
  if (LANG === 'en' || e.local) return (e.message || M.failed) + (e.detail ? `: ${e.detail}` : '');
  const title = M.codes[e.code] || M.failed;
  const rule = e.detail && M.details.find(([re]) => re.test(e.detail));
  return rule ? `${title}: ${rule[1]}` : title;
}

/** The sign-in step: on this page when it has one, else on /login. */
function toSignIn() {
  if (SECTIONS.includes('signin')) show('signin');
  else location.assign(LANG === 'es' ? '/login?lang=es' : '/login');
}

/** Same-origin JSON call; the session travels in the HttpOnly cookie, never in script. */
async function api(path, body) {
  const init = { method: body === undefined ? 'GET' : 'POST', credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const j = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw Object.assign(new Error((j && j.title) || M.request), { code: j && j.code, detail: j && j.detail });
  return j;
}

function after(answer) {
  if (answer.recoveryCodes) return showCodes(answer.recoveryCodes);
  if (answer.stage === 'active') return finish();
  if (answer.stage === 'mfa') return askFactor(answer.methods);
  return show('enrol');
}

function askFactor(methods) {
  const m = methods || ['totp', 'webauthn', 'recovery'];
  $('totp-form').hidden = !m.includes('totp');
  $('use-key').hidden = !m.includes('webauthn');
  show('mfa');
}

function showCodes(codes) {
  const list = $('recovery-codes');
  list.textContent = '';
  for (const c of codes) {
    const li = document.createElement('li');
    li.textContent = c;
    list.appendChild(li);
  }
  show('codes');
}

async function finish() {
  const me = await api('/v1/me');
  if (!me.session || me.session.stage !== 'active') return toSignIn();
  const next = sameSiteNext();
  if (next) return location.replace(next);
  const f = await api('/v1/auth/mfa');
  $('display-name').textContent = f.displayName;
  show('done');
  // No `?next=`: the console, where people do what their roles allow.
  location.replace('/console/');
}

/** `?next=` (e.g. from /alerts/{id}) when it is a path on this origin; never another site. */
function sameSiteNext() {
  const next = new URLSearchParams(location.search).get('next');
  if (!next || !/^\/(?![\/\\])[^\s\\]*$/.test(next)) return null;
  const url = new URL(next, location.origin);
  return url.origin === location.origin ? url.pathname + url.search : null;
}

function credentialJson(cred) {
  const r = cred.response;
  const response = { clientDataJSON: b64u.enc(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = b64u.enc(r.attestationObject);
    if (r.getTransports) response.transports = r.getTransports();
  } else {
    response.authenticatorData = b64u.enc(r.authenticatorData);
    response.signature = b64u.enc(r.signature);
    if (r.userHandle) response.userHandle = b64u.enc(r.userHandle);
  }
  const out = { id: cred.id, rawId: b64u.enc(cred.rawId), type: cred.type, response, clientExtensionResults: {} };
  if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
  return out;
}

async function registerKey() {
  const o = await api('/v1/auth/webauthn/register/options', {});
  const publicKey = {
    ...o,
    challenge: b64u.dec(o.challenge),
    user: { ...o.user, id: b64u.dec(o.user.id) },
    excludeCredentials: (o.excludeCredentials || []).map((c) => ({ ...c, id: b64u.dec(c.id) })),
  };
  const cred = await navigator.credentials.create({ publicKey });
  after(await api('/v1/auth/webauthn/register/verify', { credential: credentialJson(cred) }));
}

async function useKey() {
  const o = await api('/v1/auth/webauthn/login/options', {});
  const publicKey = {
    ...o,
    challenge: b64u.dec(o.challenge),
    allowCredentials: (o.allowCredentials || []).map((c) => ({ ...c, id: b64u.dec(c.id) })),
  };
  const cred = await navigator.credentials.get({ publicKey });
  after(await api('/v1/auth/webauthn/login/verify', { credential: credentialJson(cred) }));
}

function on(id, event, fn) {
  if (!$(id)) return; // not on this page
  $(id).addEventListener(event, (e) => {
    e.preventDefault();
    // A new attempt: the last one's error no longer describes the page.
    $('error').textContent = '';
    $('error').dataset.code = '';
    fn().catch(fail);
  });
}

on('signin-form', 'submit', async () => {
  const answer = await api('/v1/auth/login', {
    email: $('email').value,
    password: $('password').value,
    transport: 'cookie',
  });
  $('password').value = '';
  after(answer);
});
on('totp-form', 'submit', async () =>
  after(await api('/v1/auth/mfa/totp/verify', { code: $('totp-code').value.trim() })),
);
on('recovery-form', 'submit', async () =>
  after(await api('/v1/auth/mfa/recovery', { code: $('recovery-code').value.trim() })),
);
on('use-key', 'click', useKey);
on('register-key', 'click', registerKey);
on('setup-totp', 'click', async () => {
  const s = await api('/v1/auth/mfa/totp/setup', {});
  $('totp-secret').textContent = s.secret;
  // The server's SVG, parsed as XML (never as HTML, so nothing in it could run) and only its <svg> adopted.
  const svg = new DOMParser().parseFromString(s.qrSvg, 'image/svg+xml').documentElement;
  $('totp-qr').replaceChildren(svg.nodeName === 'svg' ? document.importNode(svg, true) : '');
  $('enrol-form').hidden = false;
});
on('enrol-form', 'submit', async () =>
  after(await api('/v1/auth/mfa/totp/confirm', { code: $('enrol-code').value.trim() })),
);
on('codes-continue', 'click', finish);
on('signout', 'click', async () => {
  await api('/v1/auth/logout', {});
  toSignIn();
});

/**
 * The language switch is a plain link (`?lang=…&next=…`, rendered by the server, so it works before
 * this script runs). Followed from here, it keeps whatever `?next=` the address has now and, on the
 * enrolment and reset pages, carries the link's token in the fragment (never sent to the server) so
 * the page in the other language can still use it; that page removes it from the address at once.
 */
for (const a of document.querySelectorAll('.sp-lang a[hreflang]')) {
  a.addEventListener('click', (e) => {
    const q = new URLSearchParams(location.search);
    q.set('lang', a.hreflang);
    const next = q.get('next');
    q.delete('next');
    if (next) q.set('next', next);
    e.preventDefault();
    location.assign(`${location.pathname}?${q.toString()}${linkToken ? `#${linkToken}` : ''}`);
  });
}

/** A used, expired or unknown link: say so and offer no form (the token is forgotten). */
function linkInvalid() {
  linkToken = '';
  show('invalid');
  $('invalid').dataset.code = 'SP_AUTH_TOKEN_INVALID';
}

on('newpassword-form', 'submit', async () => {
  const password = $('new-password').value;
  const again = $('new-password-again').value;
  // Neither field keeps the password after an attempt, whatever its outcome.
  $('new-password').value = '';
  $('new-password-again').value = '';
  if (password !== again) throw Object.assign(new Error(M.mismatch), { code: 'mismatch', local: true });
  if ([...password].length < MIN_PASSWORD)
    throw Object.assign(new Error(M.tooShort(MIN_PASSWORD)), { code: 'too_short', local: true });
  try {
    if (MODE === 'enrol') {
      const answer = await api('/v1/auth/enrol', { token: linkToken, password, transport: 'cookie' });
      linkToken = '';
      return after(answer);
    }
    await api('/v1/auth/password-reset/complete', { token: linkToken, password });
    linkToken = '';
    show('reset-done');
  } catch (e) {
    if (e.code === 'SP_AUTH_TOKEN_INVALID') return linkInvalid();
    throw e; // e.g. SP_USER_PASSWORD_WEAK: the token stays usable for another try
  }
});

/** Shows the password form only for a link the server still honours (it is not used up by asking). */
function askForPassword(purpose) {
  api('/v1/auth/link-check', { purpose, token: linkToken })
    .then(() => show('newpassword'))
    .catch((e) => (e.code === 'SP_AUTH_TOKEN_INVALID' ? linkInvalid() : fail(e)));
}

if (MODE === 'reset') {
  if (linkToken) askForPassword('password_reset');
  else linkInvalid();
} else if (MODE === 'enrol') {
  if (linkToken) askForPassword('enrolment');
  // Reloaded after the password was set (the token is gone by then): the session says where enrolment stands.
  else
    api('/v1/me')
      .then((me) =>
        me.session && me.session.stage === 'active'
          ? finish()
          : me.session && me.session.stage === 'mfa_enrol'
            ? show('enrol')
            : linkInvalid(),
      )
      .catch(linkInvalid);
} else {
  // A page opened with a live session (reload) continues where sign-in stands.
  api('/v1/me')
    .then((me) =>
      me.session && me.session.stage === 'active'
        ? finish()
        : me.session && me.session.stage === 'mfa'
          ? askFactor()
          : me.session
            ? show('enrol')
            : show('signin'),
    )
    .catch(() => show('signin'));
}
