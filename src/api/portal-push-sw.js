/*
 * Sealpost's portal service worker (served at /portal/push-sw.js, scope /portal/). It shows a push:
 * the payload is a PHI-free title and a notification id, nothing else; a click opens the portal
 * inbox, where the patient signs in and reads the notification. When the browser renews the
 * subscription, the new one is registered again (the patient's session cookie goes with it).
 */
/* eslint-env serviceworker */
'use strict';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const title = typeof data.title === 'string' && data.title ? data.title.slice(0, 200) : 'Sealpost';
  const id = typeof data.notificationId === 'string' ? data.notificationId.slice(0, 64) : '';
  event.waitUntil(
    self.registration.showNotification(title, { data: { notificationId: id }, ...(id ? { tag: id } : {}) }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const id = event.notification.data && event.notification.data.notificationId;
  const url = new URL('/portal/inbox' + (id ? '#notification=' + encodeURIComponent(id) : ''), self.location.origin);
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((all) => {
      const open = all.find((c) => new URL(c.url).pathname === '/portal/inbox');
      if (open) return open.navigate(url.href).then((c) => (c || open).focus());
      return self.clients.openWindow(url.href);
    }),
  );
});

self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil(
    (async () => {
      const res = await fetch('/v1/push/vapid-public-key', { headers: { accept: 'application/json' } });
      if (!res.ok) return;
      const { publicKey } = await res.json();
      const sub = await self.registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: publicKey,
      });
      await fetch('/v1/me/push-subscriptions', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'webpush', subscription: sub.toJSON() }),
      });
    })(),
  );
});
