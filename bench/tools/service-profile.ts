/**
 * Where the database time of one notification goes, without HTTP: calls NotificationService directly
 * (50 concurrent callers, like the HTTP bench) on a fresh SQLite data dir, then lets the worker drain
 * the queue, then integrates the audit entries into the Merkle log and signs one checkpoint. Reports
 * CPU per operation, time inside each SQL statement, and WAL frames written per notification.
 * Diagnostic companion of `npm run bench` (see BENCHMARKS.md).
 *
 *   node bin/run-ts.js bench/tools/service-profile.ts [--mode group|full] [--n 5000] [--batch 1]
 *        [--wal-autocheckpoint N] [--no-drain]
 *
 * `--batch B` sends B notifications per transaction through createMany (the batch endpoint's path);
 * `--wal-autocheckpoint 0` turns SQLite's automatic checkpoints off, to show what they cost.
 * Instrumentation wraps better-sqlite3 statements, so absolute times carry a small overhead.
 */
import Sqlite from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SqliteDurability } from '../../src/config/config.js';
import { DEFAULT_TENANT } from '../../src/core/domain.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const mode = opt('mode', 'group') as SqliteDurability;
const N = Number(opt('n', '5000'));
const batch = Number(opt('batch', '1'));
const autoCheckpoint = args.includes('--wal-autocheckpoint') ? Number(opt('wal-autocheckpoint', '1000')) : null;
const drain = !args.includes('--no-drain');

const PROBE_SQL = 'select count(*) as n from dev_outbox';
// Time every statement by its SQL text. Installed before the store opens its connection.
const timings = new Map<string, { n: number; ms: number }>();
const proto = (
  Sqlite as unknown as { prototype: { prepare: (sql: string) => Record<string, (...a: unknown[]) => unknown> } }
).prototype;
const prepare = proto.prepare;
const configured = new WeakSet<object>();
proto.prepare = function (this: Sqlite.Database, sql: string) {
  if (autoCheckpoint !== null && !configured.has(this)) {
    configured.add(this);
    this.pragma(`wal_autocheckpoint = ${autoCheckpoint}`);
  }
  const st = prepare.call(this, sql);
  if (sql === PROBE_SQL) return st;
  for (const m of ['run', 'all', 'get'] as const) {
    const f = st[m].bind(st);
    st[m] = (...a: unknown[]) => {
      const t0 = process.hrtime.bigint();
      try {
        return f(...a);
      } finally {
        const e = timings.get(sql) ?? { n: 0, ms: 0 };
        e.n++;
        e.ms += Number(process.hrtime.bigint() - t0) / 1e6;
        timings.set(sql, e);
      }
    };
  }
  return st;
};

const { loadConfig } = await import('../../src/config/load-config.js');
const { buildApp } = await import('../../src/app.js');
const { createLogger } = await import('../../src/logger.js');

function report(title: string, ops: number, wallMs: number, cpu: NodeJS.CpuUsage, walBytes: number | null) {
  let inSql = 0;
  for (const v of timings.values()) inSql += v.ms;
  console.log(`\n## ${title}: ${ops} in ${Math.round(wallMs)} ms = ${Math.round((ops / wallMs) * 1000)}/s`);
  console.log(
    `CPU ${((cpu.user + cpu.system) / 1000 / ops).toFixed(3)} ms per op; inside SQLite statements ${(inSql / ops).toFixed(3)} ms per op` +
      (walBytes !== null ? `; WAL ${(walBytes / ops / 4120).toFixed(1)} frames (4 KiB pages) per op` : ''),
  );
  console.log('\n| ms per op | calls | µs per call | statement |\n|---:|---:|---:|---|');
  for (const [sql, v] of [...timings].sort((a, b) => b[1].ms - a[1].ms).slice(0, 14)) {
    console.log(
      `| ${(v.ms / ops).toFixed(4)} | ${v.n} | ${((v.ms / v.n) * 1000).toFixed(1)} | \`${sql.slice(0, 90)}${sql.length > 90 ? '…' : ''}\` |`,
    );
  }
}

const dir = mkdtempSync(join(tmpdir(), 'sealpost-svcprof-'));
try {
  const config = loadConfig({
    SEALPOST_DATA_DIR: dir,
    SEALPOST_PUBLIC_URL: 'https://localhost',
    SEALPOST_QUIET_HOURS: 'off',
    SEALPOST_WORKER: 'false',
    SEALPOST_SQLITE_DURABILITY: mode,
    SEALPOST_LOG_LEVEL: 'warn',
  });
  const app = await buildApp(config, { logger: createLogger('warn') });
  const ctx = { tenantId: DEFAULT_TENANT, actor: 'api-key:bench', requestId: 'bench', sourceIp: '127.0.0.1' };
  for (let i = 0; i < 300; i++) {
    await app.services.patients.upsert(ctx, `p${i}`, {
      name: { given: ['A'] },
      birthDate: '1970-01-01',
      telecom: [{ system: 'sms', value: '+12025550100' }],
      timeZone: 'America/New_York',
    });
  }
  const walPath = join(dir, 'sealpost.db-wal');
  const walSize = () => {
    try {
      return statSync(walPath).size;
    } catch {
      return 0;
    }
  };

  timings.clear();
  const wal0 = walSize();
  let next = 0;
  const caller = async () => {
    while (next < N) {
      const i0 = next;
      next += batch;
      const items = [];
      for (let i = i0; i < Math.min(N, i0 + batch); i++) {
        items.push({
          input: { type: 'test_result_ready', patientId: `p${i % 300}`, data: { testName: 'Lipid panel' } },
          idempotencyKey: `k${i}`,
        });
      }
      await app.services.notifications.createMany({ ...ctx, requestId: `r${i0}` }, items);
    }
  };
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 50 }, caller));
  // Only meaningful without checkpoints (the WAL is rewound after one).
  const walBytes = autoCheckpoint === 0 ? walSize() - wal0 : null;
  report(`create (${mode}, batch ${batch})`, N, performance.now() - t0, process.cpuUsage(c0), walBytes);

  if (drain) {
    timings.clear();
    const probe = new Sqlite(join(dir, 'sealpost.db'), { readonly: true });
    const count = probe.prepare(PROBE_SQL);
    const d0 = process.cpuUsage();
    const w0 = performance.now();
    app.worker.start();
    while ((count.get() as { n: number }).n < N) await new Promise((r) => setTimeout(r, 20));
    report(`worker drain (${mode})`, N, performance.now() - w0, process.cpuUsage(d0), null);
    probe.close();
  }

  // The audit-log integrator's work for everything above (the bench runs it in the background, as
  // `sealpost serve` does): Merkle subtree hashes for every entry appended so far, then one checkpoint.
  await app.worker.stop();
  // Absent in code from before the audit log (the bench is sometimes run against older commits).
  if ('auditLog' in app) {
    const entries = await app.store.read.auditLog.size();
    timings.clear();
    const i0 = process.cpuUsage();
    const iw = performance.now();
    await app.auditLog.integrate();
    report(
      `audit-log integration (${mode}, batch of ${config.audit.integrateBatch} leaves per transaction)`,
      entries,
      performance.now() - iw,
      process.cpuUsage(i0),
      null,
    );
    timings.clear();
    const k0 = process.cpuUsage();
    const kw = performance.now();
    await app.auditLog.checkpoint();
    report(`audit-log checkpoint (${mode}, tree of ${entries})`, 1, performance.now() - kw, process.cpuUsage(k0), null);
  }
  await app.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
