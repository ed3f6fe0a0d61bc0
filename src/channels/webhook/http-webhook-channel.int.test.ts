import { afterEach, describe, expect, it } from 'vitest';
import { startWebhookReceiver } from '../../../test/helpers/webhook-receiver.js';
import type { WebhookReceiver, WebhookReceiverOptions } from '../../../test/helpers/webhook-receiver.js';
import { ChannelError } from '../channel.js';
import type { OutboundMessage } from '../channel.js';
import { HttpWebhookChannel } from './http-webhook-channel.js';
import type { HttpWebhookChannelOptions } from './http-webhook-channel.js';

const SECRET = 'whsec_test_5b1f0c';
const PHI = 'PHI-MARKER-c41d22';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function receiver(opts: Partial<WebhookReceiverOptions> = {}): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver({ secret: SECRET, ...opts });
  cleanups.push(() => r.close());
  return r;
}

function channel(opts: Partial<HttpWebhookChannelOptions> = {}): HttpWebhookChannel {
  // The receivers listen on loopback: allowed explicitly, as SEALPOST_WEBHOOK_ALLOWED_HOSTS=127.0.0.1 would.
  return new HttpWebhookChannel({ secret: SECRET, timeoutMs: 2_000, allowedHosts: ['127.0.0.1'], ...opts });
}

function message(to: string, overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    deliveryId: 'dlv_wh_01',
    notificationId: 'ntf_wh_01',
    tenantId: 'tnt_1',
    channel: 'webhook',
    to,
    subject: 'Results ready',
    text: `Your results are ready. ${PHI}`,
    link: 'https://portal.example/l/xyz',
    ...overrides,
  };
}

async function failure(p: Promise<unknown>): Promise<ChannelError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ChannelError);
  const err = e as ChannelError;
  // PHI rule: nothing from the body may reach an error, including its cause chain.
  for (let cur: unknown = err; cur; cur = (cur as { cause?: unknown }).cause) {
    expect(String((cur as Error).message)).not.toContain(PHI);
  }
  expect(err.detail).not.toContain(PHI);
  return err;
}

describe('HttpWebhookChannel', () => {
  it('posts the signed JSON payload and reports it delivered when the receiver answers 2xx', async () => {
    const r = await receiver();
    const result = await channel().send(message(r.url));

    expect(result).toEqual({ status: 'delivered' });
    expect(r.records).toHaveLength(1);
    const got = r.records[0]!;
    expect(got.validSignature).toBe(true);
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['idempotency-key']).toBe('dlv_wh_01');
    expect(got.headers['sealpost-delivery-id']).toBe('dlv_wh_01');
    expect(got.headers['sealpost-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(got.body).toEqual({
      deliveryId: 'dlv_wh_01',
      notificationId: 'ntf_wh_01',
      tenantId: 'tnt_1',
      type: 'sealpost.notification',
      subject: 'Results ready',
      text: `Your results are ready. ${PHI}`,
      link: 'https://portal.example/l/xyz',
    });
  });

  it('fails the receiver signature check when signed with a different secret', async () => {
    const r = await receiver();
    await channel({ secret: 'another-secret' }).send(message(r.url));
    expect(r.records[0]!.validSignature).toBe(false);
  });

  it('sends the same idempotency key on a retry after a 503', async () => {
    const r = await receiver();
    r.failNext(1, 503);
    const c = channel();
    const e = await failure(c.send(message(r.url)));
    expect(e.retryable).toBe(true);
    expect(e.detail).toBe('webhook 503');

    await c.send(message(r.url));
    expect(r.records.map((x) => x.headers['idempotency-key'])).toEqual(['dlv_wh_01', 'dlv_wh_01']);
    expect(r.records.every((x) => x.validSignature)).toBe(true);
  });

  it.each([
    [400, false],
    [404, false],
    [410, false],
    [408, true],
    [425, true],
    [429, true],
    [500, true],
    [502, true],
  ])('classifies a %i answer as retryable=%s', async (status, retryable) => {
    const r = await receiver();
    r.failNext(1, status);
    const e = await failure(channel().send(message(r.url)));
    expect(e.code).toBe('SP_CHANNEL_SEND_FAILED');
    expect(e.retryable).toBe(retryable);
    expect(e.detail).toBe(`webhook ${status}`);
  });

  it('treats a redirect as a permanent failure instead of following it', async () => {
    const r = await receiver();
    r.failNext(1, 307);
    const e = await failure(channel().send(message(r.url)));
    expect(e.retryable).toBe(false);
    expect(r.records).toHaveLength(1);
  });

  it('reports a receiver that never answers as a retryable timeout', async () => {
    const r = await receiver();
    r.hangNext(1);
    const e = await failure(channel({ timeoutMs: 300 }).send(message(r.url)));
    expect(e.code).toBe('SP_CHANNEL_TIMEOUT');
    expect(e.retryable).toBe(true);
  });

  it('gives up as a retryable timeout when the caller aborts', async () => {
    const r = await receiver();
    r.hangNext(1);
    const controller = new AbortController();
    const sending = channel().send(message(r.url), controller.signal);
    await expect.poll(() => r.records.length).toBe(1);
    controller.abort();
    const e = await failure(sending);
    expect(e.code).toBe('SP_CHANNEL_TIMEOUT');
  });

  it('reports a refused connection as retryable without naming the host', async () => {
    const r = await receiver();
    const url = r.url;
    await r.close();
    const e = await failure(channel().send(message(url)));
    expect(e.code).toBe('SP_CHANNEL_SEND_FAILED');
    expect(e.retryable).toBe(true);
    expect(e.message).not.toContain('127.0.0.1');
    expect(e.cause).toBeUndefined();
  });

  it('refuses an https receiver with an untrusted certificate, without retry', async () => {
    const r = await receiver({ tls: true });
    const e = await failure(channel().send(message(r.url)));
    expect(e.retryable).toBe(false);
    expect(e.detail).toBe('webhook tls certificate rejected');
    expect(r.records).toHaveLength(0);
  });

  it('refuses plain http to a loopback host that is not explicitly allowed, without contacting the receiver', async () => {
    const r = await receiver();
    const e = await failure(channel({ allowedHosts: [] }).send(message(r.url)));
    expect(e.retryable).toBe(false);
    expect([e.code, e.detail]).toEqual(['SP_CHANNEL_ADDRESS_REFUSED', 'webhook address refused']);
    expect(r.records).toHaveLength(0);
  });

  it('refuses a malformed url or one carrying credentials, without retry', async () => {
    expect((await failure(channel().send(message('not a url')))).retryable).toBe(false);
    const withCredentials = await failure(channel().send(message('https://user:pw@127.0.0.1:1/hook')));
    expect(withCredentials.retryable).toBe(false);
    expect(withCredentials.message).not.toContain('pw');
  });
});
