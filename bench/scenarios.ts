import { rmSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { SqliteDurability } from '../src/config/config.js';
import { machineCpu, waitForQuiet, type LoadGenerator, type PhaseResult } from './load.js';
import type { PhaseProfiler, ProfileSummary } from './profiler.js';
import { sqlCounters, sqlCountsSince } from './sql-counters.js';
import {
  DbProbe,
  postJson,
  registerPatients,
  startCeiling,
  startSealpost,
  tlsSession,
  type Target,
  type Tls,
} from './servers.js';

export interface BenchOptions {
  durationSec: number;
  warmupSec: number;
  connections: number;
  patients: number;
  /** Upper bound on waiting for the worker to empty the queue, per wait. */
  drainTimeoutSec: number;
  /** Before each measured phase, wait up to this long for other processes to go quiet (0 = don't). */
  quietWaitSec: number;
  /** Items per `POST /v1/notifications:batch` request in the batch phases; 0 = skip the batch phases. */
  batchSize: number;
  /** Connections of the batch phases (each with one batch request in flight). */
  batchConnections: number;
  /**
   * Run the audit-log integrator (Merkle subtree hashing, signed checkpoints) in the background of
   * every Sealpost phase, as `sealpost serve` does (`app.start()`). Off: only what the phase names.
   */
  auditLog: boolean;
}

export interface RunContext {
  tls: Tls;
  gen: LoadGenerator;
  o: BenchOptions;
  runId: string;
  profiler: PhaseProfiler;
  profiles: ProfileSummary[];
}

export interface CeilingResult {
  label: string;
  load: PhaseResult;
  /** The same no-DB handler fed through the batch endpoint (absent with --batch-size 0). */
  batch?: PhaseResult;
  /** What the no-DB store saw: proves the requests went through the whole service path. */
  counts: Record<string, number>;
  /** Negotiated TLS protocol and cipher. */
  tls: string;
}

export interface DrainResult {
  /** Deliveries that were queued when the worker started. */
  queued: number;
  delivered: number;
  seconds: number;
  perSec: number;
  timedOut: boolean;
  serverCpuPct: number;
  /** CPU seconds of the server process from the worker's start until the outbox held every delivery. */
  serverCpuSec: number;
  serverElu: number;
  /** CPU used by other processes meanwhile, % of one core (see PhaseResult). */
  otherCpuPct: number;
}

export interface EndToEndResult {
  load: PhaseResult;
  /** Notifications committed during the phase (includes requests still in flight when the load stopped). */
  accepted: number;
  delivered: number;
  /** From the first accepted notification's commit to the last dev-outbox insert. */
  seconds: number;
  perSec: number;
  /** Time after the load stopped until the outbox caught up. */
  tailSeconds: number;
  timedOut: boolean;
}

export interface ModeResult {
  durability: SqliteDurability;
  accept: PhaseResult;
  /** Rows the accept phase committed, from the database (≥ 2xx answers: in-flight requests at the end commit too). */
  acceptCommitted: number;
  drain: DrainResult;
  endToEnd: EndToEndResult;
  /** Batch ingestion with the worker on (absent with --batch-size 0). */
  batchEndToEnd?: EndToEndResult;
  /** Batch ingestion with the worker off; measured after batchEndToEnd, on the same (warm) server. */
  batchAccept?: PhaseResult;
  /** Notifications the batch accept phase committed (≥ 2xx answers × batch size). */
  batchAcceptCommitted?: number;
  finalDeliveryStatuses: Record<string, number>;
  /**
   * Explicit SQLite COMMITs and command savepoints the server ran in each phase (bench/sql-counters.ts):
   * how many commands shared one commit (savepoints are only used when two or more do).
   */
  sql: Record<
    'accept' | 'drain' | 'endToEnd' | 'batchEndToEnd' | 'batchAccept',
    { commits: number; savepoints: number }
  >;
  /** Audit entries appended and integrated into the Merkle log by the end (integrator on or off). */
  auditLog: { appended: number; integrated: number; checkpoints: number };
  dbBytes: number;
}

const patientIds = (n: number) => Array.from({ length: n }, (_, i) => `bench-p${i}`);

function spec(t: Target, o: BenchOptions, durationSec: number, keyPrefix: string) {
  return {
    url: t.url,
    apiKey: t.apiKey,
    connections: o.connections,
    durationSec,
    patientIds: patientIds(o.patients),
    keyPrefix,
  };
}

/** The batch phases' load: `o.batchSize` items per request on `o.batchConnections` connections. */
function batchSpec(t: Target, o: BenchOptions, durationSec: number, keyPrefix: string) {
  return { ...spec(t, o, durationSec, keyPrefix), connections: o.batchConnections, batchSize: o.batchSize };
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

async function quiet(o: BenchOptions): Promise<void> {
  if (o.quietWaitSec <= 0) return;
  const other = await waitForQuiet(o.quietWaitSec);
  if (other >= 20) log(`other processes still use ${Math.round(other)}% of a core; measuring anyway`);
}

/** The same handler without the database (see startCeiling). */
export async function runCeiling(label: string, dir: string, ctx: RunContext): Promise<CeilingResult> {
  const { tls, gen, o, runId } = ctx;
  log(`${label}: starting the no-database server`);
  const t = await startCeiling(dir, tls);
  try {
    await registerPatients(t, tls, patientIds(o.patients));
    await preflight(t, tls, o, `${runId}-${label}`);
    if (o.warmupSec > 0) await gen.run(spec(t, o, o.warmupSec, `${runId}-${label}-warm`));
    await quiet(o);
    log(`${label}: ${o.durationSec}s of load`);
    const load = await profiled(ctx, label, () => gen.run(spec(t, o, o.durationSec, `${runId}-${label}`)));
    log(`${label}: ${Math.round(load.okPerSec)} accepted/s`);
    requireClean(label, load);
    let batch: PhaseResult | undefined;
    if (o.batchSize > 0) {
      if (o.warmupSec > 0) await gen.run(batchSpec(t, o, o.warmupSec, `${runId}-${label}-bwarm`));
      await quiet(o);
      log(`${label}: ${o.durationSec}s of batch load (${o.batchSize} per request, ${o.batchConnections} connections)`);
      batch = await profiled(ctx, `${label}-batch`, () =>
        gen.run(batchSpec(t, o, o.durationSec, `${runId}-${label}-batch`)),
      );
      log(`${label}: ${Math.round(batch.okItemsPerSec)} accepted/s through the batch endpoint`);
      requireClean(`${label} batch`, batch);
    }
    // Every accepted notification went through the whole service path into the fake store.
    if (t.counts.notifications < load.ok2xx + (batch ? batch.ok2xx * batch.itemsPerRequest : 0)) {
      throw new Error(
        `${label}: the no-DB store saw ${t.counts.notifications} notifications for more 202s; the ceiling is not measuring the real path`,
      );
    }
    return { label, load, batch, counts: { ...t.counts }, tls: await tlsSession(t.url) };
  } finally {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One durability mode, on a fresh database:
 * 1. accept: the load with the worker off (ingest alone: HTTPS, auth, validation, encryption,
 *    transaction with audit entry, durable commit);
 * 2. drain: the worker alone empties the queue that (1) and its warm-up left;
 * 3. end to end: the load again with the worker on, until the dev outbox holds every notification;
 * 4. batch end to end (worker still on): the batch load, until the dev outbox holds every notification;
 * 5. batch accept: the worker stopped, the batch load again (ingest alone).
 */
export async function runMode(durability: SqliteDurability, dir: string, ctx: RunContext): Promise<ModeResult> {
  const { tls, gen, o, runId } = ctx;
  log(`${durability}: starting Sealpost (SQLITE_DURABILITY=${durability}, worker off)`);
  const t = await startSealpost(dir, durability, tls);
  let probe: DbProbe | null = null;
  try {
    await registerPatients(t, tls, patientIds(o.patients));
    await preflight(t, tls, o, `${runId}-${durability}`);
    // As `sealpost serve` runs it (app.start() starts it with the worker); stopped by app.close().
    if (o.auditLog) t.app.auditLog.start();
    probe = new DbProbe(t.dbPath);
    if (o.warmupSec > 0) await gen.run(spec(t, o, o.warmupSec, `${runId}-${durability}-warm`));

    await quiet(o);
    log(`${durability}: accept phase, ${o.durationSec}s of load, worker off`);
    const base = probe.maxNotificationRowid();
    const sql0 = { ...sqlCounters };
    const sql = {} as ModeResult['sql'];
    const accept = await profiled(ctx, `${durability}-accept`, () =>
      gen.run(spec(t, o, o.durationSec, `${runId}-${durability}-accept`)),
    );
    const acceptCommitted = probe.notificationsSince(base).n;
    sql.accept = sqlCountsSince(sql0);
    log(`${durability}: ${Math.round(accept.okPerSec)} accepted/s`);

    // Requests still in flight when the load stopped commit within this wait (and quiet()'s ≥ 1 s).
    await new Promise((r) => setTimeout(r, 500));
    await quiet(o);
    const queued = probe.deliveryStatusCounts().queued ?? 0;
    log(`${durability}: worker-only drain of ${queued} queued deliveries`);
    const sql1 = { ...sqlCounters };
    const drain = await profiled(ctx, `${durability}-drain`, () =>
      measureDrain(probe!, queued, () => t.app.worker.start(), o.drainTimeoutSec),
    );
    sql.drain = sqlCountsSince(sql1);
    log(`${durability}: drained ${drain.delivered} in ${drain.seconds.toFixed(1)}s (${Math.round(drain.perSec)}/s)`);

    await quiet(o);
    log(`${durability}: end-to-end phase, ${o.durationSec}s of load, worker on`);
    const sql2 = { ...sqlCounters };
    const endToEnd = await measureEndToEnd(ctx, probe, `${durability}-e2e`, () =>
      gen.run(spec(t, o, o.durationSec, `${runId}-${durability}-e2e`)),
    );
    sql.endToEnd = sqlCountsSince(sql2);
    log(
      `${durability}: ${endToEnd.delivered} delivered in ${endToEnd.seconds.toFixed(1)}s (${Math.round(endToEnd.perSec)}/s end to end)`,
    );

    let batchEndToEnd: EndToEndResult | undefined;
    let batchAccept: PhaseResult | undefined;
    let batchAcceptCommitted: number | undefined;
    if (o.batchSize > 0) {
      // Batch phases on the same server, after the single-request ones. The worker is still on:
      // warm the batch route up, let the outbox catch up so the queue is empty, then measure.
      if (o.warmupSec > 0) {
        const n0 = probe.maxNotificationRowid();
        const o0 = probe.maxOutboxId();
        await gen.run(batchSpec(t, o, o.warmupSec, `${runId}-${durability}-bwarm`));
        const p = probe;
        if (!(await waitUntil(() => p.outboxReached(o0, p.notificationsSince(n0).deliveries), o.drainTimeoutSec)))
          throw new Error(`${durability}: the outbox did not catch up after the batch warm-up`);
      }
      await quiet(o);
      log(
        `${durability}: batch end-to-end phase, ${o.durationSec}s of batch load (${o.batchSize} per request, ${o.batchConnections} connections), worker on`,
      );
      const sql3 = { ...sqlCounters };
      batchEndToEnd = await measureEndToEnd(ctx, probe, `${durability}-batch-e2e`, () =>
        gen.run(batchSpec(t, o, o.durationSec, `${runId}-${durability}-batch-e2e`)),
      );
      sql.batchEndToEnd = sqlCountsSince(sql3);
      log(
        `${durability}: ${batchEndToEnd.delivered} delivered in ${batchEndToEnd.seconds.toFixed(1)}s (${Math.round(batchEndToEnd.perSec)}/s end to end, batch ingestion)`,
      );

      // Ingestion alone: the worker off (its queue is empty now), the server already warm.
      await t.app.worker.stop();
      await quiet(o);
      log(`${durability}: batch accept phase, ${o.durationSec}s of batch load, worker off`);
      const base = probe.maxNotificationRowid();
      const sql4 = { ...sqlCounters };
      batchAccept = await profiled(ctx, `${durability}-batch-accept`, () =>
        gen.run(batchSpec(t, o, o.durationSec, `${runId}-${durability}-batch-accept`)),
      );
      batchAcceptCommitted = probe.notificationsSince(base).n;
      sql.batchAccept = sqlCountsSince(sql4);
      log(
        `${durability}: ${Math.round(batchAccept.okItemsPerSec)} accepted/s through the batch endpoint (${Math.round(batchAccept.okPerSec)} requests/s)`,
      );
    }

    return {
      durability,
      accept,
      acceptCommitted,
      drain,
      endToEnd,
      batchEndToEnd,
      batchAccept,
      batchAcceptCommitted,
      sql,
      finalDeliveryStatuses: probe.deliveryStatusCounts(),
      auditLog: probe.auditLogState(),
      dbBytes: fileSize(t.dbPath) + fileSize(`${t.dbPath}-wal`),
    };
  } finally {
    probe?.close();
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * With the worker running, one load phase, then waits until the dev outbox holds a delivery for every
 * notification committed in the phase. Rate = outbox rows ÷ (last outbox row's created_at − first
 * notification's created_at), both stamped by the server.
 */
async function measureEndToEnd(
  ctx: RunContext,
  probe: DbProbe,
  label: string,
  load: () => Promise<PhaseResult>,
): Promise<EndToEndResult> {
  const nBase = probe.maxNotificationRowid();
  const oBase = probe.maxOutboxId();
  let loadEnd = 0;
  let timedOut = false;
  const r = await profiled(ctx, label, async () => {
    const res = await load();
    loadEnd = performance.now();
    const target = probe.notificationsSince(nBase).deliveries;
    timedOut = !(await waitUntil(() => probe.outboxReached(oBase, target), ctx.o.drainTimeoutSec));
    return res;
  });
  const tailSeconds = (performance.now() - loadEnd) / 1000;
  const n = probe.notificationsSince(nBase);
  const ob = probe.outboxSince(oBase);
  const seconds = n.firstAt != null && ob.lastAt != null ? (ob.lastAt - n.firstAt) / 1000 : NaN;
  return { load: r, accepted: n.n, delivered: ob.n, seconds, perSec: ob.n / seconds, tailSeconds, timedOut };
}

/** The ceiling must answer every request 202: anything else means it is not measuring the real path. */
function requireClean(label: string, r: PhaseResult): void {
  if (r.non2xx || r.errors || r.timeouts) {
    throw new Error(
      `${label}: ${r.non2xx} non-2xx (${JSON.stringify(r.statusCodes)}), ${r.errors} errors, ${r.timeouts} timeouts; see the server log above`,
    );
  }
}

/**
 * One single request and one batch of two, checked for their 202 answers, before any load: a route
 * or store method the bench does not support fails here with the server's answer, not as a column
 * of non-2xx counts.
 */
async function preflight(t: Target, tls: Tls, o: BenchOptions, prefix: string): Promise<void> {
  const ids = patientIds(o.patients);
  const [p0, p1] = [ids[0], ids[1 % ids.length]];
  const body = (patientId: string) => ({ type: 'test_result_ready', patientId, data: { testName: 'Lipid panel' } });
  const one = await postJson(t, tls, '/v1/notifications', body(p0), { 'idempotency-key': `${prefix}-preflight-0` });
  if (one.status !== 202 || !(JSON.parse(one.text) as { id?: string }).id)
    throw new Error(`preflight POST /v1/notifications: HTTP ${one.status} ${one.text}`);
  if (o.batchSize <= 0) return;
  const items = [
    { ...body(p0), idempotencyKey: `${prefix}-preflight-1` },
    { ...body(p1), idempotencyKey: `${prefix}-preflight-2` },
  ];
  const many = await postJson(t, tls, '/v1/notifications:batch', { items });
  if (many.status !== 202 || (JSON.parse(many.text) as { items?: unknown[] }).items?.length !== 2) {
    throw new Error(`preflight POST /v1/notifications:batch: HTTP ${many.status} ${many.text}`);
  }
}

async function profiled<T>(ctx: RunContext, label: string, fn: () => Promise<T>): Promise<T> {
  await ctx.profiler.start();
  try {
    return await fn();
  } finally {
    const summary = await ctx.profiler.stop(label);
    if (summary) ctx.profiles.push(summary);
  }
}

async function measureDrain(
  probe: DbProbe,
  queued: number,
  start: () => void,
  timeoutSec: number,
): Promise<DrainResult> {
  const oBase = probe.maxOutboxId();
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const m0 = machineCpu();
  const wall0 = performance.now();
  const startedAt = Date.now();
  start();
  const done = await waitUntil(() => probe.outboxReached(oBase, queued), timeoutSec);
  const wallSec = (performance.now() - wall0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const m1 = machineCpu();
  const serverCpuSec = (cpu.user + cpu.system) / 1e6;
  const serverCpuPct = (serverCpuSec / wallSec) * 100;
  const ob = probe.outboxSince(oBase);
  // The last outbox row's own timestamp ends the interval, not the (coarser) poll that saw it.
  const seconds = ob.lastAt != null ? (ob.lastAt - startedAt) / 1000 : wallSec;
  return {
    queued,
    delivered: ob.n,
    seconds,
    perSec: ob.n / seconds,
    timedOut: !done,
    serverCpuPct,
    serverCpuSec,
    serverElu: performance.eventLoopUtilization(elu0).utilization,
    otherCpuPct: m0 && m1 ? Math.max(0, ((m1.busySec - m0.busySec) / wallSec) * 100 - serverCpuPct) : NaN,
  };
}

/** Polls (every 50 ms, one indexed count on a read-only connection) until `cond` or the timeout. */
async function waitUntil(cond: () => boolean, timeoutSec: number): Promise<boolean> {
  const deadline = performance.now() + timeoutSec * 1000;
  while (!cond()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
