// The patient's portal home (served at /portal/assets/notifications.js, a module of the page
// /portal/notifications). Signs the patient in with a one-time code (session cookie), then shows their
// notifications (newest first, unread count, live over Server-Sent Events, read and acknowledge),
// their preferences and consents (editable) and their devices. Everything comes through the patient's
// own API; the live stream carries counts and ids only. Nothing identifying goes into the address bar.
import { $, api, clearError, fail, lang, say, wireSignIn } from '/portal/assets/portal-common.js';

const TYPES = {
  en: {
    appointment_reminder: 'Appointment reminders',
    test_result_ready: 'Test results',
    medication_reminder: 'Medication reminders',
    prescription_ready: 'Prescriptions',
    follow_up: 'Follow-ups',
    billing_statement: 'Bills',
  },
  es: {
    appointment_reminder: 'Recordatorios de citas',
    test_result_ready: 'Resultados de pruebas',
    medication_reminder: 'Recordatorios de medicamentos',
    prescription_ready: 'Recetas',
    follow_up: 'Seguimientos',
    billing_statement: 'Facturas',
  },
}[lang];
const T = {
  en: {
    ready: 'Signed in.',
    unread: (n) =>
      n === 0 ? 'No unread notifications.' : n === 1 ? '1 unread notification.' : `${n} unread notifications.`,
    status: { unread: 'Unread', read: 'Read', acknowledged: 'Acknowledged' },
    acked: 'You acknowledged this notification.',
    unavailable: 'Not available yet.',
    saved: 'Saved.',
    save: 'Save',
    language: 'Language',
    quietStart: 'Quiet hours start',
    quietEnd: 'Quiet hours end',
    noTextAfter: 'No text messages after',
    channelFor: (type) => `How to reach you: ${type}`,
    anyChannel: 'Any channel',
    channels: { sms: 'Text message', email: 'E-mail', push: 'Push notification', webhook: 'App' },
    purposes: {
      appointment: 'Appointments',
      results: 'Results',
      medication: 'Medication',
      billing: 'Billing',
      care_messages: 'Care messages',
      alerts: 'Alerts',
    },
    purpose: 'Purpose',
    messagingDevices: 'Secure messaging on these devices',
    pushDevices: 'Push notifications on these devices',
    noDevices: 'None.',
    remove: 'Remove',
    registered: (d) => `registered ${d}`,
    enablePush: 'Get push notifications on this browser',
    pushOn: 'Push notifications are on for this browser.',
    pushDenied: 'This browser blocks notifications from this site; allow them in its settings first.',
    signedOut: 'You were signed out.',
    superseded: 'Live updates stopped here because this inbox is open in other windows. Reload to resume them here.',
  },
  es: {
    ready: 'Sesión iniciada.',
    unread: (n) =>
      n === 0
        ? 'No hay notificaciones sin leer.'
        : n === 1
          ? '1 notificación sin leer.'
          : `${n} notificaciones sin leer.`,
    status: { unread: 'Sin leer', read: 'Leída', acknowledged: 'Confirmada' },
    acked: 'Confirmó la lectura de esta notificación.',
    unavailable: 'Todavía no disponible.',
    saved: 'Guardado.',
    save: 'Guardar',
    language: 'Idioma',
    quietStart: 'Inicio de las horas de silencio',
    quietEnd: 'Fin de las horas de silencio',
    noTextAfter: 'Sin mensajes de texto después de las',
    channelFor: (type) => `Cómo contactarle: ${type}`,
    anyChannel: 'Cualquier canal',
    channels: {
      sms: 'Mensaje de texto',
      email: 'Correo electrónico',
      push: 'Notificación push',
      webhook: 'Aplicación',
    },
    purposes: {
      appointment: 'Citas',
      results: 'Resultados',
      medication: 'Medicamentos',
      billing: 'Facturación',
      care_messages: 'Mensajes de atención',
      alerts: 'Alertas',
    },
    purpose: 'Motivo',
    messagingDevices: 'Mensajería segura en estos dispositivos',
    pushDevices: 'Notificaciones push en estos dispositivos',
    noDevices: 'Ninguno.',
    remove: 'Quitar',
    registered: (d) => `registrado el ${d}`,
    enablePush: 'Recibir notificaciones push en este navegador',
    pushOn: 'Las notificaciones push están activadas en este navegador.',
    pushDenied: 'Este navegador bloquea las notificaciones de este sitio; permítalas primero en su configuración.',
    signedOut: 'Se cerró su sesión.',
    superseded:
      'Las actualizaciones en vivo se detuvieron aquí porque esta bandeja está abierta en otras ventanas. Recargue para reanudarlas aquí.',
  },
}[lang];

const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
};
const when = (iso) => new Date(iso).toLocaleString(lang);
/** A section's data, or null when this server does not have that route (yet). */
const optional = (p) =>
  p.catch((e) => (e?.status === 404 && e?.code === 'SP_REQ_NOT_FOUND' ? null : Promise.reject(e)));

let events = null;
/** The last inbox state the list was drawn for. */
let drawn = null;
let openId = null;

function step(name) {
  document.body.dataset.step = name;
  $('signin').hidden = name !== 'signin';
  $('home').hidden = name !== 'home';
}

async function start() {
  try {
    const me = await api('GET', '/v1/me').catch(() => null);
    if (!me || me.kind !== 'patient') {
      step('signin');
      say('');
      $('contact').focus();
      return;
    }
    const state = await api('GET', '/v1/me/inbox');
    // The patient's language, unless this page was asked for one (the language links).
    const asked = new URLSearchParams(location.search).get('lang');
    const prefs = await optional(api('GET', '/v1/me/preferences')).catch(() => null);
    const preferred = prefs?.language ?? state.language;
    if (!asked && (preferred === 'en' || preferred === 'es') && preferred !== lang) {
      location.replace(`${location.pathname}?lang=${preferred}`);
      return;
    }
    step('home');
    say(T.ready);
    await drawList(state);
    listen();
    await Promise.all([drawPreferences(prefs).catch(fail), drawConsents().catch(fail), drawDevices().catch(fail)]);
  } catch (e) {
    fail(e);
    document.body.dataset.step = 'error';
  }
}

wireSignIn(start);

$('signout').addEventListener('click', async () => {
  events?.close();
  events = null;
  await api('POST', '/v1/auth/logout').catch(() => undefined);
  location.reload();
});

// --- notifications ---------------------------------------------------------------------------------

function drawCount(state) {
  $('unread').textContent = T.unread(state.unread);
  $('unread').dataset.count = String(state.unread);
  $('unread-badge').textContent = state.unread ? `(${state.unread})` : '';
}

/** Draws the list for `state` (fetching the notifications, each view audited by the server). */
let drawing = 0;
async function drawList(state) {
  drawCount(state);
  drawn = state;
  // Two draws in flight (two quick changes): only the later one's answer is shown.
  const mine = ++drawing;
  const { items } = await api('GET', '/v1/me/notifications?limit=50');
  if (mine !== drawing) return;
  const list = $('notification-list');
  list.replaceChildren();
  $('no-notifications').hidden = items.length > 0;
  for (const n of items) {
    const button = el(
      'button',
      { type: 'button', className: 'notification', dataset: { id: n.id, status: n.status } },
      el('span', { className: 'title' }, n.title),
      el('br'),
      el('span', { className: 'meta' }, `${when(n.createdAt)} · ${T.status[n.status] ?? n.status}`),
    );
    button.addEventListener('click', () => void openNotification(n.id).catch(fail));
    list.append(el('li', { className: n.status, dataset: { id: n.id } }, button));
  }
}

/** The live stream: each `inbox` event is the state; the list is fetched again only when it changed. */
function listen() {
  events?.close();
  events = new EventSource('/v1/me/inbox/events');
  events.addEventListener('inbox', (ev) => {
    const state = JSON.parse(ev.data);
    drawCount(state);
    const same =
      drawn &&
      drawn.total === state.total &&
      drawn.newest === state.newest &&
      drawn.unread === state.unread &&
      drawn.acknowledged === state.acknowledged;
    if (!same) void drawList(state).catch(fail);
  });
  events.addEventListener('signed-out', () => {
    events?.close();
    events = null;
    step('signin');
    say(T.signedOut);
  });
  // Ended because newer streams of this session or account are open (a per-session and per-account
  // limit): reopening by itself would end another one in turn, so this page stops and says so.
  events.addEventListener('superseded', () => {
    events?.close();
    events = null;
    document.body.dataset.live = 'superseded';
    say(T.superseded);
  });
  events.addEventListener('open', () => (document.body.dataset.live = 'open'));
  events.addEventListener('error', () => {
    // Closed for good (e.g. 401 after the session ended); a dropped connection reconnects by itself.
    if (events?.readyState === EventSource.CLOSED) {
      document.body.dataset.live = 'closed';
      void start();
    }
  });
}

async function openNotification(id) {
  clearError();
  const n = await api('GET', `/v1/me/notifications/${encodeURIComponent(id)}`);
  openId = n.id;
  $('notification-title').textContent = n.title;
  $('notification-meta').textContent = when(n.createdAt);
  $('notification-body').textContent = n.body;
  showAcknowledged(n.status === 'acknowledged');
  $('notifications').hidden = true;
  $('notification').hidden = false;
  $('notification').dataset.id = n.id;
  $('notification').dataset.status = n.status;
  $('notification-title').focus();
}

function showAcknowledged(yes) {
  $('acknowledge').hidden = yes;
  $('acknowledged').hidden = !yes;
  $('acknowledged').textContent = yes ? T.acked : '';
}

$('acknowledge').addEventListener('click', async () => {
  clearError();
  try {
    const n = await api('POST', `/v1/me/notifications/${encodeURIComponent(openId)}/acknowledge`, {});
    $('notification').dataset.status = n.status;
    showAcknowledged(true);
  } catch (e) {
    fail(e);
  }
});

$('back').addEventListener('click', async () => {
  $('notification').hidden = true;
  $('notifications').hidden = false;
  const state = await api('GET', '/v1/me/inbox').catch(() => null);
  if (state) await drawList(state).catch(fail);
  ($('notification-list').querySelector(`li[data-id="${openId}"] button`) ?? $('notifications-title')).focus?.();
  openId = null;
});

// --- preferences ---------------------------------------------------------------------------------

const time = (v) => (typeof v === 'string' && /^\d{2}:\d{2}$/.test(v) ? v : '');

async function drawPreferences(prefs) {
  const box = $('preferences-content');
  box.replaceChildren();
  if (!prefs) return box.append(el('p', { className: 'unavailable' }, T.unavailable));
  const form = el('form', { id: 'preferences-form' });
  const language = el('select', { id: 'pref-language' });
  for (const [v, label] of [
    ['en', 'English'],
    ['es', 'Español'],
  ])
    language.append(el('option', { value: v, selected: (prefs.language ?? lang) === v }, label));
  form.append(el('label', { htmlFor: 'pref-language' }, T.language), language);
  const quiet = prefs.quietHours ?? {};
  for (const [id, label, value] of [
    ['pref-quiet-start', T.quietStart, quiet.start],
    ['pref-quiet-end', T.quietEnd, quiet.end],
    ['pref-no-text-after', T.noTextAfter, prefs.noTextAfter],
  ])
    form.append(el('label', { htmlFor: id }, label), el('input', { id, type: 'time', value: time(value) }));
  const channels = prefs.channels ?? {};
  for (const [type, label] of Object.entries(TYPES)) {
    const id = `pref-channel-${type}`;
    const select = el('select', { id, dataset: { type } });
    select.append(el('option', { value: '' }, T.anyChannel));
    const current = Array.isArray(channels[type]) ? channels[type][0] : channels[type];
    for (const c of ['sms', 'email', 'push'])
      select.append(el('option', { value: c, selected: current === c }, T.channels[c]));
    form.append(el('label', { htmlFor: id }, T.channelFor(label)), select);
  }
  const saved = el('p', { className: 'ok', id: 'preferences-saved', role: 'status' });
  form.append(el('button', { type: 'submit', id: 'save-preferences' }, T.save), saved);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError();
    saved.textContent = '';
    const start = $('pref-quiet-start').value;
    const end = $('pref-quiet-end').value;
    const chosen = {};
    // A type whose first channel stays keeps its whole order (staff may have set fallbacks).
    for (const s of form.querySelectorAll('select[data-type]')) {
      const before = channels[s.dataset.type];
      if (s.value) chosen[s.dataset.type] = Array.isArray(before) && before[0] === s.value ? before : [s.value];
    }
    const body = {
      language: language.value,
      quietHours: start && end ? { start, end } : null,
      noTextAfter: $('pref-no-text-after').value || null,
      channels: chosen,
    };
    try {
      const next = await api('PUT', '/v1/me/preferences', body);
      saved.textContent = T.saved;
      // A new language: the page follows it.
      if ((next?.language ?? body.language) !== lang) location.replace(`${location.pathname}?lang=${body.language}`);
    } catch (e) {
      fail(e);
    }
  });
  box.append(form);
}

// --- consents --------------------------------------------------------------------------------------

async function drawConsents() {
  const box = $('consents-content');
  box.replaceChildren();
  const view = await optional(api('GET', '/v1/me/consents'));
  if (!view) return box.append(el('p', { className: 'unavailable' }, T.unavailable));
  const states = view.state ?? [];
  const channels = [...new Set(states.map((s) => s.channel))].filter((c) => c !== 'webhook');
  const purposes = [...new Set(states.map((s) => s.purpose))];
  const table = el('table', { id: 'consent-table' });
  const head = el('tr', {}, el('th', { scope: 'col' }, T.purpose));
  for (const c of channels) head.append(el('th', { scope: 'col' }, T.channels[c] ?? c));
  table.append(el('thead', {}, head));
  const body = el('tbody');
  for (const p of purposes) {
    const row = el('tr', {}, el('th', { scope: 'row' }, T.purposes[p] ?? p));
    for (const c of channels) {
      const s = states.find((x) => x.channel === c && x.purpose === p);
      const box = el('input', {
        type: 'checkbox',
        id: `consent-${c}-${p}`,
        checked: s?.decision !== 'deny',
        dataset: { channel: c, purpose: p },
        'aria-label': `${T.purposes[p] ?? p}: ${T.channels[c] ?? c}`,
      });
      box.addEventListener('change', async () => {
        clearError();
        box.disabled = true;
        try {
          await api('PUT', '/v1/me/consents', {
            consents: [{ channel: c, purpose: p, decision: box.checked ? 'permit' : 'deny' }],
          });
          await drawConsents();
          $(`consent-${c}-${p}`)?.focus();
        } catch (e) {
          box.checked = !box.checked;
          box.disabled = false;
          fail(e);
        }
      });
      row.append(el('td', {}, box));
    }
    body.append(row);
  }
  table.append(body);
  box.append(table);
  document.body.dataset.consents = 'drawn';
}

// --- devices ---------------------------------------------------------------------------------------

async function drawDevices() {
  const box = $('devices-content');
  box.replaceChildren();
  const [messaging, named, push] = await Promise.all([
    optional(api('GET', '/v1/messaging/devices')),
    optional(api('GET', '/v1/me/devices')),
    optional(api('GET', '/v1/me/push-subscriptions')),
  ]);
  const names = new Map((named?.items ?? []).map((d) => [d.id, d]));
  box.append(el('h3', {}, T.messagingDevices));
  const ml = el('ul', { id: 'messaging-device-list' });
  for (const d of messaging?.items ?? []) {
    const n = names.get(d.deviceId);
    const li = el(
      'li',
      { dataset: { id: d.deviceId } },
      `${n?.name ?? d.deviceId} · ${T.registered(when(d.registeredAt))} `,
    );
    if (n) {
      const remove = el('button', { type: 'button', className: 'remove' }, T.remove);
      remove.addEventListener('click', async () => {
        try {
          await api('DELETE', `/v1/me/devices/${encodeURIComponent(d.deviceId)}`);
          await drawDevices();
        } catch (e) {
          fail(e);
        }
      });
      li.append(remove);
    }
    ml.append(li);
  }
  if (!ml.children.length) ml.append(el('li', {}, messaging ? T.noDevices : T.unavailable));
  box.append(ml);

  box.append(el('h3', {}, T.pushDevices));
  const pl = el('ul', { id: 'push-list' });
  for (const s of push?.items ?? []) {
    const label = [s.label, s.service ?? s.kind, s.createdAt ? T.registered(when(s.createdAt)) : '']
      .filter(Boolean)
      .join(' · ');
    const li = el('li', { dataset: { id: s.id } }, `${label} `);
    const remove = el('button', { type: 'button', className: 'remove' }, T.remove);
    remove.addEventListener('click', async () => {
      try {
        await api('DELETE', `/v1/me/push-subscriptions/${encodeURIComponent(s.id)}`);
        await drawDevices();
      } catch (e) {
        fail(e);
      }
    });
    li.append(remove);
    pl.append(li);
  }
  if (!pl.children.length) pl.append(el('li', {}, push ? T.noDevices : T.unavailable));
  box.append(pl);
  if (push && 'serviceWorker' in navigator && 'PushManager' in window) {
    const enable = el('button', { type: 'button', id: 'push-enable' }, T.enablePush);
    enable.addEventListener(
      'click',
      () => void enablePush().catch((e) => (e?.message === 'SP_PUSH_PERMISSION_DENIED' ? say(T.pushDenied) : fail(e))),
    );
    box.append(enable);
  }
}

/** Web Push opt-in through the portal's push module (its service worker, the VAPID key, the registration). */
async function enablePush() {
  clearError();
  const push = await import('/portal/assets/push.js');
  if (!push.pushSupported()) return;
  await push.enablePush({ label: navigator.userAgentData?.platform ?? 'Web browser' });
  say(T.pushOn);
  await drawDevices();
}

void start();
