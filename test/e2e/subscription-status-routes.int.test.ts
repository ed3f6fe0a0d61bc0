import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { eventually, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { staffWithSession } from '../helpers/identity.js';
import { createTenant } from '../../src/auth/tenants.js';

const TOPIC = 'https://sealpost.dev/fhir/SubscriptionTopic/communication-status';
const subscription = (endpoint: string, reason: string) => ({
  resourceType: 'Subscription',
  status: 'requested',
  reason,
  criteria: TOPIC,
  channel: { type: 'rest-hook', endpoint, header: ['Authorization: Bearer endpoint-secret-5521'] },
});

/** GET /v1/subscriptions: the delivery state of a tenant's FHIR Subscriptions, on each backend. */
for (const backend of BACKENDS)
  describe(`the delivery state of FHIR Subscriptions (${backend})`, () => {
    let h: Harness;
    let db: TestDatabase;
    let hook: WebhookReceiver;
    const fhir = (method: string, path: string, body?: unknown) =>
      h.request(method, path, body, { 'content-type': 'application/fhir+json' });

    beforeAll(async () => {
      db = await createTestDatabase(backend, 'sealpost-subscription-status-');
      hook = await startWebhookReceiver({ secret: 'unused' });
      h = await startSealpost({
        ...db.env,
        SEALPOST_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
        SEALPOST_BACKOFF_BASE_MS: '10',
        SEALPOST_BACKOFF_CAP_MS: '20',
        SEALPOST_FHIR_SUBSCRIPTION_MAX_FAILURES: '1',
      });
    }, 120_000);
    afterAll(async () => {
      await h?.close();
      await hook?.close();
      await db?.drop();
    });

    it('lists each subscription with its status, events, failures, last delivery and next attempt, and nothing of its endpoint', async () => {
      expect((await h.request('GET', '/v1/subscriptions')).body).toEqual({ items: [] });
      const ok = await fhir('POST', '/fhir/R4/Subscription', subscription(hook.url, 'feed one'));
      expect(ok.status).toBe(201);
      const active = await eventually(async () => {
        const [s] = (await h.request('GET', '/v1/subscriptions')).body.items;
        return s?.status === 'active' ? s : null;
      }, 'handshake answered');
      expect(active).toMatchObject({
        id: ok.body.id,
        topic: 'communication-status',
        errorCode: null,
        eventsSinceStart: 0,
        eventsSent: 0,
        failures: 0,
      });
      expect(Date.parse(active.lastDeliveryAt)).not.toBeNaN();
      expect(Date.parse(active.nextAttemptAt)).not.toBeNaN();

      hook.failNext(1, 500);
      const bad = await fhir('POST', '/fhir/R4/Subscription', subscription(`${hook.url}?b`, 'feed two'));
      const failed = await eventually(async () => {
        const items = (await h.request('GET', '/v1/subscriptions')).body.items;
        return items.find((s: { id: string; status: string }) => s.id === bad.body.id && s.status === 'error');
      }, 'handshake refused');
      expect(failed).toMatchObject({ failures: 1, lastDeliveryAt: null, nextAttemptAt: null });
      expect(failed.errorCode).toMatch(/^SP_/);

      const off = (await fhir('GET', `/fhir/R4/Subscription/${ok.body.id}`)).body;
      expect((await fhir('PUT', `/fhir/R4/Subscription/${ok.body.id}`, { ...off, status: 'off' })).status).toBe(200);
      const list = (await h.request('GET', '/v1/subscriptions')).body;
      expect(list.items.find((s: { id: string }) => s.id === ok.body.id)).toMatchObject({
        status: 'off',
        nextAttemptAt: null,
      });
      const text = JSON.stringify(list);
      for (const secret of ['endpoint-secret-5521', hook.url, 'feed one']) expect(text).not.toContain(secret);
      expect((await h.request('GET', '/v1/subscriptions?limit=1')).body.items).toHaveLength(1);
    });

    it('refuses bad input and callers without subscription.manage, and shows no other tenant', async () => {
      for (const q of ['limit=0', 'limit=abc', 'status=active'])
        expect((await h.request('GET', `/v1/subscriptions?${q}`)).status, q).toBe(400);
      const auditor = await staffWithSession(h, ['auditor']);
      expect((await h.request('GET', '/v1/subscriptions', undefined, auditor.headers)).status).toBe(403);
      expect((await h.request('GET', '/v1/subscriptions', undefined, { authorization: '' })).status).toBe(401);
      const other = await createTenant(h.app.store, `subs-status-${backend}`, 'Other clinic', new Date());
      const theirs = await h.request('GET', '/v1/subscriptions', undefined, {
        authorization: `Bearer ${other.apiKey}`,
      });
      expect(theirs.body).toEqual({ items: [] });
    });
  });
