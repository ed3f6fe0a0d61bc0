// The portal inbox (served at /portal/assets/inbox.js, a module of the page /portal/inbox).
// Signs the patient in with a one-time code (session cookie), registers this browser as the
// patient's messaging device (keys in IndexedDB under a non-extractable key), then lists, reads
// and answers the care-team threads with the SDK: everything is decrypted here, in the browser.
// Nothing identifying goes into the address bar: the open thread is page state, not a URL.
import * as sdk from '/portal/assets/sealpost-sdk.js';
import { $, api, clearError, fail, lang, say, wireSignIn } from '/portal/assets/portal-common.js';

const T = {
  en: {
    settingUp: 'Setting up secure messaging on this browser…',
    ready: 'Your secure messages.',
    you: 'You',
    careTeam: 'Care team',
    careTeamThread: (n) => `Your care team (${n})`,
    thread: (n) => `Conversation ${n}`,
    newest: (s) => `Latest: ${s}`,
    none: 'No messages yet.',
    sending: 'Sending…',
    sent: 'Sent.',
    download: (name) => `Download ${name}`,
    unavailable: 'Secure messaging is not available on this server yet.',
  },
  es: {
    settingUp: 'Preparando la mensajería segura en este navegador…',
    ready: 'Sus mensajes seguros.',
    you: 'Usted',
    careTeam: 'Equipo de atención',
    careTeamThread: (n) => `Su equipo de atención (${n})`,
    thread: (n) => `Conversación ${n}`,
    newest: (s) => `Último: ${s}`,
    none: 'Todavía no hay mensajes.',
    sending: 'Enviando…',
    sent: 'Enviado.',
    download: (name) => `Descargar ${name}`,
    unavailable: 'La mensajería segura todavía no está disponible en este servidor.',
  },
}[lang];

const show = (step) => {
  document.body.dataset.step = step;
  for (const s of ['signin', 'threads', 'thread']) $(s).hidden = s !== step;
};
let client = null;
let me = null;
let openThread = null;

/** Signed in: straight to the threads; else the sign-in form. Never throws: errors are shown. */
async function start() {
  try {
    await enter();
  } catch (e) {
    // A server without the conversation API (an older version) answers its routes SP_REQ_NOT_FOUND.
    if (e?.code === 'SP_REQ_NOT_FOUND') {
      show('threads');
      say(T.unavailable);
      document.body.dataset.step = 'unavailable';
      return;
    }
    fail(e);
    document.body.dataset.step = 'error';
  }
}

async function enter() {
  me = await api('GET', '/v1/me').catch(() => null);
  if (!me || me.kind !== 'patient') {
    show('signin');
    say('');
    $('contact').focus();
    return;
  }
  await startMessaging();
}

wireSignIn(start);

$('signout').addEventListener('click', async () => {
  await api('POST', '/v1/auth/logout').catch(() => undefined);
  client?.close?.();
  client = null;
  location.reload();
});

/** Opens (or first registers) this browser's messaging device and lists the threads. */
async function startMessaging() {
  if (typeof sdk.MessagingClient !== 'function') {
    show('threads');
    say(T.unavailable);
    document.body.dataset.step = 'unavailable';
    return;
  }
  say(T.settingUp);
  // One key database per account on this browser: two patients sharing a computer keep apart.
  const keyStore = await sdk.IndexedDbKeyStore.open({ name: `sealpost-inbox-${me.tenantId}-${me.id}` });
  client = await sdk.MessagingClient.open({ baseUrl: location.origin, keyStore });
  if (!client.device) await client.register(navigator.userAgentData?.platform ?? 'Web browser', 'web');
  client.on('message', (m) => {
    if (openThread !== m.conversationId) return void renderThreads().catch(fail);
    renderMessage(m);
    // The thread is open in front of the patient: what arrives in it is read.
    if (!m.mine && document.visibilityState === 'visible') void client.markRead(m.conversationId, m.seq).catch(fail);
  });
  // New threads (the welcome that adds this browser) arrive through the live connection or its pull.
  client.on('membership', () => void renderThreads().catch(fail));
  await renderThreads();
  show('threads');
  say(T.ready);
  // Live delivery in the background: the first catch-up can take a while; the list is usable meanwhile.
  client.connect().catch(fail);
}

async function renderThreads() {
  const list = $('thread-list');
  const threads = await client.conversations();
  list.replaceChildren();
  $('no-threads').hidden = threads.length > 0;
  threads.forEach((c, i) => {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'thread';
    button.dataset.conversation = c.id;
    // No names or topics here: the server's view of a thread carries none, and the list stays PHI-free.
    button.textContent = c.kind === 'patient' ? T.careTeamThread(i + 1) : T.thread(i + 1);
    button.addEventListener('click', () => void showThread(c.id, button.textContent));
    li.append(button);
    list.append(li);
  });
}

async function showThread(id, title) {
  openThread = id;
  clearError();
  $('thread-title').textContent = title;
  $('messages').replaceChildren();
  const messages = await client.messages(id);
  if (messages.length === 0) say(T.none);
  for (const m of messages) renderMessage(m);
  show('thread');
  $('thread-title').focus();
  const last = messages[messages.length - 1];
  if (last && !last.mine) await client.markRead?.(id, last.seq);
}

function renderMessage(m) {
  if ($('messages').querySelector(`[data-seq="${m.seq}"]`)) return;
  const li = document.createElement('li');
  li.dataset.seq = String(m.seq);
  if (m.mine) li.className = 'mine';
  const meta = document.createElement('div');
  meta.className = 'meta';
  meta.textContent = `${m.mine ? T.you : T.careTeam} · ${new Date(m.at).toLocaleString(lang)}`;
  const text = document.createElement('div');
  text.className = 'text';
  text.textContent = m.body;
  li.append(meta, text);
  for (const a of m.attachments ?? []) {
    const link = document.createElement('button');
    link.type = 'button';
    link.className = 'attachment';
    link.textContent = T.download(a.name);
    link.addEventListener('click', () => void download(m.conversationId, a));
    li.append(link);
  }
  $('messages').append(li);
}

async function download(conversationId, ref) {
  try {
    const bytes = await client.downloadAttachment(conversationId, ref);
    const url = URL.createObjectURL(new Blob([bytes], { type: ref.type || 'application/octet-stream' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = ref.name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (e) {
    fail(e);
  }
}

$('back').addEventListener('click', async () => {
  openThread = null;
  await renderThreads();
  show('threads');
  ($('thread-list').querySelector('button') ?? $('signout')).focus();
});

$('reply-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearError();
  const body = $('reply').value;
  const file = $('attachment').files?.[0];
  if (!body.trim() || !openThread) return;
  $('send').disabled = true;
  say(T.sending);
  try {
    const attachments = file
      ? [{ name: file.name, type: file.type, data: new Uint8Array(await file.arrayBuffer()) }]
      : undefined;
    const sent = await client.send(openThread, body, attachments ? { attachments } : {});
    if (sent) renderMessage(sent);
    $('reply').value = '';
    $('attachment').value = '';
    say(T.sent);
  } catch (e) {
    fail(e);
  } finally {
    $('send').disabled = false;
  }
});

void start();
