/**
 * What the EHR integrations cost beside the REST API they stand in for, measured in the same run on
 * the same server (`npm run bench:ehr`, or `npm run bench -- --ehr`):
 * - HL7 v2 over MLLP: SIU^S12 → patient looked up by identifier, appointment and its three reminders
 *   committed durably (with the encrypted raw message) → ACK; on 1 and on 4 connections, beside
 *   `PUT /v1/appointments` on as many HTTPS connections. Goal: ≥ 0.8 of the REST rate.
 * - FHIR `POST /fhir/R4/CommunicationRequest` beside `POST /v1/notifications`. Goal: ≥ 0.8.
 * Rates are answers/s; CPU is the server process's (all threads) per answered item. The load runs in
 * its own process (bench/ehr-client.ts); the server (group commit, worker off) runs in this one.
 *
 *   npm run bench:ehr -- [--duration 8] [--patients 300] [--connections 20] [--wait-quiet 10] [--json file]
 *                        [--cpu-prof-dir dir]   (a CPU profile of the server's main thread per phase, summarised)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { selfSigned } from '../src/api/tls.js';
import { DEFAULT_TENANT } from '../src/core/domain.js';
import { forEachFlag } from './args.js';
import { codeInfo, machineInfo } from './machine-info.js';
import { machineCpu, waitForQuiet } from './load.js';
import { startSealpost, type SealpostTarget } from './servers.js';
import { PhaseProfiler, renderProfiles, type ProfileSummary } from './profiler.js';
import type { EhrLoadResult, EhrLoadSpec } from './ehr-client.js';

const o = {
  durationSec: 8,
  patients: 300,
  connections: 20,
  quietWaitSec: 10,
  json: null as string | null,
  cpuProfDir: null as string | null,
};
forEachFlag(process.argv.slice(2), (flag, value, num) => {
  if (flag === '--duration') o.durationSec = num(1);
  else if (flag === '--patients') o.patients = Math.round(num(1));
  else if (flag === '--connections') o.connections = Math.round(num(1));
  else if (flag === '--wait-quiet') o.quietWaitSec = num(0);
  else if (flag === '--json') o.json = value();
  else if (flag === '--cpu-prof-dir') o.cpuProfDir = resolve(value());
  else if (flag === '--ehr') return;
  else throw new Error(`unknown option ${flag}`);
});

const AUTHORITY = 'BENCH-MRN';
const SENDER = { app: 'BENCH-SCHED', facility: 'BENCH-HOSP' };

/** The load generator child (bench/ehr-client.ts), one spec at a time. */
class EhrLoad {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (r: EhrLoadResult) => void; reject: (e: Error) => void }>();
  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: { id?: number; result?: EhrLoadResult; error?: string }) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error) p?.reject(new Error(`load generator failed: ${m.error}`));
      else p?.resolve(m.result!);
    });
  }

  static async start(): Promise<EhrLoad> {
    const runTs = fileURLToPath(new URL('../bin/run-ts.js', import.meta.url));
    const client = fileURLToPath(new URL('./ehr-client.ts', import.meta.url));
    const child = fork(runTs, [client], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`load generator exited early (${code})`)));
    });
    return new EhrLoad(child);
  }

  run(spec: EhrLoadSpec): Promise<EhrLoadResult> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, spec });
    });
  }

  close(): void {
    this.child.kill('SIGTERM');
  }
}

interface Phase extends EhrLoadResult {
  name: string;
  connections: number;
  /** Server CPU µs per answered item. */
  cpuUsPerItem: number;
  otherCpuPct: number;
}

const profiler = new PhaseProfiler(o.cpuProfDir);
const profiles: ProfileSummary[] = [];

async function measure(load: EhrLoad, name: string, spec: EhrLoadSpec): Promise<Phase> {
  // Warm-up: the first FHIR request of a resource type compiles its R4 validator (once per process).
  await load.run({ ...spec, durationSec: 1, keyPrefix: `${spec.keyPrefix}-warm` });
  const others = await waitForQuiet(o.quietWaitSec);
  process.stderr.write(`[bench:ehr] ${name}: ${spec.connections} connection(s), others at ${others.toFixed(0)}%\n`);
  const cpu0 = process.cpuUsage();
  const m0 = machineCpu();
  const t0 = performance.now();
  await profiler.start();
  const r = await load.run(spec);
  const summary = await profiler.stop(`${name}-${spec.connections}`);
  if (summary) profiles.push(summary);
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const m1 = machineCpu();
  const serverSec = (cpu.user + cpu.system) / 1e6;
  const machinePct = m0 && m1 ? ((m1.busySec - m0.busySec) / wall) * 100 : NaN;
  const phase = {
    ...r,
    name,
    connections: spec.connections,
    cpuUsPerItem: r.ok ? (serverSec / r.ok) * 1e6 : NaN,
    otherCpuPct: Math.max(0, machinePct - (serverSec / wall) * 100 - r.clientCpuPct),
  };
  process.stderr.write(
    `[bench:ehr] ${name}: ${phase.okPerSec.toFixed(0)}/s, ${phase.cpuUsPerItem.toFixed(0)} µs CPU each, ${phase.failed} failed ${JSON.stringify(phase.failures)}\n`,
  );
  return phase;
}

async function setUp(t: SealpostTarget, ids: string[], mrns: string[]): Promise<void> {
  const { app } = t;
  const ctx = { tenantId: DEFAULT_TENANT, actor: 'bench' };
  for (const [i, id] of ids.entries())
    await app.services.patients.upsert(ctx, id, {
      name: { given: ['Bench'], family: `Patient${i}` },
      birthDate: '1980-01-01',
      telecom: [{ system: 'sms', value: `+1415555${String(1000 + i).padStart(4, '0')}` }],
      timeZone: 'America/New_York',
      identifiers: [{ system: AUTHORITY, value: mrns[i] }],
    });
  await app.services.hl7.senders.add(ctx, {
    app: SENDER.app,
    facility: SENDER.facility,
    patientIdAuthority: AUTHORITY,
    timeZone: 'America/New_York',
  });
}

const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d }) : '—');

function render(phases: Phase[], info: ReturnType<typeof machineInfo>): string {
  const by = (name: string, c: number) => phases.find((p) => p.name === name && p.connections === c)!;
  const lines = [
    `## Sealpost EHR bench, ${new Date().toISOString()}`,
    '',
    `Machine: ${info.cpuModel}, ${info.cores} cores, Node ${info.node}, SQLite ${info.sqlite}; commit ${codeInfo().commit}. ` +
      `Server in the bench process (group commit, worker off, TLS for HTTP, plain TCP for MLLP on loopback); load in its own process; ${o.durationSec}s per phase.`,
    '',
    '| phase | connections | answered/s | ratio to REST | server CPU µs per item | p50 / p99 ms | failed | others’ CPU |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const pairs: [string, string][] = [
    ['rest-appointment', 'mllp-siu'],
    ['rest-notification', 'fhir-communication-request'],
  ];
  for (const [rest, ehr] of pairs)
    for (const c of [...new Set(phases.filter((p) => p.name === ehr).map((p) => p.connections))]) {
      const a = by(rest, c);
      const b = by(ehr, c);
      for (const p of [a, b])
        lines.push(
          `| ${p.name} | ${c} | ${fmt(p.okPerSec)} | ${p === a ? '1' : fmt(b.okPerSec / a.okPerSec, 2)} | ${fmt(p.cpuUsPerItem)} | ${fmt(p.latencyMs.p50, 1)} / ${fmt(p.latencyMs.p99, 1)} | ${p.failed} | ${fmt(p.otherCpuPct)}% |`,
        );
    }
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-bench-ehr-'));
  const tls = await selfSigned();
  const target = await startSealpost(join(dir, 'server'), 'group', tls, { SEALPOST_HL7_LISTEN: '127.0.0.1:0' });
  target.app.start();
  const port = await target.app.hl7Port();
  if (!port) throw new Error('the HL7 listener did not start');
  const load = await EhrLoad.start();
  try {
    const ids = Array.from({ length: o.patients }, (_, i) => `bench-${i}`);
    const mrns = ids.map((_, i) => `MRN${100000 + i}`);
    await setUp(target, ids, mrns);
    const run = randomBytes(4).toString('hex');
    const base = {
      url: target.url,
      apiKey: target.apiKey,
      durationSec: o.durationSec,
      patientIds: ids,
      mrns,
      mllp: {
        host: '127.0.0.1',
        port,
        sendingApplication: SENDER.app,
        sendingFacility: SENDER.facility,
        authority: AUTHORITY,
      },
    };
    const phases: Phase[] = [];
    for (const c of [1, 4]) {
      phases.push(
        await measure(load, 'rest-appointment', {
          ...base,
          kind: 'rest-appointment',
          connections: c,
          keyPrefix: `r${c}-${run}`,
        }),
      );
      phases.push(
        await measure(load, 'mllp-siu', { ...base, kind: 'mllp-siu', connections: c, keyPrefix: `m${c}-${run}` }),
      );
    }
    const c = o.connections;
    phases.push(
      await measure(load, 'rest-notification', {
        ...base,
        kind: 'rest-notification',
        connections: c,
        keyPrefix: `n-${run}`,
      }),
    );
    phases.push(
      await measure(load, 'fhir-communication-request', {
        ...base,
        kind: 'fhir-communication-request',
        connections: c,
        keyPrefix: `f-${run}`,
      }),
    );
    const info = machineInfo(dir);
    process.stdout.write(render(phases, info));
    if (profiles.length) process.stdout.write('\n' + renderProfiles(profiles) + '\n');
    if (o.json) writeFileSync(o.json, JSON.stringify({ machine: info, code: codeInfo(), phases }, null, 2));
  } finally {
    load.close();
    // Requests still in flight when the load stopped finish before the store closes.
    await new Promise((r) => setTimeout(r, 2000));
    await target.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
