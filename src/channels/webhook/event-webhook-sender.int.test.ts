import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventWebhookSender, type EventWebhookEnvelope } from './event-webhook-sender.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../../test/helpers/webhook-receiver.js';

const SECRET = 'event-secret-for-tests-0001';
const event: EventWebhookEnvelope = {
  id: 'ev-1',
  type: 'appointment.response',
  tenantId: 'default',
  occurredAt: '2030-01-01T00:00:00.000Z',
  data: { appointmentId: 'A-1', response: 'confirmed', channel: 'sms' },
};

/** The EHR event webhook sender against a real local HTTP server that verifies the signature. */
describe('EHR event webhook sender', () => {
  let hook: WebhookReceiver;
  beforeAll(async () => {
    hook = await startWebhookReceiver({ secret: SECRET });
  });
  afterAll(async () => {
    await hook.close();
  });

  it('POSTs the event signed, with its id as Idempotency-Key and Sealpost-Event-Id', async () => {
    const s = new EventWebhookSender({ url: hook.url, secret: SECRET, timeoutMs: 5000, allowedHosts: ['127.0.0.1'] });
    await s.send(event);
    const r = hook.records.at(-1)!;
    expect(r.validSignature).toBe(true);
    expect(r.body).toEqual(event);
    expect(r.headers['idempotency-key']).toBe('ev-1');
    expect(r.headers['sealpost-event-id']).toBe('ev-1');
    expect(r.headers['sealpost-event-type']).toBe('appointment.response');
    await s.close();
  });

  it('honours the outbound address policy: a loopback host not allowed is refused and nothing is sent', async () => {
    const before = hook.records.length;
    const s = new EventWebhookSender({ url: hook.url, secret: SECRET, timeoutMs: 5000, allowedHosts: [] });
    await expect(s.send(event)).rejects.toMatchObject({ code: 'SP_CHANNEL_ADDRESS_REFUSED', retryable: false });
    expect(hook.records.length).toBe(before);
    await s.close();
  });

  it('says whether a failure is worth retrying: 503 yes, 400 no', async () => {
    const s = new EventWebhookSender({ url: hook.url, secret: SECRET, timeoutMs: 5000, allowedHosts: ['127.0.0.1'] });
    hook.failNext(1, 503);
    await expect(s.send(event)).rejects.toMatchObject({ code: 'SP_CHANNEL_SEND_FAILED', retryable: true });
    hook.failNext(1, 400);
    await expect(s.send(event)).rejects.toMatchObject({ code: 'SP_CHANNEL_SEND_FAILED', retryable: false });
    await s.close();
  });
});
