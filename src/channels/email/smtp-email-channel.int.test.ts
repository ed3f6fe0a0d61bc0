import { afterEach, describe, expect, it } from 'vitest';
import { startSmtpSink } from '../../../test/helpers/smtp-sink.js';
import type { SmtpSink, SmtpSinkOptions } from '../../../test/helpers/smtp-sink.js';
import { ChannelError } from '../channel.js';
import type { OutboundMessage } from '../channel.js';
import { SmtpEmailChannel } from './smtp-email-channel.js';
import type { SmtpEmailChannelOptions } from './smtp-email-channel.js';

const PHI = 'PHI-MARKER-7f3a9c';
const RECIPIENT = `patient.${PHI.toLowerCase()}@example.test`;

function message(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    deliveryId: 'dlv_01J9Z8Y7X6W5V4',
    notificationId: 'ntf_01J9Z8Y7X6',
    tenantId: 'tnt_1',
    channel: 'email',
    to: RECIPIENT,
    subject: 'You have a new message',
    text: `Open https://portal.example/l/abc to read it. ${PHI}`,
    ...overrides,
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function sink(opts: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const s = await startSmtpSink(opts);
  cleanups.push(() => s.close());
  return s;
}

function channel(s: SmtpSink, opts: Partial<SmtpEmailChannelOptions> = {}): SmtpEmailChannel {
  const c = new SmtpEmailChannel({
    host: '127.0.0.1',
    port: s.port,
    security: 'starttls',
    ca: s.cert,
    from: 'Clinic <no-reply@clinic.test>',
    timeoutMs: 2_000,
    ...opts,
  });
  cleanups.push(() => c.close());
  return c;
}

async function failure(p: Promise<unknown>): Promise<ChannelError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ChannelError);
  return e as ChannelError;
}

function expectNoPhi(e: ChannelError): void {
  const texts: string[] = [];
  for (let cur: unknown = e; cur; cur = (cur as { cause?: unknown }).cause) {
    texts.push(String((cur as Error).message), String((cur as ChannelError).detail ?? ''));
  }
  expect(texts.join('\n').toLowerCase()).not.toContain(PHI.toLowerCase());
}

describe('SmtpEmailChannel', () => {
  it('delivers over STARTTLS to a server whose certificate is trusted through ca', async () => {
    const s = await sink({ tls: 'starttls' });
    const result = await channel(s).send(message());

    expect(result).toEqual({ status: 'sent', providerMessageId: '<dlv_01J9Z8Y7X6W5V4@sealpost.invalid>' });
    expect(s.messages).toHaveLength(1);
    const got = s.messages[0]!;
    expect(got.secure).toBe(true);
    expect(got.envelope.rcptTo).toEqual([RECIPIENT]);
    expect(got.headers['message-id']).toBe('<dlv_01J9Z8Y7X6W5V4@sealpost.invalid>');
    expect(got.headers['x-sealpost-delivery-id']).toBe('dlv_01J9Z8Y7X6W5V4');
    expect(got.headers['subject']).toBe('You have a new message');
    expect(got.raw).toContain('https://portal.example/l/abc');
  });

  it('delivers over implicit TLS', async () => {
    const s = await sink({ tls: 'implicit' });
    await channel(s, { security: 'tls' }).send(message());
    expect(s.messages).toHaveLength(1);
    expect(s.messages[0]!.secure).toBe(true);
  });

  it('sends in plaintext without attempting STARTTLS when security is none', async () => {
    const s = await sink({ tls: 'starttls' });
    await channel(s, { security: 'none', ca: undefined }).send(message());
    expect(s.messages).toHaveLength(1);
    expect(s.messages[0]!.secure).toBe(false);
  });

  it('authenticates with the configured user and password', async () => {
    const s = await sink({ tls: 'starttls', auth: { user: 'relay', password: 's3cret' } });
    await channel(s, { user: 'relay', password: 's3cret' }).send(message());
    expect(s.messages[0]!.authenticatedUser).toBe('relay');
  });

  it('fails without retry when the credentials are wrong', async () => {
    const s = await sink({ tls: 'starttls', auth: { user: 'relay', password: 's3cret' } });
    const e = await failure(channel(s, { user: 'relay', password: 'wrong' }).send(message()));
    expect(e.retryable).toBe(false);
    expect(e.code).toBe('SP_CHANNEL_SEND_FAILED');
    expect(s.messages).toHaveLength(0);
  });

  it('refuses an untrusted server certificate by default, without retry, and sends nothing', async () => {
    const s = await sink({ tls: 'starttls' });
    const e = await failure(channel(s, { ca: undefined }).send(message()));
    expect(e.retryable).toBe(false);
    expect(e.detail).toBe('smtp tls certificate rejected');
    expect(s.messages).toHaveLength(0);
  });

  it('refuses an untrusted certificate on implicit TLS as well', async () => {
    const s = await sink({ tls: 'implicit' });
    const e = await failure(channel(s, { security: 'tls', ca: undefined }).send(message()));
    expect(e.retryable).toBe(false);
    expect(e.detail).toBe('smtp tls certificate rejected');
    expect(s.messages).toHaveLength(0);
  });

  it('does not fall back to plaintext when STARTTLS is required but not offered', async () => {
    const s = await sink({ tls: 'none' });
    const e = await failure(channel(s).send(message()));
    // The server answers STARTTLS with a 5xx: it will do so again, so fail over instead of retrying.
    expect(e.code).toBe('SP_CHANNEL_SEND_FAILED');
    expect(e.retryable).toBe(false);
    expect(s.messages).toHaveLength(0);
  });

  it('classifies a 550 recipient rejection as permanent', async () => {
    const s = await sink();
    s.rejectNext(1, 550, 'rcpt');
    const e = await failure(channel(s).send(message()));
    expect(e.retryable).toBe(false);
    expect(e.detail).toBe('smtp 550');
  });

  it('classifies a 451 recipient deferral as retryable and succeeds on the next attempt', async () => {
    const s = await sink();
    s.rejectNext(1, 451, 'rcpt');
    const c = channel(s);
    const e = await failure(c.send(message()));
    expect(e.retryable).toBe(true);
    expect(e.detail).toBe('smtp 451');

    await c.send(message());
    expect(s.messages).toHaveLength(1);
  });

  it('classifies 554 after DATA as permanent and 452 after DATA as retryable', async () => {
    const s = await sink();
    const c = channel(s);
    s.rejectNext(1, 554, 'data');
    expect((await failure(c.send(message()))).retryable).toBe(false);
    s.rejectNext(1, 452, 'data');
    expect((await failure(c.send(message()))).retryable).toBe(true);
    expect(s.messages).toHaveLength(0);
  });

  it('reports a server that never answers DATA as a retryable timeout', async () => {
    const s = await sink();
    s.hangNext(1);
    const e = await failure(channel(s, { timeoutMs: 300 }).send(message()));
    expect(e.code).toBe('SP_CHANNEL_TIMEOUT');
    expect(e.retryable).toBe(true);
  });

  it('gives up as a retryable timeout when the caller aborts', async () => {
    const s = await sink();
    const controller = new AbortController();
    controller.abort();
    const e = await failure(channel(s).send(message(), controller.signal));
    expect(e.code).toBe('SP_CHANNEL_TIMEOUT');
    expect(s.messages).toHaveLength(0);
  });

  it('reports a refused connection as retryable', async () => {
    const s = await sink();
    const port = s.port;
    await s.close();
    const c = new SmtpEmailChannel({ host: '127.0.0.1', port, security: 'none', from: 'a@b.test', timeoutMs: 2_000 });
    const e = await failure(c.send(message()));
    expect(e.code).toBe('SP_CHANNEL_SEND_FAILED');
    expect(e.retryable).toBe(true);
  });

  it('keeps the same Message-ID and delivery id header on every attempt of one delivery', async () => {
    const s = await sink();
    const c = channel(s);
    await c.send(message());
    await c.send(message());
    expect(s.messages).toHaveLength(2);
    expect(s.messages[1]!.headers['message-id']).toBe(s.messages[0]!.headers['message-id']);
    expect(s.messages[1]!.headers['x-sealpost-delivery-id']).toBe('dlv_01J9Z8Y7X6W5V4');
  });

  it('keeps the recipient address and body out of every error, even when the server echoes them', async () => {
    const s = await sink();
    const c = channel(s);
    s.rejectNext(1, 550, 'rcpt');
    expectNoPhi(await failure(c.send(message())));
    s.rejectNext(1, 451, 'rcpt');
    expectNoPhi(await failure(c.send(message())));
    s.rejectNext(1, 554, 'data');
    expectNoPhi(await failure(c.send(message())));
    s.hangNext(1);
    expectNoPhi(await failure(channel(s, { timeoutMs: 300 }).send(message())));
    expectNoPhi(await failure(channel(s, { ca: undefined }).send(message())));
  });

  it('rejects a delivery id that could inject header content, without retry', async () => {
    const s = await sink();
    const e = await failure(channel(s).send(message({ deliveryId: 'x\r\nBcc: someone@evil.test' })));
    expect(e.retryable).toBe(false);
    expect(s.messages).toHaveLength(0);
  });
});

describe('plaintext credentials', () => {
  it('refuses security none to a host that is not a loopback address', () => {
    const opts = { port: 25, security: 'none' as const, from: 'a@b.test', timeoutMs: 2_000 };
    expect(() => new SmtpEmailChannel({ ...opts, host: 'smtp.example.org' })).toThrow(/loopback/);
    expect(() => new SmtpEmailChannel({ ...opts, host: '10.0.0.7' })).toThrow(/loopback/);
    new SmtpEmailChannel({ ...opts, host: '::1' }).close();
  });
});
