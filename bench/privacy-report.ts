/**
 * `npm run bench:privacy-report [-- --entries 1000000 --people 1000 --addresses 200]`: the time to build a
 * breach investigation report over a large audit log (issue 19).
 *
 * A fresh SQLite database gets N audit entries straight into `audit_entries` (one connection, big
 * transactions: the same canonical JSON and leaf hashes the store's append path writes), spread over
 * 30 days, `people` users and `addresses` network addresses; the Merkle log is then integrated. Then
 * two reports: one person's slice (the whole month) and one address's. For each: wall time, CPU time,
 * rows the query read, entries in the report and inclusion proofs made. Reference in the same run: a
 * plain scan of the same window (SELECT every entry + JSON.parse), the least any report must do.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import pino from 'pino';
import { openSqliteStore } from '../src/store/backends/sqlite/sqlite-backend.js';
import { LocalKeyring } from '../src/crypto/local-keyring.js';
import { AuditLog } from '../src/audit/audit-log.js';
import { encodeAuditEntry, type AuditEvent } from '../src/audit/audit-entry.js';
import { buildAccessReport, parseReportRequest, type AccessReportDeps } from '../src/audit/privacy/access-report.js';
import { renderReportHtml } from '../src/audit/privacy/report-render.js';
import { codeInfo, machineInfo } from './machine-info.js';

const ORIGIN = 'bench.example/sealpost/audit';
const T0 = Date.UTC(2025, 0, 1);
const MONTH = 30 * 86_400_000;
const ACTIONS = [
  'patient.read',
  'notification.created',
  'delivery.sent',
  'appointment.read',
  'auth.login_succeeded',
  'patient.looked_up',
];

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const progress = (m: string) => process.stderr.write(`${m}\n`);
const int = (n: number) => n.toLocaleString('en');

async function measure<T>(fn: () => Promise<T>): Promise<{ value: T; wallMs: number; cpuMs: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, wallMs, cpuMs: (c.user + c.system) / 1000 };
}

async function main() {
  const N = arg('entries', 1_000_000);
  const people = arg('people', 1000);
  const addresses = arg('addresses', 200);
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-bench-report-'));
  const dbPath = join(dir, 'sealpost.db');
  const machine = machineInfo(dir);
  const code = codeInfo();
  const { keyring } = LocalKeyring.openOrCreate(join(dir, 'keyring.json'));
  const store = openSqliteStore(dbPath, 'group');
  await store.migrate();
  const log = new AuditLog(
    store,
    keyring,
    { origin: ORIGIN, checkpointSeconds: 3600, checkpointEntries: 1e9, batch: 10_000 },
    () => new Date(),
    pino({ level: 'silent' }),
  );
  const ref = (id: string) => keyring.blindIndex('default', 'patient.id', id, 'reference').slice(0, 32);
  const patientRefs = Array.from({ length: 10_000 }, (_, i) => ref(`mrn-${i}`));

  // 1. The log: N entries in 30 days, bulk-inserted with their final index.
  const raw = new Sqlite(dbPath);
  raw.pragma('busy_timeout = 10000');
  raw.pragma('synchronous = NORMAL');
  const insert = raw.prepare(
    'insert into audit_entries (idx, tenant_id, at, action, actor, patient_ref, entry, leaf_hash) values (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  let rnd = 42;
  // High bits only: the low bits of a power-of-two LCG cycle quickly.
  const next = () => (rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0) >>> 12;
  let appended = 0;
  let t = performance.now();
  while (appended < N) {
    raw.transaction(() => {
      for (let k = 0; k < 50_000 && appended < N; k++) {
        const person = next() % people;
        const action = ACTIONS[next() % ACTIONS.length];
        const e: AuditEvent = {
          tenantId: 'default',
          at: new Date(T0 + Math.floor((appended / N) * MONTH)),
          actor: `user:u-${person}`,
          action,
          outcome: 'success',
          targetType: action.startsWith('auth.') ? 'session' : 'patient',
          targetId: `t-${appended}`,
          patientRef: action.startsWith('auth.') ? null : patientRefs[next() % patientRefs.length],
          requestId: `r-${appended}`,
          sourceIp: `10.${person % 4}.${(person * 7 + (next() % 3)) % addresses}.${person % 250}`,
          details:
            action === 'delivery.sent'
              ? { channel: 'sms', provider: 'twilio', notification: `n-${appended}` }
              : undefined,
        };
        const { entry, leafHash } = encodeAuditEntry(e);
        appended++;
        insert.run(appended, e.tenantId, e.at.getTime(), e.action, e.actor, e.patientRef ?? null, entry, leafHash);
      }
    })();
    if (appended % 200_000 === 0) progress(`appended ${int(appended)} entries`);
  }
  raw
    .prepare(
      "insert into audit_log_state (name, value) values ('appended_size', ?) on conflict(name) do update set value = excluded.value",
    )
    .run(N);
  const setupSec = (performance.now() - t) / 1000;
  progress('integrating the Merkle log…');
  t = performance.now();
  await log.integrate();
  const integrateSec = (performance.now() - t) / 1000;
  await store.transaction(async (tx) => {
    await tx.tenants.ensure('default', 'default', Date.now());
    await tx.users.insert({
      id: 'u-7',
      tenant_id: 'default',
      email: 'u7@bench.test',
      display_name: 'u7',
      roles: 'nurse',
      status: 'active',
      password_hash: null,
      locked_until: null,
      sso_issuer: null,
      sso_subject: null,
      created_at: 0,
      updated_at: 0,
    });
  });

  const deps: AccessReportDeps = {
    store,
    checkpoint: () => log.checkpoint(),
    patientRef: (_t, id) => ref(id),
    templateFields: () => [],
    clock: () => new Date(),
    organisation: 'Bench Clinic',
  };
  const window = { tenantId: 'default', from: new Date(T0).toISOString(), to: new Date(T0 + MONTH + 1).toISOString() };
  const address = '10.3.49.7'; // one of u-7's three addresses
  const count = (sql: string, ...p: unknown[]) => (raw.prepare(sql).get(...p) as { n: number }).n;

  // Reference: a plain scan of the month (every entry read and parsed), and the user's rows by the same filter.
  const reference = await measure(async () => {
    let n = 0;
    for (const r of raw
      .prepare('select entry from audit_entries where tenant_id = ? and at >= ? and at < ?')
      .iterate('default', T0, T0 + MONTH + 1))
      if (JSON.parse((r as { entry: string }).entry).actor === 'user:u-7') n++;
    return n;
  });

  const results = [];
  for (const [label, scope, scanned] of [
    [
      'one person (user u-7)',
      { user: 'u-7' },
      count("select count(*) as n from audit_entries where actor = 'user:u-7'"),
    ],
    [
      `one address (${address})`,
      { address },
      count('select count(*) as n from audit_entries where entry like ?', `%"ip":"${address}"%`),
    ],
  ] as const) {
    const m = await measure(() =>
      buildAccessReport(deps, parseReportRequest({ ...window, ...scope }), { showPatientIds: true }),
    );
    const html = await measure(async () => renderReportHtml(m.value).length);
    results.push({
      report: label,
      wallMs: Math.round(m.wallMs),
      cpuMs: Math.round(m.cpuMs),
      rowsReadByQuery: N,
      rowsMatchingPrefilter: scanned,
      entriesInReport: m.value.entries.length,
      patients: m.value.patients.count,
      reportJsonBytes: JSON.stringify(m.value).length,
      htmlMs: Math.round(html.wallMs),
    });
  }

  const out = {
    machine,
    code,
    log: { entries: N, people, addresses, setupSec: +setupSec.toFixed(1), integrateSec: +integrateSec.toFixed(1) },
    reference: {
      what: 'plain scan of the window: SELECT entry + JSON.parse of every row, counting one actor',
      wallMs: Math.round(reference.wallMs),
      cpuMs: Math.round(reference.cpuMs),
      rows: N,
      matched: reference.value,
    },
    reports: results,
  };
  console.log(JSON.stringify(out, null, 2));
  raw.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
