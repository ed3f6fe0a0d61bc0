import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildAck } from '../ehr/hl7/ack.js';
import { parseHl7 } from '../ehr/hl7/message.js';
import { MllpDecoder, frame } from '../ehr/hl7/mllp.js';
import { clientCert, serverCert, testCa, type Pem } from '../../test/helpers/transport-pki.js';
import { sendMllp } from './mllp-client.js';
import { startMllpServer, type MllpEvent, type MllpPeer, type MllpServerOptions } from './mllp-server.js';

const FIXTURES = join(import.meta.dirname, '../../test/fixtures/hl7v2');
const HOST = '127.0.0.1';

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(o: Partial<MllpServerOptions> & Pick<MllpServerOptions, 'handle'>) {
  const s = await startMllpServer({
    host: HOST,
    port: 0,
    maxMessageBytes: 64 * 1024,
    maxConnections: 50,
    idleTimeoutMs: 30_000,
    ...o,
  });
  servers.push(s);
  return s;
}

/** A handler answering `ACK:<payload>`, recording calls and the largest number running at once per peer. */
function echo(delay: (payload: string) => number = () => 0) {
  const calls: string[] = [];
  let running = 0;
  let maxRunning = 0;
  return {
    calls,
    maxRunning: () => maxRunning,
    handle: async (payload: Buffer) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      const text = payload.toString('utf8');
      calls.push(text);
      await new Promise((r) => setTimeout(r, delay(text)));
      running--;
      return `ACK:${text}`;
    },
  };
}

/** A raw client: connects, writes bytes, collects decoded frames, reports close. */
async function rawClient(port: number, localAddress?: string) {
  const socket: Socket = connect({ host: HOST, port, ...(localAddress ? { localAddress } : {}) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const decoder = new MllpDecoder(1024 * 1024);
  const frames: string[] = [];
  socket.on('data', (c) => frames.push(...decoder.push(c).map((b) => b.toString('utf8'))));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, frames, closed };
}

const waitFor = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
};

describe('MLLP server over TCP', () => {
  it('answers each message of a connection in arrival order, one at a time, even when pipelined', async () => {
    // The first message is the slowest: a server handling them concurrently would answer out of order.
    const h = echo((t) => (t === 'm1' ? 150 : t === 'm2' ? 50 : 0));
    const s = await start({ handle: h.handle });
    const c = await rawClient(s.port);
    c.socket.write(Buffer.concat([frame('m1'), frame('m2'), frame('m3')]));
    await waitFor(() => c.frames.length === 3);
    expect(c.frames).toEqual(['ACK:m1', 'ACK:m2', 'ACK:m3']);
    expect(h.calls).toEqual(['m1', 'm2', 'm3']);
    expect(h.maxRunning()).toBe(1);
    c.socket.destroy();
  });

  it('handles connections concurrently: a slow message on one does not hold another', async () => {
    let releaseA!: () => void;
    const aWaits = new Promise<void>((r) => (releaseA = r));
    const s = await start({
      handle: async (p) => {
        const t = p.toString();
        if (t === 'A') await aWaits;
        if (t === 'B') releaseA();
        return `ACK:${t}`;
      },
    });
    const [a, b] = await Promise.all([
      sendMllp({ host: HOST, port: s.port }, ['A']),
      sendMllp({ host: HOST, port: s.port }, ['B']),
    ]);
    expect([a, b]).toEqual([['ACK:A'], ['ACK:B']]);
  });

  it('serves many concurrent connections, each getting its own ACKs in order', async () => {
    const h = echo(() => Math.floor(Math.random() * 5));
    const s = await start({ handle: h.handle, maxConnectionsPerAddress: 20 });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, c) =>
        sendMllp(
          { host: HOST, port: s.port },
          Array.from({ length: 5 }, (_, i) => `c${c}-m${i}`),
        ),
      ),
    );
    results.forEach((acks, c) => expect(acks).toEqual(Array.from({ length: 5 }, (_, i) => `ACK:c${c}-m${i}`)));
    expect(h.calls).toHaveLength(100);
  });

  it('passes the payload bytes unchanged (UTF-8, control characters) and the peer address', async () => {
    const seen: { payload: Buffer; peer: MllpPeer }[] = [];
    const s = await start({
      handle: async (payload, peer) => {
        seen.push({ payload, peer });
        return 'ok';
      },
    });
    const text = 'MSH|^~\\&|A\rPID|1||Müller^Zoë^田中\u001c\u0001';
    await sendMllp({ host: HOST, port: s.port }, [text]);
    expect(seen[0]!.payload.toString('utf8')).toBe(text);
    expect(seen[0]!.peer).toEqual({ remoteAddress: HOST, tls: false });
  });

  it('sends nothing back for a message whose handler answers "" (no acknowledgement wanted)', async () => {
    const s = await start({ handle: async (p) => (p.toString() === 'quiet' ? '' : `ACK:${p}`) });
    const c = await rawClient(s.port);
    c.socket.write(Buffer.concat([frame('quiet'), frame('loud')]));
    await waitFor(() => c.frames.length === 1);
    expect(c.frames).toEqual(['ACK:loud']);
    c.socket.destroy();
  });

  it('closes the connection without an ACK when the handler rejects', async () => {
    const events: MllpEvent[] = [];
    const h = echo();
    const s = await start({
      handle: async (p, peer) => {
        if (p.toString() === 'bad') throw new Error('store unavailable');
        return h.handle(p);
      },
      onEvent: (e) => events.push(e),
    });
    const c = await rawClient(s.port);
    c.socket.write(Buffer.concat([frame('good'), frame('bad'), frame('never')]));
    await c.closed;
    expect(c.frames).toEqual(['ACK:good']);
    expect(h.calls).toEqual(['good']);
    expect(events.map((e) => e.type)).toContain('handler_failed');
    await expect(sendMllp({ host: HOST, port: s.port }, ['bad'], { timeoutMs: 5000 })).rejects.toThrow(
      /closed before an acknowledgement/,
    );
  });

  it('closes the connection on a frame over the size limit, without calling the handler', async () => {
    const events: MllpEvent[] = [];
    const h = echo();
    const s = await start({ handle: h.handle, maxMessageBytes: 1000, onEvent: (e) => events.push(e) });
    const c = await rawClient(s.port);
    c.socket.write(frame('x'.repeat(1000)));
    await waitFor(() => c.frames.length === 1);
    c.socket.write(frame('y'.repeat(1001)));
    await c.closed;
    expect(c.frames).toEqual([`ACK:${'x'.repeat(1000)}`]);
    expect(h.calls).toHaveLength(1);
    expect(events).toContainEqual(expect.objectContaining({ type: 'framing_error', reason: 'too_large' }));
  });

  it('closes the connection on bytes that are not MLLP', async () => {
    const events: MllpEvent[] = [];
    const h = echo();
    const s = await start({ handle: h.handle, onEvent: (e) => events.push(e) });
    const c = await rawClient(s.port);
    c.socket.write('MSH|^~\\&|unframed\r');
    await c.closed;
    expect(c.frames).toEqual([]);
    expect(h.calls).toEqual([]);
    expect(events).toContainEqual(expect.objectContaining({ type: 'framing_error', reason: 'outside_frame' }));
  });

  it('refuses connections beyond maxConnections and accepts again once one closes', async () => {
    const s = await start({ handle: echo().handle, maxConnections: 2 });
    const a = await rawClient(s.port);
    const b = await rawClient(s.port);
    a.socket.write(frame('a'));
    b.socket.write(frame('b'));
    await waitFor(() => a.frames.length === 1 && b.frames.length === 1);
    await expect(sendMllp({ host: HOST, port: s.port }, ['third'], { timeoutMs: 5000 })).rejects.toThrow(/MLLP/);
    a.socket.destroy();
    await a.closed;
    // The server learns of the close asynchronously: retry until the slot is free.
    let acks: string[] = [];
    for (let i = 0; i < 50 && acks.length === 0; i++) {
      acks = await sendMllp({ host: HOST, port: s.port }, ['again'], { timeoutMs: 2000 }).catch(() => []);
      if (acks.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(acks).toEqual(['ACK:again']);
    b.socket.destroy();
  });

  it('closes an idle connection, but not while a message is being handled', async () => {
    const events: MllpEvent[] = [];
    const s = await start({
      handle: async (p) => {
        if (p.toString() === 'slow') await new Promise((r) => setTimeout(r, 600));
        return `ACK:${p}`;
      },
      idleTimeoutMs: 200,
      onEvent: (e) => events.push(e),
    });
    expect(await sendMllp({ host: HOST, port: s.port }, ['slow', 'fast'])).toEqual(['ACK:slow', 'ACK:fast']);
    const c = await rawClient(s.port);
    await c.closed;
    expect(events.map((e) => e.type)).toContain('idle_timeout');
  });

  it('closes a connection that sends only keep-alive whitespace between frames after the idle timeout', async () => {
    const events: MllpEvent[] = [];
    const s = await start({ handle: echo().handle, idleTimeoutMs: 300, onEvent: (e) => events.push(e) });
    const c = await rawClient(s.port);
    c.socket.write(frame('m1'));
    await waitFor(() => c.frames.length === 1);
    // CR, LF, space and tab every 50 ms: accepted between frames, but not traffic.
    const keepAlive = setInterval(() => c.socket.write('\r\n \t'), 50);
    const outcome = await Promise.race([
      c.closed.then(() => 'closed'),
      new Promise((r) => setTimeout(() => r('still open'), 5000)),
    ]);
    clearInterval(keepAlive);
    expect(outcome).toBe('closed');
    expect(c.frames).toEqual(['ACK:m1']);
    expect(events).toContainEqual({ type: 'idle_timeout', peer: { remoteAddress: HOST, tls: false } });
    c.socket.destroy();
  });

  it('counts bytes inside a frame as traffic: a frame trickling in over several idle timeouts is answered', async () => {
    const events: MllpEvent[] = [];
    const s = await start({ handle: echo().handle, idleTimeoutMs: 200, onEvent: (e) => events.push(e) });
    const c = await rawClient(s.port);
    const bytes = frame('trickled');
    // One byte every 50 ms: the frame takes 11 × 50 ms, longer than the 200 ms idle timeout.
    for (const b of bytes) {
      c.socket.write(Buffer.from([b]));
      await new Promise((r) => setTimeout(r, 50));
    }
    await waitFor(() => c.frames.length === 1 || c.socket.destroyed);
    expect(c.frames).toEqual(['ACK:trickled']);
    expect(events).toEqual([]);
    c.socket.destroy();
  });

  it('refuses a remote address over its connection limit while another address is served', async () => {
    const events: MllpEvent[] = [];
    const s = await start({ handle: echo().handle, maxConnectionsPerAddress: 2, onEvent: (e) => events.push(e) });
    const held = [await rawClient(s.port, '127.0.0.1'), await rawClient(s.port, '127.0.0.1')];
    for (const [i, c] of held.entries()) c.socket.write(frame(`held${i}`));
    await waitFor(() => held.every((c) => c.frames.length === 1));
    // A third from 127.0.0.1 is closed on accept, its frame never handled.
    const refused = await rawClient(s.port, '127.0.0.1');
    refused.socket.write(frame('refused'));
    await refused.closed;
    expect(refused.frames).toEqual([]);
    expect(events).toContainEqual({ type: 'address_limit', remoteAddress: '127.0.0.1' });
    // Another address still gets its slot.
    const other = await rawClient(s.port, '127.0.0.2');
    other.socket.write(frame('other'));
    await waitFor(() => other.frames.length === 1);
    expect(other.frames).toEqual(['ACK:other']);
    // Once one of 127.0.0.1's connections closes, it may connect again.
    held[0]!.socket.destroy();
    await held[0]!.closed;
    let again: string[] = [];
    for (let i = 0; i < 50 && again.length === 0; i++) {
      const c = await rawClient(s.port, '127.0.0.1');
      c.socket.write(frame('again'));
      await Promise.race([waitFor(() => c.frames.length === 1), c.closed]);
      again = c.frames;
      c.socket.destroy();
    }
    expect(again).toEqual(['ACK:again']);
    for (const c of [...held, other]) c.socket.destroy();
  });

  it('stops reading a connection while maxMessageBytes of frames wait, whatever their number', async () => {
    // Two frames of 40 KiB with a 64 KiB limit: the second fills the connection's budget, so the socket
    // is not read again until the first is processed. A byte that is not MLLP sent after them is therefore
    // seen only after that: both frames reach the handler before the framing error closes the connection.
    const seen: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const s = await start({
      maxMessageBytes: 64 * 1024,
      handle: async (p) => {
        seen.push(`handle:${p.subarray(0, 2).toString()}`);
        if (seen.length === 1) await held;
        return 'ACK';
      },
      onEvent: (e) => seen.push(e.type),
    });
    const c = await rawClient(s.port);
    c.socket.write(Buffer.concat([frame(`f1${'x'.repeat(40 * 1024)}`), frame(`f2${'y'.repeat(40 * 1024)}`)]));
    await waitFor(() => seen.length === 1);
    c.socket.write('X');
    // Give a server that kept reading the chance to see the stray byte (it would abort, dropping f2).
    await Promise.race([waitFor(() => seen.includes('framing_error')), new Promise((r) => setTimeout(r, 500))]);
    release();
    await c.closed;
    expect(seen).toEqual(['handle:f1', 'handle:f2', 'framing_error']);
  });

  it('answers every frame a sender wrote before half-closing', async () => {
    const s = await start({ handle: echo(() => 20).handle });
    const c = await rawClient(s.port);
    c.socket.end(Buffer.concat([frame('1'), frame('2')]));
    await c.closed;
    expect(c.frames).toEqual(['ACK:1', 'ACK:2']);
  });

  it('close() waits for the message in hand, sends its ACK, and takes no new connection', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let started = false;
    const s = await startMllpServer({
      host: HOST,
      port: 0,
      maxMessageBytes: 1024,
      maxConnections: 10,
      idleTimeoutMs: 30_000,
      handle: async (p) => {
        started = true;
        await held;
        return `ACK:${p}`;
      },
    });
    const c = await rawClient(s.port);
    c.socket.write(Buffer.concat([frame('in-hand'), frame('queued')]));
    await waitFor(() => started);
    let closed = false;
    const closing = s.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(false);
    await expect(sendMllp({ host: HOST, port: s.port }, ['new'], { timeoutMs: 2000 })).rejects.toThrow(/MLLP/);
    release();
    await closing;
    await c.closed;
    expect(c.frames).toEqual(['ACK:in-hand']);
  });

  it('sendMllp gives up after its timeout when no ACK comes', async () => {
    let release!: (ack: string) => void;
    const s = await start({ handle: () => new Promise<string>((r) => (release = r)) });
    await expect(sendMllp({ host: HOST, port: s.port }, ['m'], { timeoutMs: 200 })).rejects.toThrow(
      /no acknowledgement for message 1 within 200 ms/,
    );
    // close() waits for the message in hand: let it finish.
    release('late');
  });

  it('sendMllp reports a refused connection', async () => {
    const s = await start({ handle: echo().handle });
    const port = s.port;
    await servers.pop()!.close();
    await expect(sendMllp({ host: HOST, port }, ['m'], { timeoutMs: 2000 })).rejects.toThrow(
      /cannot connect \(ECONNREFUSED\)/,
    );
  });

  it('round-trips every sample message with an AA acknowledgement naming its control id', async () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.hl7'));
    const texts = files.map((f) => readFileSync(join(FIXTURES, f), 'utf8').replace(/\r?\n/g, '\r'));
    let n = 0;
    const s = await start({
      maxMessageBytes: 1024 * 1024,
      handle: async (payload) => {
        const raw = payload.toString('utf8');
        return buildAck(parseHl7(raw), raw, 'AA', { controlId: `SP${++n}`, now: new Date() });
      },
    });
    const acks = await sendMllp({ host: HOST, port: s.port }, texts);
    expect(acks).toHaveLength(files.length);
    acks.forEach((ack, i) => {
      const parsed = parseHl7(ack);
      expect(parsed.type).toBe('ACK');
      expect(parsed.segment('MSA')!.get(1)).toBe('AA');
      expect(parsed.segment('MSA')!.get(2)).toBe(parseHl7(texts[i]!).controlId);
      expect(parsed.controlId).toBe(`SP${i + 1}`);
    });
  });
});

describe('MLLP server over TLS', () => {
  let ca: Pem, otherCa: Pem, server: Pem, client: Pem, stranger: Pem;
  beforeAll(async () => {
    [ca, otherCa] = await Promise.all([testCa('hl7 test ca'), testCa('other ca')]);
    [server, client, stranger] = await Promise.all([
      serverCert('mllp server', { ca }),
      clientCert('interface engine', { ca }),
      clientCert('stranger', { ca: otherCa }),
    ]);
  });

  it('serves TLS without client certificates when no client CA is configured', async () => {
    const peers: MllpPeer[] = [];
    const s = await start({
      tls: { cert: server.cert, key: server.key },
      handle: async (p, peer) => {
        peers.push(peer);
        return `ACK:${p}`;
      },
    });
    expect(await sendMllp({ host: HOST, port: s.port, tls: { ca: ca.cert } }, ['t1', 't2'])).toEqual([
      'ACK:t1',
      'ACK:t2',
    ]);
    expect(peers[0]).toEqual({ remoteAddress: HOST, tls: true });
    // The client verifies the server: an unknown CA is refused.
    await expect(
      sendMllp({ host: HOST, port: s.port, tls: { ca: otherCa.cert } }, ['t'], { timeoutMs: 5000 }),
    ).rejects.toThrow(/cannot connect/);
  });

  it('requires a client certificate from the configured CA and reports its SHA-256', async () => {
    const peers: MllpPeer[] = [];
    const events: MllpEvent[] = [];
    const s = await start({
      tls: { cert: server.cert, key: server.key, ca: ca.cert },
      handle: async (p, peer) => {
        peers.push(peer);
        return `ACK:${p}`;
      },
      onEvent: (e) => events.push(e),
    });
    const target = { host: HOST, port: s.port };
    expect(await sendMllp({ ...target, tls: { ca: ca.cert, cert: client.cert, key: client.key } }, ['m'])).toEqual([
      'ACK:m',
    ]);
    expect(peers).toEqual([{ remoteAddress: HOST, tls: true, clientCertSha256: client.sha256 }]);

    await expect(sendMllp({ ...target, tls: { ca: ca.cert } }, ['no cert'], { timeoutMs: 5000 })).rejects.toThrow(
      /MLLP/,
    );
    await expect(
      sendMllp({ ...target, tls: { ca: ca.cert, cert: stranger.cert, key: stranger.key } }, ['other ca'], {
        timeoutMs: 5000,
      }),
    ).rejects.toThrow(/MLLP/);
    expect(peers).toHaveLength(1);
    await waitFor(() => events.filter((e) => e.type === 'tls_handshake_failed').length >= 1);
  });

  it('counts connections per address before the handshake and refuses the excess without a TLS session', async () => {
    const events: MllpEvent[] = [];
    const s = await start({
      tls: { cert: server.cert, key: server.key },
      handle: echo().handle,
      maxConnectionsPerAddress: 1,
      onEvent: (e) => events.push(e),
    });
    // A connection that never starts its handshake still holds 127.0.0.1's one slot.
    const holder = await rawClient(s.port, '127.0.0.1');
    await expect(
      sendMllp({ host: HOST, port: s.port, tls: { ca: ca.cert } }, ['refused'], { timeoutMs: 5000 }),
    ).rejects.toThrow(/MLLP/);
    await waitFor(() => events.some((e) => e.type === 'address_limit'));
    expect(events).toContainEqual({ type: 'address_limit', remoteAddress: '127.0.0.1' });
    const tcp = connect({ host: HOST, port: s.port, localAddress: '127.0.0.2' });
    const other = tlsConnect({ socket: tcp, host: HOST, ca: ca.cert });
    other.on('error', () => {});
    const decoder = new MllpDecoder(1024 * 1024);
    const acks: string[] = [];
    other.on('data', (c: Buffer) => acks.push(...decoder.push(c).map((b) => b.toString('utf8'))));
    other.once('secureConnect', () => other.write(frame('other address')));
    await waitFor(() => acks.length === 1 || other.destroyed);
    expect(acks).toEqual(['ACK:other address']);
    // The refused socket is reported once, as refused, not as a failed handshake as well.
    expect(events).toEqual([{ type: 'address_limit', remoteAddress: '127.0.0.1' }]);
    other.destroy();
    holder.socket.destroy();
  });

  it('refuses plain TCP on a TLS listener', async () => {
    const h = echo();
    const s = await start({ tls: { cert: server.cert, key: server.key }, handle: h.handle });
    await expect(sendMllp({ host: HOST, port: s.port }, ['plain'], { timeoutMs: 3000 })).rejects.toThrow(/MLLP/);
    expect(h.calls).toEqual([]);
  });
});
