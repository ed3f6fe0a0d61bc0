/**
 * The delivery queue alone against pg-boss, on the same PostgreSQL server, each in its own fresh
 * database, with the same number of jobs, batch size, producers, consumers and pool size:
 *
 * - send:  `producers` loops insert batches of `batch` jobs until `jobs` are queued.
 *     Sealpost: one `store.transaction` per batch with one multi-row `deliveries.insertMany` (what a
 *     notification batch writes). pg-boss: `insert(jobs[])` per batch (one statement).
 * - work:  `consumers` loops fetch a batch and complete it until every job is done.
 *     Sealpost: `queue.claim` in a transaction, then one transaction with one lease-conditional
 *     `queue.finish` for the batch (the worker's two writes). pg-boss: `fetch(name, { batchSize })`,
 *     then `complete(name, ids[])`.
 * - mixed: producers and consumers at the same time, until every job is done.
 *
 * Sealpost's rows are real delivery rows (newDeliveryRow, ~20 columns); pg-boss's jobs are empty
 * (`data: {}`). Neither runs background maintenance here (pg-boss: supervise and schedule off;
 * Sealpost: no lease sweep). Durability is the server's synchronous_commit for both.
 *
 * Each phase's CPU is sampled per process ("bench (queue client)": this process, which runs the
 * queue's client side; "pg backends": the PostgreSQL backends of that queue's database), so the
 * report can give CPU per job on both sides of the connection.
 */
import PgBoss from 'pg-boss';
import { v7 as uuidv7 } from 'uuid';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config/load-config.js';
import { openStore } from '../src/store/open-store.js';
import { outcomeOf } from '../src/queue/job-queue.js';
import { newDeliveryRow } from '../src/core/notification-service.js';
import type { KyselyStore } from '../src/store/kysely-store.js';
import { CpuSampler, type CpuShare } from './proc-cpu.js';
import { createDatabase, dropDatabase, PgProcessClassifier } from './pg-support.js';
import { DEFAULT_TENANT } from '../src/core/domain.js';

export interface QueueOptions {
  jobs: number;
  batch: number;
  producers: number;
  consumers: number;
  /** Connections per pool (Sealpost's SEALPOST_DATABASE_POOL_MAX; pg-boss's `max`). */
  poolMax: number;
}

export interface QueuePhase {
  jobs: number;
  seconds: number;
  perSec: number;
  cpu: CpuShare;
  /** Statements and round trips are not counted; batches done, for the record. */
  batches: number;
}

export interface QueueSideResult {
  name: 'sealpost' | 'pg-boss';
  database: string;
  send: QueuePhase;
  work: QueuePhase;
  mixed: QueuePhase;
}

export interface QueueComparison {
  options: QueueOptions;
  sealpost: QueueSideResult;
  pgBoss: QueueSideResult;
  pgBossVersion: string;
}

/** What one queue implementation must offer the driver. */
interface QueueDriver {
  send(n: number): Promise<void>;
  /** Fetches up to `batch` jobs and completes them; returns how many. */
  fetchAndComplete(batch: number): Promise<number>;
  close(): Promise<void>;
}

async function sealpostDriver(url: string, poolMax: number): Promise<{ driver: QueueDriver; store: KyselyStore }> {
  const config = loadConfig({
    SEALPOST_DATABASE_URL: url,
    SEALPOST_DATABASE_POOL_MAX: String(poolMax),
    SEALPOST_DATA_DIR: '/nonexistent-bench-dir',
  });
  const store = openStore(config.database, { nodeId: 'bench-queue' });
  await store.migrate();
  const owner = `bench-${process.pid}`;
  const notification = { id: uuidv7(), tenant_id: DEFAULT_TENANT, patient_id: 'bench-p0', priority: 'normal' };
  const driver: QueueDriver = {
    async send(n) {
      const now = Date.now();
      // As a notification batch writes its deliveries: one multi-row insert.
      const rows = Array.from({ length: n }, () =>
        newDeliveryRow(uuidv7(), notification, 'sms', 'bench-cp', 1, now, now, 5),
      );
      await store.transaction(async (tx) => tx.deliveries.insertMany(rows));
    },
    async fetchAndComplete(batch) {
      const now = Date.now();
      const jobs = await store.transaction((tx) => tx.queue.claim(owner, now, now + 30_000, batch));
      if (!jobs.length) return 0;
      const at = Date.now();
      // As the delivery worker records a batch's outcomes: one lease-conditional statement.
      const held = await store.transaction((tx) =>
        tx.queue.finish(
          { owner, until: now + 30_000 },
          at,
          jobs.map((d) => ({ ...outcomeOf(d), status: 'sent', sent_at: at, provider: 'bench' })),
        ),
      );
      if (held.size !== jobs.length) throw new Error('lost a lease in the queue bench');
      return jobs.length;
    },
    close: () => store.close(),
  };
  return { driver, store };
}

async function pgBossDriver(url: string, poolMax: number): Promise<QueueDriver> {
  const boss = new PgBoss({
    connectionString: url,
    max: poolMax,
    supervise: false,
    schedule: false,
    migrate: true,
    application_name: 'pgboss-bench',
  } as PgBoss.ConstructorOptions);
  boss.on('error', (e) => process.stderr.write(`[pg-boss] ${String(e)}\n`));
  await boss.start();
  const name = 'bench';
  await boss.createQueue(name, { name, policy: 'standard' });
  return {
    async send(n) {
      await boss.insert(Array.from({ length: n }, () => ({ name, data: {} })));
    },
    async fetchAndComplete(batch) {
      const jobs = await boss.fetch(name, { batchSize: batch });
      if (!jobs || !jobs.length) return 0;
      await boss.complete(
        name,
        jobs.map((j) => j.id),
      );
      return jobs.length;
    },
    close: () => boss.stop({ graceful: false, wait: true }),
  };
}

/** Producers take batches from a shared budget; consumers run until `expected` jobs are completed. */
async function drive(
  d: QueueDriver,
  o: QueueOptions,
  doSend: boolean,
  doWork: boolean,
  expected: number,
): Promise<{ seconds: number; batches: number }> {
  let toSend = doSend ? o.jobs : 0;
  let done = 0;
  let batches = 0;
  let producing = doSend;
  const t0 = performance.now();
  const producer = async () => {
    while (toSend > 0) {
      const n = Math.min(o.batch, toSend);
      toSend -= n;
      await d.send(n);
      batches++;
    }
  };
  const consumer = async () => {
    while (done < expected) {
      const n = await d.fetchAndComplete(o.batch);
      done += n;
      if (n) batches++;
      else {
        // Nothing visible: the producers are not there yet (mixed phase), or other consumers hold
        // the rest locked (SKIP LOCKED hides them). Poll again soon, but not forever.
        if (!producing && performance.now() - t0 > 600_000)
          throw new Error(`queue bench: ${expected - done} jobs never became visible`);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  const producers = doSend ? Array.from({ length: o.producers }, producer) : [];
  const all = Promise.all(producers).then(() => {
    producing = false;
  });
  await Promise.all([all, ...(doWork ? Array.from({ length: o.consumers }, consumer) : [])]);
  return { seconds: (performance.now() - t0) / 1000, batches };
}

async function side(
  name: 'sealpost' | 'pg-boss',
  adminUrl: string,
  dbName: string,
  o: QueueOptions,
  onCreate: (n: string) => void,
  onDrop: (n: string) => void,
  log: (m: string) => void,
): Promise<QueueSideResult> {
  const url = await createDatabase(adminUrl, dbName);
  onCreate(dbName);
  const pgc = new PgProcessClassifier(adminUrl, [dbName]);
  let driver: QueueDriver | null = null;
  try {
    driver = name === 'sealpost' ? (await sealpostDriver(url, o.poolMax)).driver : await pgBossDriver(url, o.poolMax);
    // Warm-up: connections opened, statements planned, one batch through.
    await driver.send(o.batch);
    while ((await driver.fetchAndComplete(o.batch)) > 0);
    const sampler = new CpuSampler(async () => {
      const m = await pgc.map();
      m.set(process.pid, 'bench (queue client)');
      return m;
    });
    const phase = async (label: string, doSend: boolean, doWork: boolean): Promise<QueuePhase> => {
      await sampler.start();
      await pgc.startWaits();
      const run = await drive(driver!, o, doSend, doWork, doWork ? o.jobs : 0).then(
        (v) => ({ v, e: null }),
        (e: unknown) => ({ v: null, e }),
      );
      const pgWaits = await pgc.stopWaits();
      const cpu = { ...(await sampler.stop()), pgWaits };
      if (!run.v) throw run.e;
      const r = run.v;
      log(`queue ${name} ${label}: ${o.jobs} jobs in ${r.seconds.toFixed(2)}s = ${Math.round(o.jobs / r.seconds)}/s`);
      return { jobs: o.jobs, seconds: r.seconds, perSec: o.jobs / r.seconds, cpu, batches: r.batches };
    };
    const send = await phase('send', true, false);
    const work = await phase('fetch+complete', false, true);
    const mixed = await phase('mixed', true, true);
    return { name, database: dbName, send, work, mixed };
  } finally {
    await driver?.close().catch(() => {});
    await pgc.close();
    await dropDatabase(adminUrl, dbName).catch((e) => log(`could not drop ${dbName}: ${String(e)}`));
    onDrop(dbName);
  }
}

export async function runQueueComparison(
  adminUrl: string,
  runId: string,
  o: QueueOptions,
  onCreate: (n: string) => void,
  onDrop: (n: string) => void,
  log: (m: string) => void,
): Promise<QueueComparison> {
  log(
    `queue: ${o.jobs} jobs, batches of ${o.batch}, ${o.producers} producers, ${o.consumers} consumers, pool ${o.poolMax}`,
  );
  const sealpost = await side('sealpost', adminUrl, `sealpost_bench_${runId}_queue`, o, onCreate, onDrop, log);
  const pgBoss = await side('pg-boss', adminUrl, `sealpost_bench_${runId}_pgboss`, o, onCreate, onDrop, log);
  const { createRequire } = await import('node:module');
  const version = (createRequire(import.meta.url)('pg-boss/package.json') as { version: string }).version;
  return { options: o, sealpost, pgBoss, pgBossVersion: version };
}
