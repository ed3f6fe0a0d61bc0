import { rmSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { SqliteDurability } from '../src/config/config.js';
import { machineCpu, waitForQuiet, type LoadGenerator, type PhaseResult } from './load.js';
import type { PhaseProfiler, ProfileSummary } from './profiler.js';
import { DbProbe, registerPatients, startCeiling, startSealpost, tlsSession, type Target, type Tls } from './servers.js';

export interface BenchOptions {
  durationSec: number;
  warmupSec: number;
  connections: number;
  patients: number;
  /** Upper bound on waiting for the worker to empty the queue, per wait. */
  drainTimeoutSec: number;
  /** Before each measured phase, wait up to this long for other processes to go quiet (0 = don't). */
  quietWaitSec: number;
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
  finalDeliveryStatuses: Record<string, number>;
  dbBytes: number;
}

const patientIds = (n: number) => Array.from({ length: n }, (_, i) => `bench-p${i}`);

function spec(t: Target, o: BenchOptions, durationSec: number, keyPrefix: string) {
  return { url: t.url, apiKey: t.apiKey, connections: o.connections, durationSec, patientIds: patientIds(o.patients), keyPrefix };
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
    if (o.warmupSec > 0) await gen.run(spec(t, o, o.warmupSec, `${runId}-${label}-warm`));
    await quiet(o);
    log(`${label}: ${o.durationSec}s of load`);
    const load = await profiled(ctx, label, () => gen.run(spec(t, o, o.durationSec, `${runId}-${label}`)));
    log(`${label}: ${Math.round(load.okPerSec)} accepted/s`);
    return { label, load, counts: { ...t.counts }, tls: await tlsSession(t.url) };
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
 * 3. end to end: the load again with the worker on, until the dev outbox holds every notification.
 */
export async function runMode(durability: SqliteDurability, dir: string, ctx: RunContext): Promise<ModeResult> {
  const { tls, gen, o, runId } = ctx;
  log(`${durability}: starting Sealpost (SQLITE_DURABILITY=${durability}, worker off)`);
  const t = await startSealpost(dir, durability, tls);
  let probe: DbProbe | null = null;
  try {
    await registerPatients(t, tls, patientIds(o.patients));
    probe = new DbProbe(t.dbPath);
    if (o.warmupSec > 0) await gen.run(spec(t, o, o.warmupSec, `${runId}-${durability}-warm`));

    await quiet(o);
    log(`${durability}: accept phase, ${o.durationSec}s of load, worker off`);
    const base = probe.maxNotificationRowid();
    const accept = await profiled(ctx, `${durability}-accept`, () => gen.run(spec(t, o, o.durationSec, `${runId}-${durability}-accept`)));
    const acceptCommitted = probe.notificationsSince(base).n;
    log(`${durability}: ${Math.round(accept.okPerSec)} accepted/s`);

    const queued = probe.deliveryStatusCounts().queued ?? 0;
    await quiet(o);
    log(`${durability}: worker-only drain of ${queued} queued deliveries`);
    const drain = await profiled(ctx, `${durability}-drain`, () => measureDrain(probe!, queued, () => t.app.worker.start(), o.drainTimeoutSec));
    log(`${durability}: drained ${drain.delivered} in ${drain.seconds.toFixed(1)}s (${Math.round(drain.perSec)}/s)`);

    await quiet(o);
    log(`${durability}: end-to-end phase, ${o.durationSec}s of load, worker on`);
    const nBase = probe.maxNotificationRowid();
    const oBase = probe.maxOutboxId();
    let loadEnd = 0;
    let timedOut = false;
    const load = await profiled(ctx, `${durability}-e2e`, async () => {
      const r = await gen.run(spec(t, o, o.durationSec, `${runId}-${durability}-e2e`));
      loadEnd = performance.now();
      const target = probe!.notificationsSince(nBase).deliveries;
      timedOut = !(await waitUntil(() => probe!.outboxReached(oBase, target), o.drainTimeoutSec));
      return r;
    });
    const tailSeconds = (performance.now() - loadEnd) / 1000;
    const n = probe.notificationsSince(nBase);
    const ob = probe.outboxSince(oBase);
    const seconds = n.firstAt != null && ob.lastAt != null ? (ob.lastAt - n.firstAt) / 1000 : NaN;
    const endToEnd: EndToEndResult = { load, accepted: n.n, delivered: ob.n, seconds, perSec: ob.n / seconds, tailSeconds, timedOut };
    log(`${durability}: ${ob.n} delivered in ${seconds.toFixed(1)}s (${Math.round(endToEnd.perSec)}/s end to end)`);

    return {
      durability,
      accept,
      acceptCommitted,
      drain,
      endToEnd,
      finalDeliveryStatuses: probe.deliveryStatusCounts(),
      dbBytes: fileSize(t.dbPath) + fileSize(`${t.dbPath}-wal`),
    };
  } finally {
    probe?.close();
    await t.close();
    rmSync(dir, { recursive: true, force: true });
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

async function measureDrain(probe: DbProbe, queued: number, start: () => void, timeoutSec: number): Promise<DrainResult> {
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
  const serverCpuPct = ((cpu.user + cpu.system) / 1e6 / wallSec) * 100;
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
