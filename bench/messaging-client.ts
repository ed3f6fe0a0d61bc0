/**
 * The devices of the messaging benches, in a process of their own (forked by bench/messaging-load.ts)
 * so that the server process's CPU is the server's only: WebSocket receivers (`ws`) counting the
 * frames they get, and a sender posting messages over HTTP at a fixed rate, timing each message from
 * the moment its POST starts to the moment its frame reaches the receiver (one clock: this process).
 */
import { Agent, request } from 'node:http';
import { Agent as TlsAgent, request as tlsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

export type ClientCommand =
  | { op: 'connect'; url: string; ca?: string; conns: { token?: string; query: string }[] }
  | { op: 'expect'; total: number; timeoutMs: number }
  | {
      op: 'latency';
      postUrl: string;
      token?: string;
      /** The server's certificate when postUrl is https. */
      ca?: string;
      bodies: string[];
      rate: number;
      timeoutMs: number;
    }
  | { op: 'close' };

export interface LatencyResult {
  sent: number;
  received: number;
  failed: number;
  statuses: Record<string, number>;
  p50: number;
  p99: number;
  max: number;
  /** POST → its answer (the server accepted the message), ms. */
  postP50: number;
  postP99: number;
  /** From the first POST to the last frame, seconds. */
  spanSec: number;
}

const sockets: WebSocket[] = [];
let count = 0;
let bytes = 0;
let onFrame: ((data: string | null) => void) | null = null;
let waiter: (() => void) | null = null;
let target = Infinity;

/** An application message's frame: Sealpost's `{ type: 'event', event }` or the bare path's `{ type: 'event', data }`. */
function payloadOf(text: string): string | null {
  const f = JSON.parse(text) as { type: string; event?: { kind: string; data: string | null }; data?: string };
  if (f.type !== 'event') return null;
  if (f.event) return f.event.kind === 'application' ? f.event.data : null;
  return f.data ?? null;
}

function connect(url: string, ca: string | undefined, conns: { token?: string; query: string }[]): Promise<void> {
  return Promise.all(
    conns.map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(`${url}?${c.query}`, {
            headers: c.token ? { authorization: `Bearer ${c.token}` } : {},
            perMessageDeflate: false,
            ...(ca ? { ca } : {}),
          });
          // Acks as a device sends them (the latest seq per conversation, every 50 ms): without them a
          // reconnecting device is sent its whole backlog again.
          const acked = new Map<string, number>();
          const latest = new Map<string, number>();
          const ackTimer = setInterval(() => {
            for (const [conversationId, seq] of latest)
              if (acked.get(conversationId) !== seq && ws.readyState === WebSocket.OPEN) {
                ws.send(JSON.stringify({ type: 'ack', conversationId, seq }));
                acked.set(conversationId, seq);
              }
          }, 50);
          ws.once('close', () => clearInterval(ackTimer));
          ws.on('message', (d) => {
            const text = String(d);
            const ev = (JSON.parse(text) as { event?: { conversationId: string; seq: number } }).event;
            if (ev) latest.set(ev.conversationId, Math.max(latest.get(ev.conversationId) ?? 0, ev.seq));
            const p = payloadOf(text);
            if (p === null) return;
            count++;
            bytes += text.length;
            onFrame?.(p);
            if (count >= target && waiter) {
              const w = waiter;
              waiter = null;
              w();
            }
          });
          ws.once('open', () => resolve());
          ws.once('error', reject);
          ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
          sockets.push(ws);
        }),
    ),
  ).then(() => undefined);
}

function expect(total: number, timeoutMs: number): Promise<{ received: number; avgFrameBytes: number }> {
  count = 0;
  bytes = 0;
  target = total;
  return new Promise((resolve) => {
    const done = () => resolve({ received: count, avgFrameBytes: count ? bytes / count : 0 });
    const t = setTimeout(() => {
      waiter = null;
      done();
    }, timeoutMs);
    waiter = () => {
      clearTimeout(t);
      done();
    };
    process.send!({ op: 'armed' });
  });
}

function post(agent: Agent, url: URL, token: string | undefined, body: string): Promise<number> {
  return new Promise((resolve) => {
    const req = (url.protocol === 'https:' ? tlsRequest : request)(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

async function latency(c: Extract<ClientCommand, { op: 'latency' }>): Promise<LatencyResult> {
  // A busy sender's few connections (the server caps connections per address; 1,024 were refused).
  const agent = c.postUrl.startsWith('https:')
    ? new TlsAgent({ keepAlive: true, maxSockets: 32, ca: c.ca })
    : new Agent({ keepAlive: true, maxSockets: 32 });
  const url = new URL(c.postUrl);
  const sentAt = new Map<string, number>();
  const lat: number[] = [];
  const postLat: number[] = [];
  const statuses: Record<string, number> = {};
  let failed = 0;
  let last = 0;
  onFrame = (data) => {
    const t0 = data === null ? undefined : sentAt.get(data);
    if (t0 === undefined) return;
    sentAt.delete(data!);
    last = performance.now();
    lat.push(last - t0);
  };
  const keys = c.bodies.map((b) => (JSON.parse(b) as { message: string }).message);
  const start = performance.now();
  const posts: Promise<void>[] = [];
  // Paced by the clock: message k is due at start + k / rate (a tick every 2 ms sends what is due).
  await new Promise<void>((resolve) => {
    let sent = 0;
    const tick = setInterval(() => {
      const due = Math.min(c.bodies.length, Math.floor(((performance.now() - start) / 1000) * c.rate));
      for (; sent < due; sent++) {
        const i = sent;
        const t0 = performance.now();
        sentAt.set(keys[i]!, t0);
        posts.push(
          post(agent, url, c.token, c.bodies[i]!).then((s) => {
            postLat.push(performance.now() - t0);
            statuses[s] = (statuses[s] ?? 0) + 1;
            if (s < 200 || s > 299) failed++;
          }),
        );
      }
      if (sent >= c.bodies.length) {
        clearInterval(tick);
        resolve();
      }
    }, 2);
  });
  await Promise.all(posts);
  const deadline = performance.now() + c.timeoutMs;
  while (lat.length + failed < c.bodies.length && performance.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  onFrame = null;
  agent.destroy();
  lat.sort((a, b) => a - b);
  postLat.sort((a, b) => a - b);
  const pick = (xs: number[], p: number) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]! : NaN);
  const q = (p: number) => pick(lat, p);
  return {
    sent: c.bodies.length,
    received: lat.length,
    failed,
    statuses,
    p50: q(0.5),
    p99: q(0.99),
    max: lat[lat.length - 1] ?? NaN,
    postP50: pick(postLat, 0.5),
    postP99: pick(postLat, 0.99),
    spanSec: ((last || performance.now()) - start) / 1000,
  };
}

process.on('message', (c: ClientCommand) => {
  const reply = (p: Promise<unknown>) =>
    p.then(
      (r) => process.send!({ op: 'ok', result: r }),
      (e: unknown) => process.send!({ op: 'error', message: e instanceof Error ? e.message : String(e) }),
    );
  if (c.op === 'connect') reply(connect(c.url, c.ca, c.conns));
  else if (c.op === 'expect') reply(expect(c.total, c.timeoutMs));
  else if (c.op === 'latency') reply(latency(c));
  else if (c.op === 'close') {
    for (const s of sockets.splice(0)) s.terminate();
    process.send!({ op: 'ok', result: null });
  }
});
