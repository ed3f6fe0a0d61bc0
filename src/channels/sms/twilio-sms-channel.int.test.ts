import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateTestCertificate } from '../../../test/helpers/smtp-sink.js';
import { startTwilioEmulator } from '../../../test/helpers/twilio-emulator.js';
import type { TwilioEmulator } from '../../../test/helpers/twilio-emulator.js';
import { ChannelError } from '../channel.js';
import type { OutboundMessage } from '../channel.js';
import { mapTwilioStatus, validateTwilioSignature } from './twilio-signature.js';
import { TwilioSmsChannel } from './twilio-sms-channel.js';
import type { TwilioSmsChannelOptions } from './twilio-sms-channel.js';

const ACCOUNT_SID = 'AC' + '0'.repeat(31) + '1';
const AUTH_TOKEN = 'twilio-test-token';
const PHI = 'PHI-MARKER-19e0b7';

let twilio: TwilioEmulator;
const cleanups: Array<() => Promise<void>> = [];
beforeEach(async () => {
  twilio = await startTwilioEmulator({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
  cleanups.push(() => twilio.close());
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function channel(opts: Partial<TwilioSmsChannelOptions> = {}): TwilioSmsChannel {
  return new TwilioSmsChannel({
    baseUrl: twilio.baseUrl,
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    from: '+15005550006',
    statusCallbackUrl: 'https://127.0.0.1:1/twilio/status',
    timeoutMs: 2_000,
    ...opts,
  });
}

function message(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    deliveryId: 'dlv_sms_01',
    notificationId: 'ntf_sms_01',
    tenantId: 'tnt_1',
    channel: 'sms',
    to: '+14155550123',
    text: `You have a new message: https://portal.example/l/q1 ${PHI}`,
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
  for (let cur: unknown = err; cur; cur = (cur as { cause?: unknown }).cause) {
    expect(String((cur as Error).message)).not.toContain(PHI);
  }
  return err;
}

describe('TwilioSmsChannel', () => {
  it('creates the message at Twilio and returns its SID', async () => {
    const result = await channel().send(message());

    expect(twilio.messages).toHaveLength(1);
    const m = twilio.messages[0]!;
    expect(result).toEqual({ status: 'sent', providerMessageId: m.sid });
    expect(m.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(m).toMatchObject({
      to: '+14155550123',
      from: '+15005550006',
      body: message().text,
      statusCallback: 'https://127.0.0.1:1/twilio/status',
      idempotencyToken: 'dlv_sms_01',
    });
    expect(twilio.requests[0]!.idempotencyKey).toBe('dlv_sms_01');
  });

  it('sends the same idempotency headers on a retry after a 500', async () => {
    twilio.failNext(1, 500);
    const c = channel();
    const e = await failure(c.send(message()));
    expect(e.retryable).toBe(true);
    expect(e.detail).toBe('twilio 500 20500');

    await c.send(message());
    expect(twilio.requests.map((r) => [r.idempotencyToken, r.idempotencyKey])).toEqual([
      ['dlv_sms_01', 'dlv_sms_01'],
      ['dlv_sms_01', 'dlv_sms_01'],
    ]);
    expect(twilio.messages).toHaveLength(1);
  });

  it('does not create a second message when the retry follows an answer lost after acceptance', async () => {
    twilio.hangNext(1, { afterAccept: true });
    const c = channel({ timeoutMs: 300 });
    const e = await failure(c.send(message()));
    expect(e.code).toBe('SP_CHANNEL_TIMEOUT');
    expect(e.retryable).toBe(true);

    const retry = await c.send(message());
    expect(twilio.messages).toHaveLength(1);
    expect(retry.providerMessageId).toBe(twilio.messages[0]!.sid);
  });

  it('reports a Twilio API that never answers as a retryable timeout', async () => {
    twilio.hangNext(1);
    const e = await failure(channel({ timeoutMs: 300 }).send(message()));
    expect(e.code).toBe('SP_CHANNEL_TIMEOUT');
    expect(e.retryable).toBe(true);
    expect(twilio.messages).toHaveLength(0);
  });

  it('rejects an invalid number without retry, keeping only the Twilio error code', async () => {
    const bad = `+0${PHI}`;
    const e = await failure(channel().send(message({ to: bad })));
    expect(e.retryable).toBe(false);
    expect(e.detail).toBe('twilio 400 21211');
    expect(e.message).not.toContain(bad);
    expect(twilio.messages).toHaveLength(0);
  });

  it('rejects wrong credentials without retry', async () => {
    const e = await failure(channel({ authToken: 'wrong' }).send(message()));
    expect(e.retryable).toBe(false);
    expect(e.detail).toBe('twilio 401 20003');
  });

  it.each([
    [429, true],
    [503, true],
    [408, true],
    [404, false],
  ])('classifies a %i answer as retryable=%s', async (status, retryable) => {
    twilio.failNext(1, status);
    const e = await failure(channel().send(message()));
    expect(e.code).toBe('SP_CHANNEL_SEND_FAILED');
    expect(e.retryable).toBe(retryable);
  });

  it('reports an unreachable API as retryable', async () => {
    const e = await failure(channel({ baseUrl: 'http://127.0.0.1:1' }).send(message()));
    expect(e.code).toBe('SP_CHANNEL_SEND_FAILED');
    expect(e.retryable).toBe(true);
  });

  it('uses MessagingServiceSid instead of From when the sender is a Messaging Service', async () => {
    const service = 'MG' + 'a'.repeat(32);
    await channel({ from: service }).send(message());
    expect(twilio.messages[0]!.from).toBe(service);
  });

  it('omits StatusCallback when none is configured', async () => {
    await channel({ statusCallbackUrl: undefined }).send(message());
    expect(twilio.messages[0]!.statusCallback).toBeUndefined();
  });

  it('gets status callbacks over https that validate with the auth token', async () => {
    const { key, cert } = await generateTestCertificate();
    const received: Array<{ params: Record<string, string>; valid: boolean }> = [];
    let callbackUrl = '';
    const server = createServer({ key, cert }, (req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      req.on('end', () => {
        const params = Object.fromEntries(new URLSearchParams(raw));
        const signature = req.headers['x-twilio-signature'] as string | undefined;
        received.push({ params, valid: validateTwilioSignature(AUTH_TOKEN, callbackUrl, params, signature) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    callbackUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}/twilio/status?tenant=t1`;

    const { providerMessageId } = await channel({ statusCallbackUrl: callbackUrl }).send(message());
    expect(await twilio.sendStatusCallback(providerMessageId!, 'delivered')).toEqual({ status: 204 });
    await twilio.sendStatusCallback(providerMessageId!, 'undelivered', { errorCode: '30003' });

    expect(received.map((r) => r.valid)).toEqual([true, true]);
    expect(received[0]!.params).toMatchObject({
      MessageSid: providerMessageId,
      MessageStatus: 'delivered',
      AccountSid: ACCOUNT_SID,
    });
    expect(received[1]!.params.ErrorCode).toBe('30003');
    expect(received.map((r) => mapTwilioStatus(r.params.MessageStatus))).toEqual(['delivered', 'failed']);
    // A forged callback signed with another token does not validate.
    expect(validateTwilioSignature('not-the-token', callbackUrl, received[0]!.params, 'x')).toBe(false);
  });
});

describe('plaintext credentials', () => {
  it('refuses an http base URL that is not a loopback address: the Basic header would travel in clear', () => {
    expect(() => channel({ baseUrl: 'http://api.twilio.com' })).toThrow(/https/);
    expect(() => channel({ baseUrl: 'http://10.1.2.3:8080' })).toThrow(/https/);
    expect(() => channel({ baseUrl: 'http://[::1]:9' })).not.toThrow();
  });
});
