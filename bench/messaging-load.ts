/**
 * Server-side messaging load, each beside a reference in the same run (devices in a child process,
 * bench/messaging-client.ts, so this process's CPU is the server's):
 * - fan-out: one message to a 50-device group (X25519 suite) posted by its creator, accepted by the
 *   conversations part (checks, ordered append, audit, durable commit) and pushed by the live hub to
 *   50 live WebSocket connections; server CPU per delivered copy. Reference: this process sending the
 *   same number of frames of the same size to 50 `ws` connections (a bare WebSocketServer, TLS when
 *   the app is measured over HTTPS);
 * - latency: sender → recipient at a fixed rate, real HTTP POST by the sender, real WebSocket
 *   receipt, in a direct conversation; p50/p99 and server CPU per message. Reference: a bare Fastify
 *   POST route that pushes the posted ciphertext to the recipient's `ws` connection, same load.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { WebSocketServer, type WebSocket } from 'ws';
import { testTls } from '../test/helpers/sealpost-harness.js';
import type { ClientCommand, LatencyResult } from './messaging-client.js';
import { registerDevices, startBenchServer, type Backend } from './messaging-setup.js';
import { makeGroup, messagesOf, startStack } from './messaging-stack.js';
import { PhaseProfiler, type ProfileSummary } from './profiler.js';

const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' as const;
const runTs = fileURLToPath(new URL('../bin/run-ts.js', import.meta.url));
const clientFile = fileURLToPath(new URL('./messaging-client.ts', import.meta.url));

export class Devices {
  private readonly child: ChildProcess = fork(runTs, [clientFile], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  private queue: ((m: { op: string; result?: unknown; message?: string }) => void)[] = [];

  constructor() {
    this.child.on('message', (m: { op: string; result?: unknown; message?: string }) => this.queue.shift()?.(m));
  }

  private next<T>(): Promise<T> {
    return new Promise((resolve, reject) =>
      this.queue.push((m) => (m.op === 'error' ? reject(new Error(m.message)) : resolve(m.result as T))),
    );
  }

  run<T>(c: ClientCommand): Promise<T> {
    const p = this.next<T>();
    this.child.send(c);
    return p;
  }

  /** Arms a count of `total` frames; resolves `armed` once the child counts, `done` when all came. */
  expect(total: number, timeoutMs = 120_000) {
    const armed = this.next<void>();
    const done = this.next<{ received: number; avgFrameBytes: number }>();
    this.child.send({ op: 'expect', total, timeoutMs } satisfies ClientCommand);
    return { armed, done };
  }

  async close(): Promise<void> {
    await this.run({ op: 'close' }).catch(() => undefined);
    this.child.kill();
  }
}

export const cpuNow = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

export interface FanoutResult {
  backend: Backend;
  devices: number;
  messages: number;
  copies: number;
  frameBytes: number;
  cpuUsPerCopy: number;
  wallMsPerMessage: number;
  reference: { copies: number; cpuUsPerCopy: number };
  profile: ProfileSummary | null;
}

export async function runFanout(
  backend: Backend,
  o: { messages: number; devices: number; profileDir: string | null },
  log: (s: string) => void,
): Promise<FanoutResult> {
  // A commit adding 49 devices (its Welcome and the GroupInfo with the ratchet tree) is ~100 KB of
  // JSON (70 KB), past the default 64 KiB body limit: raised here (see the bench's report).
  const s = await startBenchServer(backend, { SEALPOST_BODY_LIMIT_BYTES: String(1 << 20) });
  const devices = new Devices();
  let stack: Awaited<ReturnType<typeof startStack>> | null = null;
  try {
    log(`  ${backend}: ${o.devices} devices, a real MLS group of them`);
    const members = await registerDevices(s, o.devices);
    stack = await startStack(s, members[0]!);
    log(
      `  ${backend}: ${stack.app ? "the app's own conversation and live routes (HTTPS)" : 'composed conversations + live stack'}`,
    );
    const g = await makeGroup(s, stack, members, SUITE);
    log(`  ${backend}: the commit adding ${o.devices - 1} devices was ${g.commitBodyBytes} bytes of JSON`);
    const warm = 10;
    const msgs = await messagesOf(g, o.messages + warm);
    const live = stack.url.replace(/^http/, 'ws') + '/v1/messaging/live';
    await devices.run({
      op: 'connect',
      url: live,
      ca: stack.ca,
      conns: members.map((d) => ({ token: d.token, query: `deviceId=${d.deviceId}` })),
    });
    await new Promise((r) => setTimeout(r, 1000)); // backlog (commit, welcomes) delivered
    const send = (i: number) =>
      stack!.send(g.creator, g.id, { epoch: g.epoch, message: msgs[i]!, clientMessageId: `m-${i}` });
    let w = devices.expect(warm * o.devices);
    await w.armed;
    for (let i = 0; i < warm; i++) await send(i);
    if ((await w.done).received !== warm * o.devices) throw new Error('warm-up copies missing');

    const profiler = new PhaseProfiler(o.profileDir);
    const copies = o.messages * o.devices;
    w = devices.expect(copies);
    await w.armed;
    await profiler.start();
    const c0 = cpuNow();
    const t0 = performance.now();
    for (let i = warm; i < warm + o.messages; i++) await send(i);
    const got = await w.done;
    const wall = performance.now() - t0;
    const cpu = cpuNow() - c0;
    const profile = await profiler.stop(`fanout-${backend}`);
    if (got.received !== copies) throw new Error(`fan-out: ${got.received} of ${copies} copies arrived`);
    log(`  ${backend}: fan-out measured; the bare ws reference next`);
    await devices.run({ op: 'close' });

    const frame = Buffer.alloc(Math.round(got.avgFrameBytes), 'a');
    const frameText = JSON.stringify({ type: 'event', data: 'x'.repeat(Math.max(1, frame.length - 26)) });
    const ref = await bareFanout(devices, o.devices, o.messages, frameText, stack.app);
    return {
      backend,
      devices: o.devices,
      messages: o.messages,
      copies,
      frameBytes: Math.round(got.avgFrameBytes),
      cpuUsPerCopy: cpu / copies,
      wallMsPerMessage: wall / o.messages,
      reference: ref,
      profile,
    };
  } finally {
    await devices.close();
    await stack?.close();
    await s.close();
  }
}

/** The reference: 50 `ws` connections to a bare WebSocketServer in this process, the same frames. */
async function bareFanout(devices: Devices, n: number, messages: number, frame: string, tls: boolean) {
  // TLS like the server measured beside it (the app's HTTPS listener, same certificate).
  const t = tls ? await testTls() : null;
  const http = t ? createHttpsServer({ key: t.private, cert: t.cert }) : createHttpServer();
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  const conns: WebSocket[] = [];
  wss.on('connection', (ws) => conns.push(ws));
  try {
    const url = `${t ? 'wss' : 'ws'}://127.0.0.1:${(http.address() as AddressInfo).port}/`;
    await devices.run({
      op: 'connect',
      url,
      ca: t?.cert,
      conns: Array.from({ length: n }, (_, i) => ({ query: `d=${i}` })),
    });
    while (conns.length < n) await new Promise((r) => setTimeout(r, 10));
    const once = async (k: number) => {
      const w = devices.expect(k * n);
      await w.armed;
      const c0 = cpuNow();
      for (let i = 0; i < k; i++) {
        for (const ws of conns) ws.send(frame);
        // One message at a time, as the Sealpost phase sends them (each waits for its commit).
        await new Promise((r) => setImmediate(r));
      }
      const got = await w.done;
      return { copies: got.received, cpuUs: cpuNow() - c0 };
    };
    await once(10);
    const r = await once(messages);
    await devices.run({ op: 'close' });
    return { copies: r.copies, cpuUsPerCopy: r.cpuUs / r.copies };
  } finally {
    for (const c of conns) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    await new Promise<void>((r) => http.close(() => r()));
  }
}
