/**
 * `npm run bench`: notifications accepted per second over HTTPS (encryption, audit, durable commit),
 * p50/p99 latency, worker drain rate and end-to-end delivered-to-dev-outbox rate, each beside the
 * ceiling of the same handler without a database, measured in the same run; and the figures the
 * targets are stated in: server CPU µs per accepted notification, the store's share of it (Sealpost's
 * minus the ceiling's), acceptance ÷ ceiling, worker CPU µs per delivery. Results and their meaning
 * are documented in BENCHMARKS.md.
 *
 *   npm run bench -- [--duration 10] [--warmup 2] [--connections 50] [--patients 300]
 *                    [--batch-size 100] [--batch-connections 4] [--audit-log on|off]
 *                    [--modes group] [--drain-timeout 120] [--wait-quiet 10]
 *                    [--cpu-prof-dir dir] [--json [file]]
 *
 * Batch phases (`--batch-size N`, 0 = skip them): `POST /v1/notifications:batch` with N items per
 * request (each with its own idempotencyKey) on `--batch-connections` connections, against the
 * ceiling and, per durability mode, with the worker on (end to end) and off (accepted/s).
 *
 * `--modes` (default `group`, the server's default durability): `--modes full,group` adds
 * synchronous=FULL (a commit fsyncs before it returns), one more server and five more phases.
 *
 * `--audit-log on` (default): the audit-log integrator runs in the background of every Sealpost
 * phase, as in `sealpost serve`; `off` leaves it stopped (what the bench measured before it existed).
 *
 * `--wait-quiet N` (default 10): before each measured phase, wait up to N seconds for a second in
 * which other processes use < 20% of a core (a shared machine); every phase reports others' CPU anyway.
 *
 * `--cpu-prof-dir dir`: writes a CPU profile of the server's main thread per measured phase
 * (`<phase>.cpuprofile`, open in Chrome DevTools) and appends a self-time summary to the report.
 *
 * `--backend postgres`: Sealpost on PostgreSQL instead (1 and 2 `sealpost serve` nodes sharing one
 * database, and the queue alone against pg-boss): see bench/postgres.ts for its options.
 *
 * `--crypto`: the cost per notification of encryption, signing and key unwrap, with and without the
 * data-key cache, local keyring vs SoftHSM2 (bench/crypto.ts; also `npm run bench:crypto`).
 * `--ehr`: HL7 v2 over MLLP and FHIR beside the REST calls they stand in for, in the same run
 * (bench/ehr.ts; also `npm run bench:ehr`).
 * `--alarms`: device alarms over the embedded MQTT broker, publish → first nudge, beside a bare
 * broker's round trip (bench/alarms.ts; also `npm run bench:alarms`).
 * `--alert-timers`: 10,000 open alerts with timers due over a minute, fired − due and double firings
 * (bench/alert-timers.ts; also `npm run bench:alert-timers`).
 * `--messaging`: end-to-end encrypted messaging — client MLS cost per suite, key-package claims/s,
 * 50-device fan-out, WebSocket latency at 500/s (bench/messaging.ts; also `npm run bench:messaging`).
 *
 * Markdown goes to stdout, progress to stderr. `--json file` also writes the results as JSON;
 * `--json` without a file writes JSON to stdout instead of the markdown.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { SqliteDurability } from '../src/config/config.js';
import { selfSigned } from '../src/api/tls.js';
import { codeInfo, machineInfo } from './machine-info.js';
import { LoadGenerator } from './load.js';
import {
  runCeiling,
  runMode,
  type BenchOptions,
  type CeilingResult,
  type ModeResult,
  type RunContext,
} from './scenarios.js';
import { PhaseProfiler, renderProfiles } from './profiler.js';
import { computeFigures, renderMarkdown, TARGETS, type BenchResults } from './report.js';
import { installSqlCounters } from './sql-counters.js';
import { forEachFlag, loadFlag } from './args.js';

function parseArgs(argv: string[]) {
  const o: BenchOptions = {
    durationSec: 10,
    warmupSec: 2,
    connections: 50,
    patients: 300,
    drainTimeoutSec: 120,
    quietWaitSec: 10,
    batchSize: 100,
    batchConnections: 4,
    auditLog: true,
  };
  let modes: SqliteDurability[] = ['group'];
  let json: string | true | null = null;
  let cpuProfDir: string | null = null;
  forEachFlag(argv, (flag, value, num, optional) => {
    if (loadFlag(flag, o, num)) return;
    switch (flag) {
      case '--batch-size':
        o.batchSize = Math.round(num(0));
        if (o.batchSize > 500) throw new Error('--batch-size: the batch endpoint takes at most 500 items');
        break;
      case '--batch-connections':
        o.batchConnections = Math.round(num(1));
        break;
      case '--audit-log': {
        const v = value();
        if (v !== 'on' && v !== 'off') throw new Error('--audit-log: on or off');
        o.auditLog = v === 'on';
        break;
      }
      case '--modes':
        modes = value().split(',') as SqliteDurability[];
        if (!modes.length || modes.some((m) => m !== 'full' && m !== 'group'))
          throw new Error('--modes: a list of full, group');
        break;
      case '--cpu-prof-dir':
        cpuProfDir = resolve(value());
        break;
      case '--json':
        json = optional() ?? true;
        break;
      case '--help':
      case '-h':
        process.stdout.write(
          'npm run bench -- [--duration 10] [--warmup 2] [--connections 50] [--batch-size 100] [--batch-connections 4] [--audit-log on|off] [--patients 300] [--modes group|full,group] [--drain-timeout 120] [--wait-quiet 10] [--cpu-prof-dir dir] [--json [file]]\n',
        );
        process.exit(0);
      default:
        throw new Error(`unknown option ${flag}`);
    }
  });
  return { o, modes, json, cpuProfDir };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--crypto')) {
    await import('./crypto.js');
    return;
  }
  if (argv.includes('--ehr')) {
    await import('./ehr.js');
    return;
  }
  if (argv.includes('--alarms')) {
    await import('./alarms.js');
    return;
  }
  if (argv.includes('--alert-timers')) {
    await import('./alert-timers.js');
    return;
  }
  if (argv.includes('--messaging')) {
    await import('./messaging.js');
    return;
  }
  const backend =
    argv.flatMap((a, i) => (a === '--backend' ? [argv[i + 1]] : a.startsWith('--backend=') ? [a.slice(10)] : []))[0] ??
    'sqlite';
  if (backend === 'postgres') return (await import('./postgres.js')).main(argv);
  if (backend !== 'sqlite') throw new Error('--backend: sqlite (default) or postgres');
  const { o, modes, json, cpuProfDir } = parseArgs(
    argv.filter((a, i) => a !== '--backend' && argv[i - 1] !== '--backend' && !a.startsWith('--backend=')),
  );
  installSqlCounters();
  const root = mkdtempSync(join(tmpdir(), 'sealpost-bench-'));
  const cleanup = () => rmSync(root, { recursive: true, force: true });
  // Ctrl-C mid-run must not leave databases, keyrings or WAL files behind.
  const onSignal = () => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let gen: LoadGenerator | null = null;
  try {
    const startedAt = new Date().toISOString();
    const machine = machineInfo(root);
    const code = codeInfo();
    const tls = await selfSigned();
    gen = await LoadGenerator.start();
    const runId = randomBytes(4).toString('hex');

    const ceilings: CeilingResult[] = [];
    const results: ModeResult[] = [];
    const ctx: RunContext = { tls, gen, o, runId, profiler: new PhaseProfiler(cpuProfDir), profiles: [] };
    ceilings.push(await runCeiling('ceiling-before', join(root, 'ceiling-1'), ctx));
    for (const mode of modes) results.push(await runMode(mode, join(root, mode), ctx));
    ceilings.push(await runCeiling('ceiling-after', join(root, 'ceiling-2'), ctx));

    const figures = computeFigures(ceilings, results);
    const out: BenchResults = {
      startedAt,
      finishedAt: new Date().toISOString(),
      options: o,
      machine,
      code,
      ceilings,
      modes: results,
      ceilingPerSec: figures.ceilingPerSec,
      targets: TARGETS,
      figures,
      profiles: ctx.profiles,
    };
    const md = renderMarkdown(out) + (ctx.profiles.length ? renderProfiles(ctx.profiles) : '');
    if (json === true) {
      process.stderr.write(md);
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    } else {
      process.stdout.write(md);
      if (json) writeFileSync(json, JSON.stringify(out, null, 2) + '\n');
    }
  } finally {
    await gen?.close();
    cleanup();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
