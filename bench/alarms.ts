/**
 * Device alarms over the embedded MQTT broker (`node bin/run-ts.js bench/alarms.ts`): N devices
 * (each its own TLS connection with its client certificate) publish QoS 1 alarms at a fixed total
 * rate, sustained; each alarm becomes a new alert whose first step nudges the unit's charge nurse by
 * e-mail (or SMS). Measured in the same run:
 * - publish → first notification handed to its channel (a counting e-mail or SMS channel passed via
 *   Foundations.channels, so the time is Sealpost's, not a provider's), p50/p99;
 * - the broker's own publish → PUBACK round trip (which includes the alert's durable commit);
 * - CPU of the Sealpost process (all threads) per alarm;
 * - the reference, per rate and just before the Sealpost phase: the same devices and certificates
 *   publishing the same alarms at the same rate to a bare aedes broker (the same aedes package on a
 *   node:tls server requiring client certificates, default options, no hooks, no database), in a
 *   process of its own: its publish → PUBACK and its CPU per message. Sealpost's process idles
 *   meanwhile; its CPU then is reported too (`sealpostIdleCpuCores`, background timers and workers).
 * The devices run in a child process (this file with `--client`), so their CPU is not counted.
 *
 *   node bin/run-ts.js bench/alarms.ts [--rates 500,2000] [--duration 30] [--devices 20] [--channel email|sms] [--json file]
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { forEachFlag } from './args.js';

interface ClientSpec {
  port: number;
  ca: string;
  devices: { id: string; cert: string; key: string }[];
  rate: number;
  durationSec: number;
  firstSeq: number;
}
interface ClientResult {
  /** seq → absolute publish time (ms, performance.timeOrigin based). */
  published: [number, number][];
  /** publish → PUBACK, ms, one per acknowledged alarm. */
  rtt: number[];
  failed: number;
  /** From the first publish to the last PUBACK, ms. */
  spanMs: number;
}

const now = () => performance.timeOrigin + performance.now();

async function client(): Promise<void> {
  const { default: mqtt } = await import('mqtt');
  process.on('message', async (spec: ClientSpec) => {
    const clients = await Promise.all(
      spec.devices.map((d) =>
        mqtt.connectAsync(`mqtts://127.0.0.1:${spec.port}`, {
          cert: d.cert,
          key: d.key,
          ca: spec.ca,
          clientId: `default/${d.id}`,
          protocolVersion: 4,
          reconnectPeriod: 0,
          // No PINGREQ: a backlogged broker answers pings late and the client would drop the connection.
          keepalive: 0,
        }),
      ),
    );
    const result: ClientResult = { published: [], rtt: [], failed: 0, spanMs: 0 };
    // A connection that closes leaves its unacknowledged alarms failed (not waited for forever).
    const closed = clients.map((c) => new Promise<void>((resolve) => c.once('close', () => resolve())));
    const total = Math.round(spec.rate * spec.durationSec);
    const start = now();
    const pending: Promise<void>[] = [];
    let seq = spec.firstSeq;
    // Paced by the clock: alarm k is due at start + k / rate (a tick every 5 ms sends what is due).
    await new Promise<void>((resolve) => {
      let sent = 0;
      const tick = setInterval(() => {
        const due = Math.min(total, Math.floor(((now() - start) / 1000) * spec.rate));
        for (; sent < due; sent++) {
          const s = seq++;
          const i = sent % clients.length;
          const payload = JSON.stringify({
            alarmId: `b-${s}`,
            priority: 'high',
            condition: `bench ${s}`,
            observedAt: new Date().toISOString(),
          });
          const t0 = now();
          result.published.push([s, t0]);
          const topic = `sealpost/default/devices/${spec.devices[i]!.id}/alarms`;
          pending.push(
            Promise.race([
              clients[i]!.publishAsync(topic, payload, { qos: 1 }).then(() => {
                result.rtt.push(now() - t0);
                result.spanMs = now() - start;
              }),
              closed[i]!.then(() => Promise.reject(new Error('closed'))),
            ]).catch(() => void result.failed++),
          );
        }
        if (sent >= total) {
          clearInterval(tick);
          resolve();
        }
      }, 5);
    });
    await Promise.all(pending);
    await Promise.all(clients.map((c) => c.endAsync()));
    process.send!(result);
  });
}

type BareMessage = { tls: { cert: string; key: string; ca: string } } | 'start' | 'stop';

/**
 * The reference broker (this file with `--bare-broker`): aedes with its defaults on a node:tls server
 * that requires a client certificate of the devices' CA, nothing else. Reports its port, then its own
 * CPU (all threads, µs) between a `start` and a `stop` message.
 */
async function bareBroker(): Promise<void> {
  const { Aedes } = await import('aedes');
  const { createServer } = await import('node:tls');
  let cpu0 = process.cpuUsage();
  process.on('message', async (m: BareMessage) => {
    if (m === 'start') {
      cpu0 = process.cpuUsage();
      process.send!({});
    } else if (m === 'stop') {
      const c = process.cpuUsage(cpu0);
      process.send!({ cpuMicros: c.user + c.system });
    } else {
      const broker = await Aedes.createBroker();
      const server = createServer({ ...m.tls, requestCert: true, rejectUnauthorized: true }, (socket) =>
        broker.handle(socket),
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      process.send!({ port: (server.address() as AddressInfo).port });
    }
  });
}

const self = fileURLToPath(import.meta.url);
const runTs = fileURLToPath(new URL('../bin/run-ts.js', import.meta.url));

/** One sustained phase: a fresh device process publishes per `spec` and reports its result. */
async function runClient(spec: ClientSpec): Promise<ClientResult> {
  const child = fork(runTs, [self, '--client']);
  try {
    return await new Promise<ClientResult>((resolve, reject) => {
      child.once('message', (m) => resolve(m as ClientResult));
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`device process exited (${code})`)));
      child.send(spec);
    });
  } finally {
    child.kill();
  }
}

/** Sends `m` to `child` and resolves with its next message. */
function ask<T>(child: ChildProcess, m: BareMessage): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`bare broker exited (${code})`));
    child.once('exit', onExit);
    child.once('message', (r) => {
      child.off('exit', onExit);
      resolve(r as T);
    });
    child.send(m);
  });
}

const achieved = (r: ClientResult) => Math.round(r.rtt.length / (r.spanMs / 1000));

async function main(): Promise<void> {
  const o = {
    rates: [500, 2000],
    durationSec: 30,
    devices: 20,
    channel: 'email' as 'email' | 'sms',
    json: null as string | null,
  };
  forEachFlag(process.argv.slice(2), (flag, value, num) => {
    if (flag === '--rates') o.rates = value().split(',').map(Number);
    else if (flag === '--duration') o.durationSec = num(1);
    else if (flag === '--devices') o.devices = Math.round(num(1));
    else if (flag === '--json') o.json = value();
    else if (flag === '--channel') o.channel = value() === 'sms' ? 'sms' : 'email';
    else throw new Error(`unknown option ${flag}`);
  });
  const { startSealpost } = await import('../test/helpers/sealpost-harness.js');
  const { staffWithSession } = await import('../test/helpers/identity.js');
  const { clientCert, serverCert, testCa } = await import('../test/helpers/transport-pki.js');

  // The counting channel (e-mail by default: SMS nudges also allocate a reply code per recipient,
  // see --channel sms): when each alarm's first nudge was handed to it.
  const handed = new Map<number, number>();
  const counter = {
    kind: o.channel,
    provider: 'bench-counter',
    async send(m: { text: string; subject?: string }) {
      const at = now();
      const seq = /bench (\d+)/.exec(m.subject ?? m.text)?.[1];
      if (seq !== undefined && !handed.has(Number(seq))) handed.set(Number(seq), at);
      return { status: 'delivered' as const };
    },
  };
  const ca = await testCa('bench devices CA');
  const server = await serverCert('bench mqtt', { ca });
  const h = await startSealpost(
    {
      SEALPOST_MQTT_LISTEN: '127.0.0.1:0',
      SEALPOST_MQTT_TLS_CERT: server.cert,
      SEALPOST_MQTT_TLS_KEY: server.key,
      SEALPOST_MQTT_TLS_CLIENT_CA: ca.cert,
      SEALPOST_LOG_LEVEL: 'warn',
    },
    { channels: { [o.channel]: counter } },
  );
  const bare = fork(runTs, [self, '--bare-broker']);
  try {
    const tls = { cert: server.cert, key: server.key, ca: ca.cert };
    const barePort = (await ask<{ port: number }>(bare, { tls })).port;
    const nurse = await staffWithSession(h, ['nurse']);
    await h.request('PUT', `/v1/users/${nurse.userId}/alert-contacts`, {
      contacts: [
        o.channel === 'sms' ? { kind: 'sms', value: '+14155550199' } : { kind: 'email', value: 'nurse@bench.test' },
      ],
      settings: { language: 'en', timeZone: 'UTC', quietHours: null, doNotDisturbUntil: null },
    });
    await h.request('PUT', '/v1/units/bench/roles/charge_nurse', { userIds: [nurse.userId] });
    await h.request('POST', '/v1/escalation-policies', {
      name: 'bench',
      isDefault: true,
      steps: [{ targets: ['target'], channels: [o.channel], waitSeconds: 3600 }],
    });
    const devices = [];
    for (let i = 0; i < o.devices; i++) {
      const id = `bench-${i}`;
      const pem = await clientCert(id, { ca });
      const r = await h.request('POST', '/v1/medical-devices', { id, certPem: pem.cert, location: `bench/${i}` });
      if (r.status !== 201) throw new Error(`device registration failed: ${r.status}`);
      devices.push({ id, cert: pem.cert, key: pem.key });
    }
    const port = (await h.app.mqttPort())!;
    const results = [];
    let firstSeq = 0;
    for (const rate of o.rates) {
      const spec: ClientSpec = { port, ca: ca.cert, devices, rate, durationSec: o.durationSec, firstSeq };

      // The reference first: the same alarms at the same rate to the bare broker.
      const idle0 = process.cpuUsage();
      const b0 = now();
      await ask(bare, 'start');
      const ref = await runClient({ ...spec, port: barePort });
      const { cpuMicros: bareCpu } = await ask<{ cpuMicros: number }>(bare, 'stop');
      const idle = process.cpuUsage(idle0);
      const bareWall = (now() - b0) / 1000;

      const cpu0 = process.cpuUsage();
      const t0 = now();
      const res = await runClient(spec);
      // Every acknowledged alarm's nudge is handed over shortly after its PUBACK.
      const until = now() + 30_000;
      while (res.published.some(([s]) => !handed.has(s)) && now() < until) await new Promise((r) => setTimeout(r, 50));
      const cpu = process.cpuUsage(cpu0);
      const wall = (now() - t0) / 1000;
      firstSeq += res.published.length;
      const lat = res.published.filter(([s]) => handed.has(s)).map(([s, t]) => handed.get(s)! - t);
      const cpuMsPerAlarm = (cpu.user + cpu.system) / 1000 / Math.max(1, res.rtt.length);
      const bareCpuMsPerMessage = bareCpu / 1000 / Math.max(1, ref.rtt.length);
      const row = {
        rate,
        durationSec: o.durationSec,
        alarms: res.published.length,
        acked: res.rtt.length,
        failed: res.failed,
        notified: lat.length,
        achievedPerSec: achieved(res),
        notifyMs: { p50: pct(lat, 0.5), p99: pct(lat, 0.99), max: pct(lat, 1) },
        pubackMs: { p50: pct(res.rtt, 0.5), p99: pct(res.rtt, 0.99), max: pct(res.rtt, 1) },
        cpuMsPerAlarm: +cpuMsPerAlarm.toFixed(3),
        cpuCores: +((cpu.user + cpu.system) / 1e6 / wall).toFixed(2),
        bareBroker: {
          messages: ref.published.length,
          acked: ref.rtt.length,
          failed: ref.failed,
          achievedPerSec: achieved(ref),
          pubackMs: { p50: pct(ref.rtt, 0.5), p99: pct(ref.rtt, 0.99), max: pct(ref.rtt, 1) },
          cpuMsPerMessage: +bareCpuMsPerMessage.toFixed(3),
          cpuCores: +(bareCpu / 1e6 / bareWall).toFixed(2),
          sealpostIdleCpuCores: +((idle.user + idle.system) / 1e6 / bareWall).toFixed(2),
        },
        cpuRatioSealpostToBare: bareCpuMsPerMessage > 0 ? +(cpuMsPerAlarm / bareCpuMsPerMessage).toFixed(1) : null,
      };
      results.push(row);
      console.log(JSON.stringify(row));
    }
    printTable(results);
    if (o.json) writeFileSync(o.json, JSON.stringify(results, null, 2));
  } finally {
    bare.kill();
    await h.close();
  }
}

interface Row {
  rate: number;
  achievedPerSec: number;
  notifyMs: { p50: number | null; p99: number | null };
  pubackMs: { p50: number | null; p99: number | null };
  cpuMsPerAlarm: number;
  bareBroker: { achievedPerSec: number; pubackMs: { p50: number | null; p99: number | null }; cpuMsPerMessage: number };
  cpuRatioSealpostToBare: number | null;
}

/** Sealpost beside the bare broker, one line per rate (latencies in ms, CPU in ms per message). */
function printTable(rows: Row[]): void {
  const head = [
    'rate/s',
    'achieved SP|bare',
    'notify p50|p99',
    'SP PUBACK p50|p99',
    'bare PUBACK p50|p99',
    'SP CPU/alarm',
    'bare CPU/msg',
    'CPU ratio',
  ];
  const pair = (a: number | null, b: number | null) => `${a ?? '-'} | ${b ?? '-'}`;
  const lines = rows.map((r) => [
    String(r.rate),
    pair(r.achievedPerSec, r.bareBroker.achievedPerSec),
    pair(r.notifyMs.p50, r.notifyMs.p99),
    pair(r.pubackMs.p50, r.pubackMs.p99),
    pair(r.bareBroker.pubackMs.p50, r.bareBroker.pubackMs.p99),
    r.cpuMsPerAlarm.toFixed(3),
    r.bareBroker.cpuMsPerMessage.toFixed(3),
    r.cpuRatioSealpostToBare === null ? '-' : `${r.cpuRatioSealpostToBare}x`,
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  for (const l of [head, ...lines]) console.log(l.map((c, i) => c.padStart(width[i]!)).join('  '));
}

function pct(xs: number[], p: number): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!.toFixed(2);
}

if (process.argv.includes('--client')) void client();
else if (process.argv.includes('--bare-broker')) void bareBroker();
else await main();
