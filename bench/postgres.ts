/**
 * `npm run bench -- --backend postgres`: Sealpost on PostgreSQL, in one run on one machine and one
 * PostgreSQL server:
 *
 * 1. HTTP, for 1 and 2 nodes (`--nodes 1,2`): real `sealpost serve` processes on different ports
 *    sharing one fresh database (one keyring file, the first node started and ready before the
 *    next); the load client spreads its connections evenly over the nodes. Per node count:
 *    accepted/s with the workers off, the drain of that backlog once the nodes are restarted with
 *    their workers on, and end to end (load with the workers on, until the dev outbox holds every
 *    delivery). CPU of every process (each node, PostgreSQL backends and server processes, the load
 *    client, everything else) is sampled from /proc during each phase.
 *    Before them, the no-database ceiling (bench/servers.ts `startCeiling`, as the SQLite bench runs
 *    it: in this process, same load) gives the CPU a notification costs without a store, so that a
 *    node's CPU per notification minus the ceiling's is the store's share. pg_stat_activity is
 *    sampled during the accept and end-to-end phases for what the busy backends wait on.
 * 2. The queue alone against pg-boss (bench/queue-vs-pgboss.ts).
 *
 * The report leads with the targets (bench/postgres-report.ts), each as CPU per item, which a busy
 * machine slows down less than it does throughput.
 *
 *   npm run bench -- --backend postgres [--nodes 1,2] [--duration 10] [--warmup 2] [--connections 50]
 *     [--patients 300] [--pool-max 10] [--queue-jobs 10000] [--queue-batch 100] [--queue-producers 4]
 *     [--queue-consumers 4] [--parts http,queue] [--pg-url postgres://…/postgres] [--wait-quiet 10]
 *     [--drain-timeout 180] [--json [file]]
 *
 * Every database the run creates (`sealpost_bench_<run>_…`) is dropped at the end, on error and on Ctrl-C.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { selfSigned } from '../src/api/tls.js';
import { codeInfo, machineInfo } from './machine-info.js';
import { LoadGenerator, waitForQuiet, type PhaseResult } from './load.js';
import type { LoadResult } from './load-client.js';
import { CpuSampler, type CpuShare } from './proc-cpu.js';
import {
  createDatabase,
  dropDatabase,
  DEFAULT_PG_ADMIN_URL,
  PgProcessClassifier,
  pgServerInfo,
  requireClean,
} from './pg-support.js';
import { bootstrapKey, PgProbe, startServeNode, type ServeNode } from './pg-nodes.js';
import { postJson, registerPatients, startCeiling, type Tls } from './servers.js';
import { runQueueComparison, type QueueOptions, type QueueComparison } from './queue-vs-pgboss.js';
import {
  evaluateTargets,
  renderPostgresMarkdown,
  type PgBenchResults,
  type NodeCountResult,
  type PgCeilingResult,
} from './postgres-report.js';
import { forEachFlag, loadFlag } from './args.js';

export interface PgBenchOptions {
  nodes: number[];
  durationSec: number;
  warmupSec: number;
  connections: number;
  patients: number;
  poolMax: number;
  drainTimeoutSec: number;
  quietWaitSec: number;
  adminUrl: string;
  http: boolean;
  queue: QueueOptions | null;
}

const log = (msg: string) => process.stderr.write(`[bench pg] ${msg}\n`);

function parseArgs(argv: string[]) {
  const o: PgBenchOptions = {
    nodes: [1, 2],
    durationSec: 10,
    warmupSec: 2,
    connections: 50,
    patients: 300,
    poolMax: 10,
    drainTimeoutSec: 180,
    quietWaitSec: 10,
    adminUrl: DEFAULT_PG_ADMIN_URL,
    http: true,
    queue: null,
  };
  const q: QueueOptions = { jobs: 10_000, batch: 100, producers: 4, consumers: 4, poolMax: 10 };
  let parts = ['http', 'queue'];
  let json: string | true | null = null;
  forEachFlag(argv, (flag, value, num, optional) => {
    if (loadFlag(flag, o, num, 2)) return;
    switch (flag) {
      case '--backend':
        if (value() !== 'postgres') throw new Error('--backend: sqlite (default) or postgres');
        break;
      case '--nodes':
        o.nodes = value().split(',').map(Number);
        if (!o.nodes.length || o.nodes.some((n) => !Number.isInteger(n) || n < 1 || n > 8))
          throw new Error('--nodes: a list of node counts 1–8, e.g. 1,2');
        break;
      case '--pool-max':
        o.poolMax = q.poolMax = Math.round(num(1));
        break;
      case '--pg-url':
        o.adminUrl = value();
        break;
      case '--queue-jobs':
        q.jobs = Math.round(num(1));
        break;
      case '--queue-batch':
        q.batch = Math.round(num(1));
        break;
      case '--queue-producers':
        q.producers = Math.round(num(1));
        break;
      case '--queue-consumers':
        q.consumers = Math.round(num(1));
        break;
      case '--parts':
        parts = value().split(',');
        if (!parts.length || parts.some((p) => p !== 'http' && p !== 'queue'))
          throw new Error('--parts: a list of http, queue');
        break;
      case '--json':
        json = optional() ?? true;
        break;
      case '--help':
      case '-h':
        process.stdout.write(
          'npm run bench -- --backend postgres [--nodes 1,2] [--duration 10] [--warmup 2] [--connections 50] [--patients 300] [--pool-max 10] [--queue-jobs 10000] [--queue-batch 100] [--queue-producers 4] [--queue-consumers 4] [--parts http,queue] [--pg-url url] [--wait-quiet 10] [--drain-timeout 180] [--json [file]]\n',
        );
        process.exit(0);
      default:
        throw new Error(`unknown option ${flag} (with --backend postgres)`);
    }
  });
  o.http = parts.includes('http');
  o.queue = parts.includes('queue') ? q : null;
  return { o, json };
}

const patientIds = (n: number) => Array.from({ length: n }, (_, i) => `bench-p${i}`);

async function quiet(o: PgBenchOptions): Promise<void> {
  if (o.quietWaitSec <= 0) return;
  const other = await waitForQuiet(o.quietWaitSec);
  if (other >= 20) log(`other processes still use ${Math.round(other)}% of a core; measuring anyway`);
}

async function waitUntil(cond: () => Promise<boolean>, timeoutSec: number, everyMs = 100): Promise<boolean> {
  const deadline = performance.now() + timeoutSec * 1000;
  while (!(await cond())) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return true;
}

interface Ctx {
  o: PgBenchOptions;
  tls: Tls;
  tlsFiles: { cert: string; key: string };
  gen: LoadGenerator;
  runId: string;
  root: string;
  created: string[];
}

/** Starts `count` nodes one after the other, each ready before the next (the first one migrates). */
async function startNodes(
  ctx: Ctx,
  dbUrl: string,
  dir: string,
  count: number,
  worker: boolean,
  together = false,
): Promise<ServeNode[]> {
  const nodes: ServeNode[] = [];
  const start = (i: number) =>
    startServeNode({
      index: i,
      databaseUrl: dbUrl,
      dataDir: join(dir, `node${i}`),
      keyringFile: join(dir, 'keyring.json'),
      tlsCertFile: ctx.tlsFiles.cert,
      tlsKeyFile: ctx.tlsFiles.key,
      worker,
      poolMax: ctx.o.poolMax,
    });
  try {
    if (together) {
      const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => start(i + 1)));
      for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
      const failed = started.find((s) => s.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    } else {
      for (let i = 1; i <= count; i++) nodes.push(await start(i));
    }
  } catch (e) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw e;
  }
  return nodes;
}

function sampler(ctx: Ctx, nodes: ServeNode[], pgc: PgProcessClassifier): CpuSampler {
  return new CpuSampler(async () => {
    const m = await pgc.map();
    for (const n of nodes) m.set(n.pid, `node ${n.index}`);
    m.set(ctx.gen.pid, 'load client');
    m.set(process.pid, 'bench (probe)');
    return m;
  });
}

async function measured<T>(
  s: CpuSampler,
  pgc: PgProcessClassifier,
  fn: () => Promise<T>,
): Promise<{ value: T; cpu: CpuShare }> {
  await s.start();
  await pgc.startWaits();
  try {
    const value = await fn();
    const pgWaits = await pgc.stopWaits();
    const cpu = await s.stop();
    return { value, cpu: { ...cpu, pgWaits } };
  } catch (e) {
    await pgc.stopWaits().catch(() => {});
    await s.stop().catch(() => {});
    throw e;
  }
}

function phase(r: LoadResult): PhaseResult {
  // The servers are other processes here: their CPU is in the phase's CpuShare instead.
  return { ...r, serverCpuPct: NaN, serverElu: NaN, otherCpuPct: NaN };
}

/**
 * The no-database ceiling, started as the SQLite bench starts it (startCeiling: the same Fastify
 * shell, routes and NotificationService over bench/no-db-store.ts, in this process) under the same
 * load shape as the nodes. Its CPU is this process's over the load (nothing else runs here then).
 */
async function runCeiling(ctx: Ctx): Promise<PgCeilingResult> {
  const { o, gen, runId, tls } = ctx;
  const dir = join(ctx.root, 'ceiling');
  log('ceiling: starting the no-database server in this process');
  const t = await startCeiling(dir, tls);
  try {
    await registerPatients(t, tls, patientIds(o.patients));
    const pre = await postJson(
      t,
      tls,
      '/v1/notifications',
      { type: 'test_result_ready', patientId: 'bench-p0', data: { testName: 'Lipid panel' } },
      { 'idempotency-key': `${runId}-ceiling-preflight` },
    );
    if (pre.status !== 202) throw new Error(`ceiling: preflight: HTTP ${pre.status} ${pre.text}`);
    const spec = (durationSec: number, keyPrefix: string) => ({
      url: t.url,
      apiKey: t.apiKey,
      connections: o.connections,
      durationSec,
      patientIds: patientIds(o.patients),
      keyPrefix: `${runId}-ceiling-${keyPrefix}`,
    });
    if (o.warmupSec > 0) await gen.run(spec(o.warmupSec, 'warm'));
    await quiet(o);
    log(`ceiling: ${o.durationSec}s of load`);
    const before = t.counts.notifications;
    const c0 = process.cpuUsage();
    const load = await gen.run(spec(o.durationSec, 'load'));
    const used = process.cpuUsage(c0);
    requireClean('ceiling', load);
    // Every 202 went through the whole service path into the fake store.
    if (t.counts.notifications - before < load.ok2xx)
      throw new Error(
        `ceiling: the no-DB store saw ${t.counts.notifications - before} notifications for ${load.ok2xx} 202s; it is not measuring the real path`,
      );
    const cpuSec = (used.user + used.system) / 1e6;
    log(
      `ceiling: ${Math.round(load.okPerSec)} accepted/s, ${Math.round((cpuSec * 1e6) / load.ok2xx)} µs CPU per notification`,
    );
    return { load, cpuSec, cpuUsPerNotification: (cpuSec * 1e6) / load.ok2xx };
  } finally {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One node count on its own fresh database: accept (workers off), drain (workers on), end to end. */
async function runNodeCount(ctx: Ctx, count: number): Promise<NodeCountResult> {
  const { o, gen, runId, tls } = ctx;
  const dbName = `sealpost_bench_${runId}_n${count}`;
  const dbUrl = await createDatabase(o.adminUrl, dbName);
  ctx.created.push(dbName);
  const dir = join(ctx.root, `n${count}`);
  const pgc = new PgProcessClassifier(o.adminUrl, [dbName]);
  let nodes: ServeNode[] = [];
  let probe: PgProbe | null = null;
  const label = `${count} node${count > 1 ? 's' : ''}`;
  try {
    log(`${label}: starting sealpost serve ×${count} on ${dbName} (workers off)`);
    nodes = await startNodes(ctx, dbUrl, dir, count, false);
    const apiKey = bootstrapKey(nodes[0].dataDir);
    probe = await PgProbe.open(dbUrl);
    await registerPatients({ url: nodes[0].url, apiKey, close: async () => {} }, tls, patientIds(o.patients));
    // Every node must answer a real request 202 before any load (same key, same database).
    for (const n of nodes) {
      const r = await postJson(
        { url: n.url, apiKey, close: async () => {} },
        tls,
        '/v1/notifications',
        { type: 'test_result_ready', patientId: 'bench-p0', data: { testName: 'Lipid panel' } },
        { 'idempotency-key': `${runId}-n${count}-preflight-${n.index}` },
      );
      if (r.status !== 202) throw new Error(`${label}: preflight on node ${n.index}: HTTP ${r.status} ${r.text}`);
    }
    const spec = (durationSec: number, keyPrefix: string) => ({
      url: nodes[0].url,
      urls: nodes.map((n) => n.url),
      apiKey,
      connections: o.connections,
      durationSec,
      patientIds: patientIds(o.patients),
      keyPrefix: `${runId}-n${count}-${keyPrefix}`,
    });
    if (o.warmupSec > 0) await gen.run(spec(o.warmupSec, 'warm'));

    // 1. Accept: workers off, ingestion alone.
    await quiet(o);
    log(`${label}: accept phase, ${o.durationSec}s, workers off`);
    const t0 = Date.now();
    const accept = await measured(sampler(ctx, nodes, pgc), pgc, () => gen.run(spec(o.durationSec, 'accept')));
    await new Promise((r) => setTimeout(r, 500));
    const acceptCommitted = (await probe.notificationsSince(t0)).n;
    log(`${label}: ${Math.round(accept.value.okPerSec)} accepted/s`);

    // 2. Drain: restart the same nodes with their workers on; measured from the moment all are ready.
    await Promise.all(nodes.map((n) => n.stop()));
    nodes = [];
    // Every delivery so far (warm-up, preflight, accept) ends as one outbox row: the backlog is the difference.
    const allDeliveries = Object.values(await probe.deliveryStatusCounts()).reduce((a, b) => a + b, 0);
    const queued = allDeliveries - (await probe.outboxSince(0)).n;
    log(`${label}: restarting with workers on to drain ${queued} queued deliveries`);
    // The database is migrated and the keyring written: the nodes may start together now, so that
    // the first one does not drain the backlog alone before the others are up.
    nodes = await startNodes(ctx, dbUrl, dir, count, true, true);
    const readyAt = Math.max(...nodes.map((n) => n.readyAt));
    const drain = await measured(sampler(ctx, nodes, pgc), pgc, () =>
      waitUntil(() => probe!.outboxReached(0, allDeliveries), o.drainTimeoutSec),
    );
    const drained = await probe.outboxCreatedSince(readyAt);
    const drainSec = drained.lastAt != null ? (drained.lastAt - readyAt) / 1000 : NaN;
    log(`${label}: drained ${drained.n} (after all nodes were ready) in ${drainSec.toFixed(1)}s`);

    // 3. End to end: the load with the workers on, until the outbox holds every delivery of the phase.
    await quiet(o);
    log(`${label}: end-to-end phase, ${o.durationSec}s, workers on`);
    const oBase = await probe.maxOutboxId();
    const t1 = Date.now();
    let loadEnd = 0;
    const e2e = await measured(sampler(ctx, nodes, pgc), pgc, async () => {
      const r = await gen.run(spec(o.durationSec, 'e2e'));
      loadEnd = performance.now();
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    const target = (await probe.notificationsSince(t1)).deliveries;
    const tail = await measured(sampler(ctx, nodes, pgc), pgc, () =>
      waitUntil(() => probe!.outboxReached(oBase, target), o.drainTimeoutSec),
    );
    const tailSeconds = (performance.now() - loadEnd) / 1000;
    const n = await probe.notificationsSince(t1);
    const ob = await probe.outboxSince(oBase);
    const seconds = n.firstAt != null && ob.lastAt != null ? (ob.lastAt - n.firstAt) / 1000 : NaN;
    log(
      `${label}: ${ob.n} delivered in ${seconds.toFixed(1)}s (${Math.round(ob.n / seconds)}/s end to end), ${Math.round(e2e.value.okPerSec)} accepted/s meanwhile`,
    );

    return {
      nodes: count,
      database: dbName,
      accept: { load: phase(accept.value), cpu: accept.cpu, committed: acceptCommitted },
      drain: {
        queued,
        afterReady: drained.n,
        seconds: drainSec,
        perSec: drained.n / drainSec,
        timedOut: !drain.value,
        cpu: drain.cpu,
      },
      endToEnd: {
        load: phase(e2e.value),
        cpu: e2e.cpu,
        accepted: n.n,
        delivered: ob.n,
        seconds,
        perSec: ob.n / seconds,
        tailSeconds,
        timedOut: !tail.value,
        tailCpu: tail.cpu,
      },
      finalDeliveryStatuses: await probe.deliveryStatusCounts(),
      auditLog: await probe.auditLogState(),
    };
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    await probe?.close();
    await pgc.close();
    await dropDatabase(o.adminUrl, dbName).catch((e) => log(`could not drop ${dbName}: ${String(e)}`));
    ctx.created = ctx.created.filter((d) => d !== dbName);
  }
}

export async function main(argv: string[]): Promise<void> {
  const { o, json } = parseArgs(argv);
  const runId = randomBytes(3).toString('hex');
  const root = mkdtempSync(join(tmpdir(), 'sealpost-bench-pg-'));
  const ctx: Ctx = {
    o,
    tls: { cert: '', private: '' },
    tlsFiles: { cert: join(root, 'tls-cert.pem'), key: join(root, 'tls-key.pem') },
    gen: null as unknown as LoadGenerator,
    runId,
    root,
    created: [],
  };
  let gen: LoadGenerator | null = null;
  const cleanup = async () => {
    for (const d of ctx.created) await dropDatabase(o.adminUrl, d).catch(() => {});
    rmSync(root, { recursive: true, force: true });
  };
  // Ctrl-C mid-run must not leave databases behind (child nodes get SIGINT from the terminal too).
  const onSignal = () => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const startedAt = new Date().toISOString();
    const machine = machineInfo(root);
    const code = codeInfo();
    const pgInfo = await pgServerInfo(o.adminUrl);
    ctx.tls = await selfSigned();
    writeFileSync(ctx.tlsFiles.cert, ctx.tls.cert, { mode: 0o600 });
    writeFileSync(ctx.tlsFiles.key, ctx.tls.private, { mode: 0o600 });
    const results: NodeCountResult[] = [];
    let ceiling: PgCeilingResult | null = null;
    if (o.http) {
      gen = await LoadGenerator.start();
      ctx.gen = gen;
      ceiling = await runCeiling(ctx);
      for (const n of o.nodes) results.push(await runNodeCount(ctx, n));
      await gen.close();
      gen = null;
    }
    let queue: QueueComparison | null = null;
    if (o.queue) {
      await quiet(o);
      queue = await runQueueComparison(
        o.adminUrl,
        runId,
        o.queue,
        (name) => ctx.created.push(name),
        (name) => (ctx.created = ctx.created.filter((d) => d !== name)),
        log,
      );
    }
    const out: PgBenchResults = {
      startedAt,
      finishedAt: new Date().toISOString(),
      options: o,
      machine,
      code,
      postgres: pgInfo,
      ceiling,
      nodeCounts: results,
      queue,
    };
    const md = renderPostgresMarkdown(out);
    const asJson = JSON.stringify({ ...out, targets: evaluateTargets(out) }, null, 2) + '\n';
    if (json === true) {
      process.stderr.write(md);
      process.stdout.write(asJson);
    } else {
      process.stdout.write(md);
      if (json) writeFileSync(json, asJson);
    }
  } finally {
    await gen?.close();
    await cleanup();
  }
}
