import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../../../test/helpers/webhook-receiver.js';
import { ChannelError, type OutboundMessage } from '../channel.js';
import { OutboundAddressPolicy } from '../outbound-address.js';
import { HttpWebhookChannel, type HttpWebhookChannelOptions } from './http-webhook-channel.js';

const SECRET = 'whsec_ssrf_test';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function receiver(tls = false): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver({ secret: SECRET, tls });
  cleanups.push(() => r.close());
  return r;
}

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function channel(opts: Partial<HttpWebhookChannelOptions> = {}): HttpWebhookChannel {
  const c = new HttpWebhookChannel({ secret: SECRET, timeoutMs: 2_000, ...opts });
  cleanups.push(() => c.close());
  return c;
}

const message = (to: string): OutboundMessage => ({
  deliveryId: 'dlv_ssrf_01',
  notificationId: 'ntf_ssrf_01',
  tenantId: 'tnt_1',
  channel: 'webhook',
  to,
  text: 'You have a new secure message.',
  link: 'https://portal.example/m/live-link',
});

async function refusal(p: Promise<unknown>): Promise<ChannelError> {
  const e = await p.then(
    () => new Error('expected a refusal'),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ChannelError);
  return e as ChannelError;
}

describe('webhook destinations: server-side request forgery', () => {
  it('refuses loopback in every spelling, open port or closed, with one error that tells them apart in no way', async () => {
    const r = await receiver();
    const open = new URL(r.url).port;
    const closed = await closedPort();
    const urls = [
      `http://127.0.0.1:${open}/hook`,
      `http://127.0.0.1:${closed}/hook`,
      `http://localhost:${open}/hook`,
      `http://localhost:${closed}/hook`,
      `http://127.1:${open}/hook`,
      `http://2130706433:${open}/hook`,
      `http://0x7f.0.0.1:${open}/hook`,
      `http://[::1]:${open}/hook`,
      `http://[::ffff:127.0.0.1]:${open}/hook`,
      `https://127.0.0.1:${open}/hook`,
      `https://localhost:${open}/hook`,
    ];
    const outcomes = new Set<string>();
    for (const url of urls) {
      const e = await refusal(channel().send(message(url)));
      outcomes.add(JSON.stringify([e.code, e.retryable, e.detail]));
    }
    expect([...outcomes]).toEqual([JSON.stringify(['SP_CHANNEL_ADDRESS_REFUSED', false, 'webhook address refused'])]);
    expect(r.records).toHaveLength(0);
  });

  it('refuses private, link-local, carrier-grade NAT, unique-local and cloud metadata addresses without connecting', async () => {
    for (const url of [
      'https://10.0.0.1/hook',
      'https://172.16.5.4/hook',
      'https://192.168.1.1/hook',
      'https://169.254.169.254/latest/meta-data/',
      'https://100.100.100.200/latest/meta-data/',
      'https://100.64.0.1/hook',
      'https://0.0.0.0/hook',
      'https://[fd00:ec2::254]/latest/meta-data/',
      'https://[fe80::1]/hook',
      'https://[fc00::1]/hook',
      'https://[::ffff:10.0.0.1]/hook',
      'https://[::ffff:169.254.169.254]/hook',
      'https://[64:ff9b::a00:1]/hook',
      'https://[::a00:1]/hook',
      'http://10.0.0.1/hook',
      'http://example.com/hook',
    ]) {
      const e = await refusal(channel().send(message(url)));
      expect([e.code, e.retryable], url).toEqual(['SP_CHANNEL_ADDRESS_REFUSED', false]);
    }
  });

  it('SEALPOST_WEBHOOK_ALLOWED_HOSTS lets an operator allow named hosts and addresses; others stay refused', async () => {
    const r = await receiver();
    const open = new URL(r.url).port;
    // An address entry allows what resolves to it, under any name.
    const byAddress = channel({ allowedHosts: ['127.0.0.1'] });
    expect(await byAddress.send(message(`http://127.0.0.1:${open}/hook`))).toEqual({ status: 'delivered' });
    expect(await byAddress.send(message(`http://localhost:${open}/hook`))).toEqual({ status: 'delivered' });
    expect((await refusal(byAddress.send(message('https://10.0.0.1/hook')))).code).toBe('SP_CHANNEL_ADDRESS_REFUSED');
    // Once allowed, a closed port is an ordinary (retryable) connection failure.
    const closed = await refusal(byAddress.send(message(`http://127.0.0.1:${await closedPort()}/hook`)));
    expect([closed.code, closed.retryable]).toEqual(['SP_CHANNEL_SEND_FAILED', true]);
    // A name entry allows that name only, not the address behind it.
    const byName = channel({ allowedHosts: ['localhost'] });
    expect(await byName.send(message(`http://localhost:${open}/hook`))).toEqual({ status: 'delivered' });
    expect((await refusal(byName.send(message(`http://127.0.0.1:${open}/hook`)))).code).toBe(
      'SP_CHANNEL_ADDRESS_REFUSED',
    );
    // Plain http stays loopback-only, even to an allowed host.
    const internal = channel({ allowedHosts: ['10.0.0.1', 'hooks.internal'] });
    expect((await refusal(internal.send(message('http://10.0.0.1/hook')))).code).toBe('SP_CHANNEL_ADDRESS_REFUSED');
    expect(r.records.filter((x) => x.validSignature)).toHaveLength(3);
  });

  it('the policy: public unicast allowed; the lookup resolves once and hands the checked address to the socket', async () => {
    const p = new OutboundAddressPolicy();
    for (const a of ['8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8'])
      expect(p.allows('example.org', a), a).toBe(true);
    for (const a of [
      '127.0.0.1',
      '::1',
      '10.1.2.3',
      '169.254.169.254',
      '100.64.1.1',
      'fd00::1',
      'fe80::1',
      '::',
      '224.0.0.1',
      '255.255.255.255',
      '::ffff:127.0.0.1',
      '2002:7f00:1::',
      '2001::1',
      'not-an-ip',
    ])
      expect(p.allows('example.org', a), a).toBe(false);
    const lookup = (policy: OutboundAddressPolicy, all: boolean) =>
      new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) =>
        policy.lookup('localhost', { all }, (err, address) => resolve({ err, address })),
      );
    expect((await lookup(p, true)).err?.code).toBe('SP_CHANNEL_ADDRESS_REFUSED');
    const allowed = new OutboundAddressPolicy(['127.0.0.0/8']);
    expect((await lookup(allowed, true)).address).toEqual([{ address: '127.0.0.1', family: 4 }]);
    expect((await lookup(allowed, false)).address).toBe('127.0.0.1');
    expect(() => new OutboundAddressPolicy(['10.0.0.0/99'])).toThrow();
  });
});
