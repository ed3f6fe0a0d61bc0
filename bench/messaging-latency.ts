/**
 * Sender → recipient latency over WebSocket at a fixed rate (500 messages/s for 10 s by default): a
 * direct conversation (a real 2-member MLS group, X25519 suite) whose sender POSTs real application
 * messages (1 KiB payload, ~1.2 KB encoded) over HTTP and whose recipient holds a live connection;
 * the time from the POST's start to the frame's arrival, p50/p99, and the server process's CPU per
 * message. Reference, same run, same load from the same client process: a bare Fastify POST route
 * that hands the posted ciphertext to the recipient's `ws` connection (no auth, no database; TLS with
 * the same certificate when the app is measured over HTTPS). `--rates` runs several rates in turn.
 */
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import Fastify, { type FastifyInstance } from 'fastify';
import { WebSocketServer, type WebSocket } from 'ws';
import type { LatencyResult } from './messaging-client.js';
import { testTls } from '../test/helpers/sealpost-harness.js';
import { cpuNow, Devices } from './messaging-load.js';
import { registerDevices, startBenchServer, type Backend } from './messaging-setup.js';
import { makeGroup, messagesOf, startStack } from './messaging-stack.js';
import { PhaseProfiler, type ProfileSummary } from './profiler.js';

export interface LatencyRow extends LatencyResult {
  path: string;
  rate: number;
  /** Server process CPU per message (µs) and as cores busy over the phase. */
  cpuUsPerMessage: number;
  cpuCores: number;
}

export interface LatencyRun {
  backend: Backend;
  messageBytes: number;
  rows: LatencyRow[];
  profile: ProfileSummary | null;
}

async function phase(
  devices: Devices,
  path: string,
  rate: number,
  c: { postUrl: string; token?: string; ca?: string; bodies: string[] },
): Promise<LatencyRow> {
  const c0 = cpuNow();
  const t0 = performance.now();
  const r = await devices.run<LatencyResult>({ op: 'latency', ...c, rate, timeoutMs: 60_000 });
  const cpu = cpuNow() - c0;
  const wallUs = (performance.now() - t0) * 1000;
  return { path, rate, ...r, cpuUsPerMessage: cpu / Math.max(1, r.received), cpuCores: cpu / wallUs };
}

export async function runLatency(
  backend: Backend,
  o: { rates: number[]; durationSec: number; profileDir: string | null },
  log: (s: string) => void,
): Promise<LatencyRun> {
  const counts = o.rates.map((r) => Math.round(r * o.durationSec));
  const warm = 200;
  const s = await startBenchServer(backend);
  const devices = new Devices();
  let stack: Awaited<ReturnType<typeof startStack>> | null = null;
  try {
    const [sender, recipient] = (await registerDevices(s, 2)) as [
      Awaited<ReturnType<typeof registerDevices>>[0],
      Awaited<ReturnType<typeof registerDevices>>[0],
    ];
    stack = await startStack(s, sender);
    const g = await makeGroup(s, stack, [sender, recipient], 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519');
    const total = warm + counts.reduce((a, b) => a + b, 0);
    log(`  ${backend}: encrypting ${total} messages (ts-mls)`);
    const msgs = await messagesOf(g, total);
    const bodies = msgs.map((m, i) =>
      JSON.stringify({ deviceId: sender.deviceId, epoch: g.epoch, message: m, clientMessageId: `l-${i}` }),
    );
    // Warm-up, then one slice of fresh messages per rate (a message is accepted once only).
    const slices: string[][] = [];
    for (let i = 0, at = warm; i < counts.length; at += counts[i]!, i++) slices.push(bodies.slice(at, at + counts[i]!));
    const postUrl = `${stack.url}/v1/conversations/${g.id}/messages`;
    const connect = async () => {
      await devices.run({
        op: 'connect',
        url: stack!.url.replace(/^http/, 'ws') + '/v1/messaging/live',
        ca: stack!.ca,
        conns: [{ token: recipient.token, query: `deviceId=${recipient.deviceId}` }],
      });
      await new Promise((r) => setTimeout(r, 500)); // the backlog arrives first
    };
    await connect();
    await phase(devices, 'warm-up', Math.min(...o.rates), {
      postUrl,
      token: sender.token,
      ca: stack!.ca,
      bodies: bodies.slice(0, warm),
    });
    const rows: LatencyRow[] = [];
    let profile: ProfileSummary | null = null;
    const top = Math.max(...o.rates);
    for (const [i, rate] of o.rates.entries()) {
      // A fresh connection per rate: an overloaded phase may have closed the last one.
      if (i > 0) await connect();
      log(`  ${backend}: Sealpost at ${rate}/s for ${o.durationSec} s`);
      const profiler = new PhaseProfiler(rate === top ? o.profileDir : null);
      await profiler.start();
      rows.push(
        await phase(devices, 'Sealpost: POST → accept → live WebSocket', rate, {
          postUrl,
          token: sender.token,
          ca: stack!.ca,
          bodies: slices[i]!,
        }),
      );
      profile = (await profiler.stop(`latency-${backend}-${rate}`)) ?? profile;
      await devices.run({ op: 'close' });
    }
    log(`  ${backend}: bare Fastify + ws reference`);
    const bare = await barePath(devices, o.rates, slices, bodies.slice(0, warm), stack.app);
    const both = o.rates.flatMap((_, i) => [rows[i]!, bare[i]!]);
    return { backend, messageBytes: Buffer.from(msgs[0]!, 'base64').length, rows: both, profile };
  } finally {
    await devices.close();
    await stack?.close();
    await s.close();
  }
}

/** The reference: Fastify's JSON POST route pushing `message` to the one `ws` connection. */
async function barePath(
  devices: Devices,
  rates: number[],
  slices: string[][],
  warm: string[],
  tls: boolean,
): Promise<LatencyRow[]> {
  // TLS like the server measured beside it (the app's HTTPS listener, same certificate).
  const t = tls ? await testTls() : null;
  // One type for both (the HTTPS instance only differs in its server's type).
  const app = (
    t
      ? Fastify({ logger: false, bodyLimit: 1_000_000, https: { key: t.private, cert: t.cert } })
      : Fastify({ logger: false, bodyLimit: 1_000_000 })
  ) as FastifyInstance;
  const wss = new WebSocketServer({ server: app.server, perMessageDeflate: false });
  let recipient: WebSocket | null = null;
  wss.on('connection', (ws) => (recipient = ws));
  app.post<{ Body: { message: string } }>('/messages', async (req, reply) => {
    recipient?.send(JSON.stringify({ type: 'event', data: req.body.message }));
    return reply.code(201).send({ seq: 1 });
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const base = `127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const [ws, http] = t ? ['wss', 'https'] : ['ws', 'http'];
    await devices.run({ op: 'connect', url: `${ws}://${base}/live`, ca: t?.cert, conns: [{ query: 'd=1' }] });
    await phase(devices, 'warm-up', Math.min(...rates), {
      postUrl: `${http}://${base}/messages`,
      ca: t?.cert,
      bodies: warm,
    });
    const out: LatencyRow[] = [];
    for (const [i, rate] of rates.entries())
      out.push(
        await phase(devices, 'reference: bare Fastify POST → ws', rate, {
          postUrl: `${http}://${base}/messages`,
          ca: t?.cert,
          bodies: slices[i]!,
        }),
      );
    await devices.run({ op: 'close' });
    return out;
  } finally {
    wss.close();
    await app.close();
  }
}

/** A figure, or a dash when there is none (nothing arrived: NaN, which the child's JSON makes null). */
const f = (x: number | null, digits: number) => (x === null || !Number.isFinite(x) ? '—' : x.toFixed(digits));

export function renderLatency(rs: readonly LatencyRun[]): string {
  const out = [
    '| backend | path | rate/s | sent | received | failed | p50 ms | p99 ms | max ms | POST answered p50/p99 ms | server CPU µs/msg | cores |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const run of rs)
    for (const r of run.rows)
      out.push(
        `| ${run.backend} | ${r.path} | ${r.rate} | ${r.sent} | ${r.received} | ${r.failed} | ${f(r.p50, 1)} | ${f(r.p99, 1)} | ${f(r.max, 0)} | ${f(r.postP50, 1)} / ${f(r.postP99, 1)} | ${f(r.cpuUsPerMessage, 0)} | ${f(r.cpuCores, 2)} |`,
      );
  if (rs[0]) out.push('', `Messages: ${rs[0].messageBytes} bytes of MLS ciphertext each (1 KiB payload).`);
  return out.join('\n') + '\n';
}
