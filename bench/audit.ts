/**
 * `npm run bench:audit` (node bin/run-ts.js bench/audit.ts): the tamper-evident audit log at 10^6 entries.
 *
 *   node bin/run-ts.js bench/audit.ts [--entries 1000000] [--batch 5000] [--checkpoint-every 1000]
 *                                     [--requests 1000] [--keep]
 *
 * 1. Builds a SQLite store (the server's schema, `group` durability as the server defaults to) with
 *    `--entries` realistic canonical audit entries (encodeAuditEntry), inserted directly in large
 *    transactions: setup, not measured.
 * 2. Integrator throughput: one `AuditLog.integrate()` from 0 to all entries, `--batch` leaves per
 *    transaction (the server's SEALPOST_AUDIT_INTEGRATE_BATCH default), on the one thread that runs
 *    both JavaScript and SQLite (better-sqlite3 is synchronous): one core.
 * 3. Checkpoint history: a signed checkpoint every `--checkpoint-every` entries (the server's
 *    SEALPOST_AUDIT_CHECKPOINT_ENTRIES default), as a server would have issued them, so verification
 *    checks a realistic number of signatures and consistency proofs. Then the latency of
 *    `AuditLog.checkpoint()` after one more entry (integrate + root + Ed25519 signature + insert +
 *    durable commit), and of the signature alone.
 * 4. `verifyAuditLog` over everything, in process and through the real CLI (`sealpost audit verify`).
 * 5. Proof generation: `--requests` random inclusion and consistency proofs through
 *    `AuditLog.inclusion` / `AuditLog.consistency` (what the HTTP routes call), p50/p99.
 *
 * Markdown on stdout, progress on stderr.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Sqlite from 'better-sqlite3';
import pino from 'pino';
import { openSqliteStore } from '../src/store/backends/sqlite/sqlite-backend.js';
import { LocalKeyring } from '../src/crypto/local-keyring.js';
import { AuditLog } from '../src/audit/audit-log.js';
import { encodeAuditEntry, type AuditEvent } from '../src/audit/audit-entry.js';
import { verifyAuditLog } from '../src/audit/audit-verifier.js';
import { formatCheckpoint, signNote } from '../src/audit/checkpoint.js';
import { treeRoot } from '../src/audit/merkle-proofs.js';
import { verifyConsistency, verifyInclusion } from '../src/audit/merkle.js';
import { codeInfo, machineInfo } from './machine-info.js';
import { DEFAULT_TENANT } from '../src/core/domain.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const ORIGIN = 'bench.example/sealpost/audit';

function parseArgs(argv: string[]) {
  const o = { entries: 1_000_000, batch: 5000, checkpointEvery: 1000, requests: 1000, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--entries') o.entries = num();
    else if (a === '--batch') o.batch = num();
    else if (a === '--checkpoint-every') o.checkpointEvery = num();
    else if (a === '--requests') o.requests = num();
    else if (a === '--keep') o.keep = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

const progress = (s: string) => process.stderr.write(`${s}\n`);
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
function quantiles(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50: q(0.5), p99: q(0.99), max: s[s.length - 1] };
}
const ms = (x: number) => (x < 1 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(0));
const int = (x: number) => Math.round(x).toLocaleString('en');

const ACTIONS = [
  ['notification.created', 'notification'],
  ['notification.scheduled', 'notification'],
  ['notification.sent', 'delivery'],
  ['notification.delivered', 'delivery'],
  ['notification.read', 'notification'],
  ['portal.verification_succeeded', 'access_link'],
  ['portal.verification_failed', 'access_link'],
  ['patient.updated', 'patient'],
] as const;

/** A realistic, PHI-free audit event (ids, pseudonymous patient ref, request id, IP, small details). */
function sampleEvent(i: number, t0: number, apiKeys: string[]): AuditEvent {
  const [action, targetType] = ACTIONS[i % ACTIONS.length];
  const worker = action === 'notification.sent' || action === 'notification.delivered';
  const portal = action.startsWith('portal.');
  return {
    tenantId: DEFAULT_TENANT,
    at: new Date(t0 + i * 37),
    actor: worker
      ? 'system:worker'
      : portal
        ? `patient-link:${randomBytes(6).toString('hex')}`
        : `api-key:${apiKeys[i % apiKeys.length]}`,
    action,
    outcome: action === 'portal.verification_failed' ? 'failure' : 'success',
    targetType,
    targetId: `0196${randomBytes(14).toString('hex')}`,
    patientRef: randomBytes(16).toString('base64url'),
    requestId: worker ? undefined : `req-${randomBytes(8).toString('hex')}`,
    sourceIp: worker ? undefined : `10.${i % 256}.${(i >> 8) % 256}.${(i >> 16) % 256}`,
    details: worker
      ? { deliveryId: `0196${randomBytes(14).toString('hex')}`, channel: i % 3 ? 'sms' : 'email', attempt: 1 }
      : undefined,
  };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-bench-audit-'));
  const dbPath = join(dir, 'sealpost.db');
  const machine = machineInfo(dir);
  const code = codeInfo();
  const { keyring } = LocalKeyring.openOrCreate(join(dir, 'keyring.json'));
  const store = openSqliteStore(dbPath, 'group');
  await store.migrate();
  const log = new AuditLog(
    store,
    keyring,
    { origin: ORIGIN, checkpointSeconds: 60, checkpointEntries: o.checkpointEvery, batch: o.batch },
    () => new Date(),
    pino({ level: 'silent' }),
  );

  // 1. Setup: entries straight into the table (a second connection, big transactions).
  const raw = new Sqlite(dbPath);
  raw.pragma('busy_timeout = 10000');
  raw.pragma('synchronous = NORMAL');
  const insert = raw.prepare(
    'insert into audit_entries (idx, tenant_id, at, action, actor, patient_ref, entry, leaf_hash) values (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const apiKeys = Array.from({ length: 5 }, () => randomBytes(8).toString('hex'));
  const t0 = Date.UTC(2025, 0, 1);
  let entryBytes = 0;
  let appended = 0;
  const append = (count: number) => {
    raw.transaction(() => {
      for (let k = 0; k < count; k++) {
        const e = sampleEvent(appended, t0, apiKeys);
        const { entry, leafHash } = encodeAuditEntry(e);
        entryBytes += Buffer.byteLength(entry);
        appended++;
        insert.run(appended, e.tenantId, e.at.getTime(), e.action, e.actor, e.patientRef ?? null, entry, leafHash);
      }
    })();
  };
  let t = nowMs();
  while (appended < o.entries) {
    append(Math.min(50_000, o.entries - appended));
    if (appended % 200_000 === 0 || appended === o.entries) progress(`appended ${int(appended)} entries`);
  }
  const setupSec = (nowMs() - t) / 1000;

  // 2. Integrator throughput.
  progress('integrating…');
  t = nowMs();
  const integrated = await log.integrate();
  const integrateSec = (nowMs() - t) / 1000;
  if (integrated !== o.entries) throw new Error(`integrated ${integrated}, expected ${o.entries}`);
  const nodes = (raw.prepare('select count(*) as n from audit_nodes').get() as { n: number }).n;

  // 3. The checkpoint history a server with these settings would have signed, then checkpoint latency.
  progress('signing the checkpoint history…');
  const { privateKey } = keyring.auditLogKey();
  const get = async (level: number, index: number) => (await store.read.auditLog.node(level, index))!;
  const history: { size: number; root: Buffer; note: string; created_at: number }[] = [];
  t = nowMs();
  for (let size = o.checkpointEvery; size <= o.entries; size += o.checkpointEvery) {
    const root = Buffer.from(await treeRoot(size, get));
    history.push({
      size,
      root,
      note: signNote(formatCheckpoint(ORIGIN, size, root), ORIGIN, privateKey),
      created_at: t0 + size * 37,
    });
  }
  const historySec = (nowMs() - t) / 1000;
  const putCp = raw.prepare(
    'insert into audit_checkpoints (size, root, note, created_at) values (@size, @root, @note, @created_at)',
  );
  raw.transaction(() => history.forEach((r) => putCp.run(r)))();

  const CHECKPOINT_SAMPLES = 200;
  const checkpointMs: number[] = [];
  for (let k = 0; k < CHECKPOINT_SAMPLES; k++) {
    append(1);
    const s = nowMs();
    const cp = await log.checkpoint();
    checkpointMs.push(nowMs() - s);
    if (cp.size !== appended) throw new Error('checkpoint did not cover the new entry');
  }
  const signMs: number[] = [];
  const someRoot = randomBytes(32);
  for (let k = 0; k < 2000; k++) {
    const s = nowMs();
    signNote(formatCheckpoint(ORIGIN, o.entries + k, someRoot), ORIGIN, privateKey);
    signMs.push(nowMs() - s);
  }
  const total = appended;
  const checkpoints = (raw.prepare('select count(*) as n from audit_checkpoints').get() as { n: number }).n;

  // 4. Verification, in process and through the CLI.
  progress('verifying in process…');
  t = nowMs();
  const report = await verifyAuditLog(store.read.auditLog, ORIGIN, keyring.auditLogKey().publicKey);
  const verifySec = (nowMs() - t) / 1000;
  if (!report.ok || report.entries !== total) throw new Error(`verify failed: ${JSON.stringify(report)}`);

  // 5. Proof latency through AuditLog (what the routes call), against the latest size.
  progress('proofs…');
  const inclusionMs: number[] = [];
  const consistencyMs: number[] = [];
  const latest = (await log.latest())!;
  for (let k = 0; k < o.requests; k++) {
    const index = randomInt(total);
    let s = nowMs();
    const p = await log.inclusion(index, total);
    inclusionMs.push(nowMs() - s);
    const from = 1 + randomInt(total);
    s = nowMs();
    const c = await log.consistency(from, total);
    consistencyMs.push(nowMs() - s);
    // Not timed: the proofs are real.
    if (k < 50) {
      if (!verifyInclusion(p.leafHash, index, total, p.proof, latest.root))
        throw new Error(`inclusion proof ${index} does not verify`);
      if (!verifyConsistency(from, total, c.root1, latest.root, c.proof))
        throw new Error(`consistency proof ${from} does not verify`);
    }
  }

  await store.close();
  raw.pragma('wal_checkpoint(TRUNCATE)');
  raw.close();
  const dbBytes = Number(execFileSync('du', ['-sb', dbPath], { encoding: 'utf8' }).split('\t')[0]);

  progress('verifying through the CLI…');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SEALPOST_')));
  t = nowMs();
  const cliOut = execFileSync(process.execPath, ['bin/sealpost.js', 'audit', 'verify', '--json'], {
    cwd: ROOT,
    env: { ...env, SEALPOST_DATA_DIR: dir, SEALPOST_AUDIT_ORIGIN: ORIGIN },
    encoding: 'utf8',
  });
  const cliSec = (nowMs() - t) / 1000;
  const cliReport = JSON.parse(cliOut.trim().split('\n').pop()!);
  if (!cliReport.ok) throw new Error(`CLI verify failed: ${cliOut}`);
  if (!o.keep) rmSync(dir, { recursive: true, force: true });
  else progress(`kept ${dir}`);

  const inc = quantiles(inclusionMs);
  const con = quantiles(consistencyMs);
  const cp = quantiles(checkpointMs);
  const sig = quantiles(signMs);
  const lines = [
    `## Audit log (${int(o.entries)} entries)`,
    '',
    `Code: ${code.commit}${code.uncommittedSrcFiles.length ? ` + uncommitted changes in ${code.uncommittedSrcFiles.join(', ')}` : ''}  `,
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.ramGiB} GiB RAM; ${machine.os}; Node ${machine.node}; SQLite ${machine.sqlite}  `,
    `Disk (temp dir): ${machine.tempDir.device} ${machine.tempDir.fsType} (${machine.tempDir.mountOptions}), rotational: ${machine.tempDir.rotational}; 4 KiB write + fdatasync p50 ${machine.fdatasyncMs.p50} ms, p99 ${machine.fdatasyncMs.p99} ms  `,
    `Entries: canonical JSON, ${Math.round(entryBytes / o.entries)} bytes on average; database ${(dbBytes / 2 ** 20).toFixed(0)} MiB with ${int(nodes)} stored subtree hashes; setup (direct inserts) ${setupSec.toFixed(1)} s`,
    '',
    '| Measure | Result |',
    '| --- | --- |',
    `| Integrator, ${int(o.entries)} entries from scratch, batches of ${int(o.batch)} (one thread = one core) | **${int(o.entries / integrateSec)} entries/s** (${integrateSec.toFixed(1)} s) |`,
    `| \`AuditLog.checkpoint()\` after one new entry (integrate + root + Ed25519 sign + insert + durable commit), ${CHECKPOINT_SAMPLES} samples | p50 ${ms(cp.p50)} ms, p99 ${ms(cp.p99)} ms |`,
    `| Ed25519 signed-note signature alone, 2,000 samples | p50 ${ms(sig.p50)} ms, p99 ${ms(sig.p99)} ms |`,
    `| Checkpoint history: ${int(history.length)} checkpoints (one per ${int(o.checkpointEvery)} entries) rooted and signed | ${historySec.toFixed(2)} s |`,
    `| \`verifyAuditLog\`, ${int(total)} entries + ${int(checkpoints)} checkpoints (signatures + consecutive consistency), in process | **${verifySec.toFixed(1)} s** (${int(total / verifySec)} entries/s) |`,
    `| \`sealpost audit verify --json\` (CLI, includes process start) | ${cliSec.toFixed(1)} s |`,
    `| Inclusion proof, random index, tree of ${int(total)}, ${int(o.requests)} requests via \`AuditLog.inclusion\` | p50 ${ms(inc.p50)} ms, p99 ${ms(inc.p99)} ms |`,
    `| Consistency proof, random from-size to ${int(total)}, ${int(o.requests)} requests via \`AuditLog.consistency\` | p50 ${ms(con.p50)} ms, p99 ${ms(con.p99)} ms |`,
    '',
  ];
  console.log(lines.join('\n'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
