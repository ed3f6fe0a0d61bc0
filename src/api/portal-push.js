/*
 * Web Push for the portal (served at /portal/assets/push.js, an ES module). The signed-in portal page
 * calls `enablePush({ label })` after the patient asked for notifications on this device: it
 * registers the service worker (/portal/push-sw.js), subscribes with the installation's VAPID public
 * key and registers the subscription at POST /v1/me/push-subscriptions (the session cookie goes
 * with it). `disablePush()` removes this browser's registration and unsubscribes.
 */

const WORKER = '/portal/push-sw.js';

async function api(path, init) {
  const res = await fetch(path, {
    credentials: 'same-origin',
    ...init,
    headers: { accept: 'application/json', ...(init && init.body ? { 'content-type': 'application/json' } : {}) },
  });
  if (!res.ok) {
    let code = 'SP_SERVER_INTERNAL';
    try {
      code = (await res.json()).code || code;
    } catch {
      /* not JSON */
    }
    throw new Error(code);
  }
  return res.status === 204 ? null : res.json();
}

/** Whether this browser can receive Web Push at all. */
export function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/** Subscribes this browser and registers it; resolves to the registration (id, kind, label, service, createdAt). */
export async function enablePush({ label } = {}) {
  if (!pushSupported()) throw new Error('SP_PUSH_UNSUPPORTED');
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('SP_PUSH_PERMISSION_DENIED');
  const reg = await navigator.serviceWorker.register(WORKER, { scope: '/portal/' });
  await navigator.serviceWorker.ready;
  const { publicKey } = await api('/v1/push/vapid-public-key');
  let sub = await reg.pushManager.getSubscription();
  if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: publicKey });
  return api('/v1/me/push-subscriptions', {
    method: 'POST',
    body: JSON.stringify({ kind: 'webpush', subscription: sub.toJSON(), ...(label ? { label } : {}) }),
  });
}

/** Removes the registration `id` (one of the patient's devices; this browser's is also unsubscribed). */
export async function removePush(id) {
  await api('/v1/me/push-subscriptions/' + encodeURIComponent(id), { method: 'DELETE' });
}

/** The patient's push registrations (no secrets). */
export async function listPush() {
  return (await api('/v1/me/push-subscriptions')).items;
}

/** Unsubscribes this browser (its registration is pruned at the next push, or removed with removePush). */
export async function disablePush() {
  if (!pushSupported()) return;
  const reg = await navigator.serviceWorker.getRegistration('/portal/');
  const sub = reg && (await reg.pushManager.getSubscription());
  if (sub) await sub.unsubscribe();
}
