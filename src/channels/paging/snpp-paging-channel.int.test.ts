import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startSnppServer } from '../../../test/helpers/snpp-server.js';
import type { SnppServer, SnppServerOptions } from '../../../test/helpers/snpp-server.js';
import { serverCert, testCa } from '../../../test/helpers/transport-pki.js';
import { PHI_MARKER } from '../../core/templates/template-test-fixtures.js';
import { ChannelError } from '../channel.js';
import type { OutboundMessage } from '../channel.js';
import { SnppPagingChannel } from './snpp-paging-channel.js';
import type { SnppPagingChannelOptions } from './snpp-paging-channel.js';

const PAGER = '5550147';

function message(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    deliveryId: 'dlv_01J9Z8Y7X6W5V4',
    notificationId: 'alt_01J9Z8Y7X6',
    tenantId: 'tnt_1',
    channel: 'paging',
    to: PAGER,
    text: 'HIGH alert 4-West bed 12: reply at https://sealpost.test/a/x1',
    ...overrides,
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function gateway(opts: SnppServerOptions = {}): Promise<SnppServer> {
  const s = await startSnppServer(opts);
  cleanups.push(() => s.close());
  return s;
}

function channel(s: { port: number }, opts: Partial<SnppPagingChannelOptions> = {}): SnppPagingChannel {
  const c = new SnppPagingChannel({
    host: '127.0.0.1',
    port: s.port,
    tls: false,
    maxChars: 240,
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

/** Neither the page's text nor the pager id appears anywhere in the error or its causes. */
function expectNothingLeaked(e: ChannelError, ...secrets: string[]): void {
  const texts: string[] = [];
  for (let cur: unknown = e; cur; cur = (cur as { cause?: unknown }).cause) {
    texts.push(
      String((cur as Error).message),
      String((cur as ChannelError).detail ?? ''),
      String((cur as Error).stack),
    );
  }
  for (const s of secrets) expect(texts.join('\n')).not.toContain(s);
}

describe('SnppPagingChannel', () => {
  it('pages through the RFC 1861 dialogue: 220, PAGE, MESS, SEND, QUIT', async () => {
    const s = await gateway();
    const result = await channel(s).send(message());

    expect(result).toEqual({ status: 'sent' });
    expect(s.pages).toEqual([{ pagerId: PAGER, message: message().text, secure: false, loginId: undefined }]);
    await expect.poll(() => s.sessions[0]).toEqual([`PAGE ${PAGER}`, `MESS ${message().text}`, 'SEND', 'QUIT']);
  });

  it('logs in with LOGIn (Level 2) when configured, and a refused login is not retried', async () => {
    const s = await gateway({ login: { id: 'sealpost', password: 's3cret' } });
    await channel(s, { login: { id: 'sealpost', password: 's3cret' } }).send(message());
    expect(s.pages[0]?.loginId).toBe('sealpost');

    const e = await failure(channel(s, { login: { id: 'sealpost', password: 'wrong' } }).send(message()));
    expect(e).toMatchObject({ code: 'SP_CHANNEL_SEND_FAILED', retryable: false, detail: 'snpp 550 login refused' });
    expectNothingLeaked(e, 'wrong');
    expect(s.pages).toHaveLength(1);
  });

  it('an unknown pager id (550) fails without retry and nothing is sent', async () => {
    const s = await gateway();
    s.unknownPagers.add(PAGER);
    const e = await failure(channel(s).send(message({ text: `Alert ${PHI_MARKER}` })));

    expect(e).toMatchObject({ code: 'SP_CHANNEL_SEND_FAILED', retryable: false, detail: 'snpp 550 pager id refused' });
    expectNothingLeaked(e, PHI_MARKER, PAGER);
    expect(s.pages).toEqual([]);
  });

  it('421 (gateway unavailable) at the greeting or mid-dialogue is retryable, and the retry succeeds', async () => {
    const s = await gateway();
    s.script(
      { at: 'greeting', reply: '421 Gateway Service Unavailable' },
      { at: 'SEND', reply: '421 Too Many Errors' },
    );
    const c = channel(s);

    const first = await failure(c.send(message()));
    expect(first).toMatchObject({ code: 'SP_CHANNEL_SEND_FAILED', retryable: true, detail: 'snpp 421 at greeting' });
    const second = await failure(c.send(message()));
    expect(second).toMatchObject({ code: 'SP_CHANNEL_SEND_FAILED', retryable: true, detail: 'snpp 421 at SEND' });
    expect(s.pages).toEqual([]);

    await c.send(message());
    expect(s.pages).toHaveLength(1);
  });

  it('554 (technical failure) at SEND is retryable; 554 refusing the message is not', async () => {
    const s = await gateway();
    s.script(
      { at: 'SEND', reply: '554 Error, failed (paging terminal down)' },
      { at: 'MESS', reply: '554 Message Failed' },
    );
    const c = channel(s);
    expect(await failure(c.send(message()))).toMatchObject({ retryable: true, detail: 'snpp 554 at SEND' });
    expect(await failure(c.send(message()))).toMatchObject({ retryable: false, detail: 'snpp 554 at MESS' });
  });

  it('a gateway that stops answering fails with SP_CHANNEL_TIMEOUT (retryable)', async () => {
    const s = await gateway();
    s.script({ at: 'MESS', stall: true });
    const e = await failure(channel(s, { timeoutMs: 300 }).send(message()));
    expect(e).toMatchObject({ code: 'SP_CHANNEL_TIMEOUT', retryable: true });
    expect(s.pages).toEqual([]);
  });

  it("the caller's abort signal ends a page as a timeout, mid-dialogue or before it starts", async () => {
    const s = await gateway();
    s.script({ at: 'greeting', stall: true }, { at: 'greeting', stall: true });
    const c = channel(s, { timeoutMs: 60_000 });
    const mid = new AbortController();
    const p = c.send(message(), mid.signal);
    await expect.poll(() => s.sessions.length).toBe(1);
    mid.abort();
    expect(await failure(p)).toMatchObject({ code: 'SP_CHANNEL_TIMEOUT', retryable: true });

    const early = new AbortController();
    const q = c.send(message(), early.signal);
    early.abort();
    expect(await failure(q)).toMatchObject({ code: 'SP_CHANNEL_TIMEOUT', retryable: true });
    expect(s.pages).toEqual([]);
  });

  it('a connection closed mid-dialogue, or refused, is retryable', async () => {
    const s = await gateway();
    s.script({ at: 'PAGE', close: true });
    expect(await failure(channel(s).send(message()))).toMatchObject({
      code: 'SP_CHANNEL_SEND_FAILED',
      retryable: true,
      detail: 'snpp connection closed',
    });

    // A port nobody listens on: bind one, note it, close it.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    expect(await failure(channel({ port }).send(message()))).toMatchObject({
      code: 'SP_CHANNEL_SEND_FAILED',
      retryable: true,
      detail: 'snpp unreachable (ECONNREFUSED)',
    });
  });

  it('sends one line: CR/LF cannot inject commands, and an over-long text is cut to maxChars', async () => {
    const s = await gateway();
    const c = channel(s, { maxChars: 40 });
    await c.send(message({ text: 'Call 4-West\r\nSEND\r\nPAGE 999\nnow\ttoo' }));
    await c.send(message({ text: `Réanimation ${'x'.repeat(100)}` }));

    expect(s.pages.map((p) => p.message)).toEqual([
      'Call 4-West SEND PAGE 999 now too',
      `Reanimation ${'x'.repeat(28)}`,
    ]);
    expect(s.pages.every((p) => p.pagerId === PAGER)).toBe(true);
    await expect.poll(() => s.sessions[0]?.filter((l) => l.startsWith('PAGE'))).toEqual([`PAGE ${PAGER}`]);
  });

  it('refuses a pager id or text it cannot send as one SNPP command, without connecting', async () => {
    const s = await gateway();
    const c = channel(s);
    for (const to of ['', '555 0147', '5550147\r\nSEND', 'x'.repeat(65)]) {
      expect(await failure(c.send(message({ to }))), JSON.stringify(to)).toMatchObject({
        retryable: false,
        detail: 'snpp invalid pager id',
      });
    }
    expect(await failure(c.send(message({ text: ' \r\n\t ' })))).toMatchObject({
      retryable: false,
      detail: 'snpp empty message',
    });
    expect(s.sessions).toEqual([]);
  });

  it('speaks TLS from the first byte (snpps) to a gateway whose certificate a trusted CA issued', async () => {
    const ca = await testCa('Hospital Test CA');
    const cert = await serverCert('localhost', { ca });
    const s = await gateway({ tls: { cert: cert.cert, key: cert.key }, login: { id: 'sealpost', password: 'pw' } });

    await channel(s, { tls: true, ca: ca.cert, host: 'localhost', login: { id: 'sealpost', password: 'pw' } }).send(
      message(),
    );
    expect(s.pages).toEqual([{ pagerId: PAGER, message: message().text, secure: true, loginId: 'sealpost' }]);

    // Without the CA the certificate does not verify: refused, not retried, nothing paged.
    const e = await failure(channel(s, { tls: true }).send(message()));
    expect(e).toMatchObject({ code: 'SP_CHANNEL_TLS_REJECTED', retryable: false });
    expect(s.pages).toHaveLength(1);
  });

  it('refuses a login over plain TCP to a host that is not loopback', () => {
    expect(
      () =>
        new SnppPagingChannel({
          host: '10.0.0.9',
          port: 444,
          tls: false,
          maxChars: 240,
          timeoutMs: 1000,
          login: { id: 'a' },
        }),
    ).toThrow(/loopback/);
  });

  it('holds at most maxConnections pages in flight; the others wait their turn', async () => {
    const s = await gateway();
    const c = channel(s, { maxConnections: 2 });
    const sent = await Promise.all(Array.from({ length: 6 }, (_, i) => c.send(message({ to: `55501${i}` }))));
    expect(sent.every((r) => r.status === 'sent')).toBe(true);
    expect(s.pages.map((p) => p.pagerId).sort()).toEqual(['555010', '555011', '555012', '555013', '555014', '555015']);
    expect(s.peakInFlight).toBeLessThanOrEqual(2);
  });
});
