// ad-hoc diagnostic (deleted after use): per-SQL-statement time of NotificationService.create
import Sqlite from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const timings = new Map<string, { n: number; ms: number }>();
const origPrepare = (Sqlite as any).prototype.prepare;
(Sqlite as any).prototype.prepare = function (sql: string) {
  const st = origPrepare.call(this, sql);
  for (const m of ['run', 'all', 'get']) {
    const f = st[m].bind(st);
    st[m] = (...a: unknown[]) => { const t = process.hrtime.bigint(); try { return f(...a); } finally { const e = timings.get(sql) ?? { n: 0, ms: 0 }; e.n++; e.ms += Number(process.hrtime.bigint() - t) / 1e6; timings.set(sql, e); } };
  }
  return st;
};
const { loadConfig } = await import('../src/config/load-config.js');
const { buildApp } = await import('../src/app.js');
const { createLogger } = await import('../src/logger.js');
const dir = mkdtempSync(join(tmpdir(), 'diag-'));
const mode = process.argv[2] ?? 'group';
const config = loadConfig({ SEALPOST_DATA_DIR: dir, SEALPOST_PUBLIC_URL: 'https://localhost', SEALPOST_QUIET_HOURS: 'off', SEALPOST_WORKER: 'false', SEALPOST_SQLITE_DURABILITY: mode, SEALPOST_LOG_LEVEL: 'warn' });
const app = await buildApp(config, { logger: createLogger('warn') });
const ctx = { tenantId: 'default', actor: 'api-key:x', requestId: 'r', sourceIp: '127.0.0.1' };
for (let i = 0; i < 300; i++) await app.services.patients.upsert(ctx, `p${i}`, { name: { given: ['A'] }, birthDate: '1970-01-01', telecom: [{ system: 'sms', value: '+12025550100' }], timeZone: 'America/New_York' });
const N = Number(process.argv[3] ?? 5000);
let next = 0;
const run = async () => { while (next < N) { const i = next++; await app.services.notifications.create({ ...ctx, requestId: `r${i}` }, { type: 'test_result_ready', patientId: `p${i % 300}`, data: { testName: 'Lipid panel' } }, `k${i}`); } };
timings.clear();
const c0 = process.cpuUsage(); const t0 = performance.now();
await Promise.all(Array.from({ length: 50 }, run));
const wall = performance.now() - t0; const cpu = process.cpuUsage(c0);
console.log(`${mode}: ${N} creates in ${wall.toFixed(0)} ms = ${(N / wall * 1000).toFixed(0)}/s; CPU ${((cpu.user + cpu.system) / 1000 / N).toFixed(3)} ms/op`);
let tot = 0; for (const v of timings.values()) tot += v.ms;
console.log(`time inside better-sqlite3 statements: ${(tot / N).toFixed(3)} ms/op`);
for (const [sql, v] of [...timings].sort((a, b) => b[1].ms - a[1].ms).slice(0, 14)) console.log(`${(v.ms / N).toFixed(4)} ms/op  n=${v.n}  ${(v.ms / v.n * 1000).toFixed(1)}us/call  ${sql.slice(0, 110)}`);
await app.close(); rmSync(dir, { recursive: true });
