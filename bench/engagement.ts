/**
 * What patient engagement costs, on the real server (SQLite, group commit, in this process), each
 * figure beside a reference measured in the same run (`npm run bench:engagement`):
 *
 * 1. Inbound SMS webhooks/s: signed Twilio inbound webhooks (`POST /v1/providers/twilio/inbound`)
 *    on 8 keep-alive HTTPS connections, one phase per kind: a reply code (`C`) answering each
 *    number's open reminder question, the keywords `STOP` then `START` (each a consent change with
 *    its ledger entry, audit entry and one confirmation text), and an unrecognised text (sealed for
 *    staff, answered with HELP once a day). The reference is the same route shape doing nothing: a
 *    signed status callback for an unknown message id (signature, form parsing, one lookup).
 *    Each number sends one text per phase. The SMS provider is an emulator of Twilio's API in this
 *    process; its CPU and the client's are in the figures (the reference carries the client's too).
 * 2. The consent and cap checks per delivery: the worker drains N routine SMS notifications to
 *    the dev outbox (a) with nothing to check (no consent record, caps, deduplication and digests
 *    off) and (b) with each patient holding four consent records (other channels and purposes) and
 *    caps, deduplication and digests on (limits high enough that every delivery goes out). CPU per
 *    delivery of the process, (b) − (a) is what the checks cost. Run twice, alternating.
 *
 *   npm run bench:engagement -- [--numbers 600] [--deliveries 2000] [--connections 8] [--json file]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Sqlite from 'better-sqlite3';
import { Pool } from 'undici';
import { selfSigned } from '../src/api/tls.js';
import { computeTwilioSignature } from '../src/channels/sms/twilio-signature.js';
import { DEFAULT_TENANT } from '../src/core/domain.js';
import { startTwilioEmulator, type TwilioEmulator } from '../test/helpers/twilio-emulator.js';
import { forEachFlag } from './args.js';
import { codeInfo, machineInfo } from './machine-info.js';
import { DbProbe, startSealpost, type SealpostTarget, type Tls } from './servers.js';

const o = { numbers: 600, deliveries: 2000, connections: 8, json: null as string | null };
forEachFlag(process.argv.slice(2), (flag, value, num) => {
  if (flag === '--numbers') o.numbers = Math.min(1000, Math.round(num(1)));
  else if (flag === '--deliveries') o.deliveries = Math.round(num(1));
  else if (flag === '--connections') o.connections = Math.round(num(1));
  else if (flag === '--json') o.json = value();
  else throw new Error(`unknown option ${flag}`);
});

const SID = 'AC' + '0'.repeat(32);
const TOKEN = 'bench-twilio-auth-token';
const PUBLIC_URL = 'https://localhost';
const OFF = { SEALPOST_FREQUENCY_CAPS: 'off', SEALPOST_DEDUP_WINDOW: 'off', SEALPOST_DIGEST_WINDOW: 'off' };
const ctx = { tenantId: DEFAULT_TENANT, actor: 'bench', requestId: 'bench' };
const log = (s: string) => process.stderr.write(`${s}\n`);

/** Fictional NANP numbers (555-0100 to 555-0199) in ten area codes: up to 1,000 distinct mobiles. */
function number(i: number): string {
  const areas = [201, 202, 203, 205, 206, 207, 208, 209, 210, 212];
  return `+1${areas[Math.floor(i / 100) % areas.length]}5550${100 + (i % 100)}`;
}

async function until(cond: () => boolean | Promise<boolean>, timeoutSec: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutSec * 1000;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface PhaseRow {
  phase: string;
  items: number;
  perSec: number;
  cpuUsPerItem: number;
}

async function timed(phase: string, items: number, body: () => Promise<void>): Promise<PhaseRow> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await body();
  const sec = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const row = { phase, items, perSec: items / sec, cpuUsPerItem: (c.user + c.system) / items };
  log(
    `  ${phase}: ${items} in ${sec.toFixed(2)} s, ${Math.round(row.perSec)}/s, ${Math.round(row.cpuUsPerItem)} µs CPU each`,
  );
  return row;
}

/** Signed form posts to the Twilio routes, `connections` at a time over keep-alive HTTPS. */
async function post(pool: Pool, path: string, forms: Record<string, string>[], connections: number) {
  let next = 0;
  const worker = async () => {
    while (next < forms.length) {
      const form = forms[next++]!;
      const res = await pool.request({
        method: 'POST',
        path,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': computeTwilioSignature(TOKEN, `${PUBLIC_URL}${path}`, form),
        },
        body: new URLSearchParams(form).toString(),
      });
      await res.body.text();
      if (res.statusCode >= 300) throw new Error(`${path}: HTTP ${res.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
}

async function registerPatients(t: SealpostTarget, ids: string[], withNumbers: boolean, email = false) {
  const patients = t.app.services.patients;
  for (const [i, id] of ids.entries())
    await patients.upsert(ctx, id, {
      name: { given: ['Bench'], family: `Patient${i}` },
      birthDate: '1970-01-01',
      telecom: [
        ...(withNumbers ? [{ system: 'sms' as const, value: number(i), rank: 1 }] : []),
        ...(email ? [{ system: 'email' as const, value: `patient${i}@example.test`, rank: 2 }] : []),
      ],
      language: i % 5 === 0 ? 'es' : 'en',
      timeZone: 'America/New_York',
    } as never);
}

async function inbound(tls: Tls, twilio: TwilioEmulator): Promise<PhaseRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-bench-inbound-'));
  const t = await startSealpost(dir, 'group', tls, {
    ...OFF,
    SEALPOST_PUBLIC_URL: PUBLIC_URL,
    SEALPOST_SMS_PROVIDER: 'twilio',
    SEALPOST_TWILIO_BASE_URL: twilio.baseUrl,
    SEALPOST_TWILIO_ACCOUNT_SID: SID,
    SEALPOST_TWILIO_AUTH_TOKEN: TOKEN,
    SEALPOST_TWILIO_FROM: '+12025550100',
    SEALPOST_REMINDER_OFFSETS: '1h',
  });
  const pool = new Pool(t.url, { connections: o.connections, connect: { ca: tls.cert, servername: 'localhost' } });
  try {
    const n = o.numbers;
    const ids = Array.from({ length: n }, (_, i) => `bench-in-${i}`);
    log(`inbound: ${n} patients, each with an appointment whose SMS reminder asks its question`);
    await registerPatients(t, ids, true);
    // Each appointment's one reminder (offset 1 h) is due a few seconds from now.
    const start = new Date(Date.now() + 3_600_000 + 3_000).toISOString();
    for (const [i, id] of ids.entries())
      await t.app.services.appointments.upsert(ctx, `bench-appt-${i}`, { patientId: id, start } as never);
    t.app.worker.start();
    await until(() => twilio.messages.length >= n, 120, 'the reminders');
    await t.app.worker.stop();
    const db = new Sqlite(t.dbPath, { readonly: true, fileMustExist: true });
    const questions = () =>
      (db.prepare('select count(*) as n from reply_questions where answered_at is null').get() as { n: number }).n;
    await until(() => questions() >= n, 30, 'the open questions');
    // Each text carries its own MessageSid, as Twilio's do (replays are recognised by it).
    let sid = 0;
    const from = (i: number) => ({
      From: number(i),
      To: '+12025550100',
      MessageSid: `SM${(++sid).toString(16).padStart(32, '0')}`,
    });
    const each = (f: (i: number) => Record<string, string>) => Array.from({ length: n }, (_, i) => f(i));
    const inboundPath = '/v1/providers/twilio/inbound';
    const rows: PhaseRow[] = [];
    const ref = each((i) => ({ MessageSid: `SM${String(i).padStart(32, '0')}`, MessageStatus: 'delivered' }));
    // Warm-up (TLS sessions, JIT), not reported.
    await post(pool, '/v1/providers/twilio/status', ref, o.connections);
    rows.push(
      await timed('reference: status callback, unknown id', n, () =>
        post(pool, '/v1/providers/twilio/status', ref, o.connections),
      ),
    );
    const sent = twilio.messages.length;
    rows.push(
      await timed('reply C (appointment confirmed)', n, () =>
        post(
          pool,
          inboundPath,
          each((i) => ({ ...from(i), Body: 'C' })),
          o.connections,
        ),
      ),
    );
    rows.push(
      await timed('keyword STOP', n, () =>
        post(
          pool,
          inboundPath,
          each((i) => ({ ...from(i), Body: 'STOP' })),
          o.connections,
        ),
      ),
    );
    rows.push(
      await timed('keyword START', n, () =>
        post(
          pool,
          inboundPath,
          each((i) => ({ ...from(i), Body: 'Start' })),
          o.connections,
        ),
      ),
    );
    rows.push(
      await timed('unrecognised text', n, () =>
        post(
          pool,
          inboundPath,
          each((i) => ({ ...from(i), Body: 'Is parking free?' })),
          o.connections,
        ),
      ),
    );
    // Every phase answers each number once: an acknowledgement, two confirmations, one HELP.
    await until(() => twilio.messages.length >= sent + 4 * n, 30, 'the answers');
    log(`  answers sent: ${twilio.messages.length - sent}; open questions left: ${questions()}`);
    db.close();
    return rows;
  } finally {
    await pool.close();
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Drains `deliveries` routine SMS notifications to the dev outbox; CPU µs per delivery of this process. */
async function drain(tls: Tls, checks: boolean): Promise<PhaseRow> {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-bench-drain-'));
  const env: Record<string, string> = checks
    ? { SEALPOST_FREQUENCY_CAPS: 'sms:1000/7000', SEALPOST_DEDUP_WINDOW: '24h', SEALPOST_DIGEST_WINDOW: '30m' }
    : OFF;
  const t = await startSealpost(dir, 'group', tls, env);
  try {
    const patients = 200;
    const ids = Array.from({ length: patients }, (_, i) => `bench-d-${i}`);
    await registerPatients(t, ids, true, true);
    if (checks) {
      // Four decisions per patient through the API (other channels and purposes: SMS follow-ups still go).
      const consents = [
        { channel: 'email', purpose: 'billing', decision: 'deny' },
        { channel: 'email', decision: 'permit' },
        { channel: 'push', purpose: 'results', decision: 'deny' },
        { channel: 'sms', purpose: 'billing', decision: 'deny' },
      ];
      const pool = new Pool(t.url, { connections: 1, connect: { ca: tls.cert, servername: 'localhost' } });
      try {
        for (const id of ids) {
          const res = await pool.request({
            method: 'PUT',
            path: `/v1/patients/${id}/consents`,
            headers: { 'content-type': 'application/json', authorization: `Bearer ${t.apiKey}` },
            body: JSON.stringify({ consents }),
          });
          await res.body.text();
          if (res.statusCode !== 200) throw new Error(`consents: HTTP ${res.statusCode}`);
        }
      } finally {
        await pool.close();
      }
    }
    for (let i = 0; i < o.deliveries; i++)
      await t.app.services.notifications.create(ctx, {
        type: 'follow_up',
        patientId: ids[i % patients]!,
        channels: ['sms'],
        // Distinct content: deduplication lets every one go.
        data: { reason: `check-up ${i}`, dueDate: '2031-01-01' },
      } as never);
    const probe = new DbProbe(t.dbPath);
    const base = probe.maxOutboxId();
    const label = checks ? 'drain, with consent and cap checks' : 'drain, nothing to check (reference)';
    const row = await timed(label, o.deliveries, async () => {
      t.app.worker.start();
      await until(() => probe.outboxReached(base, o.deliveries), 300, 'the drain');
    });
    await t.app.worker.stop();
    probe.close();
    return row;
  } finally {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'sealpost-bench-engagement-'));
const tls = await selfSigned();
const twilio = await startTwilioEmulator({ accountSid: SID, authToken: TOKEN });
try {
  const machine = machineInfo(tmp);
  const inboundRows = await inbound(tls, twilio);
  log('drain: 200 patients, routine SMS follow-ups to the dev outbox');
  const drainRows: PhaseRow[] = [];
  for (let round = 0; round < 2; round++) drainRows.push(await drain(tls, false), await drain(tls, true));
  const ref = inboundRows[0]!;
  const plain = drainRows.filter((_, i) => i % 2 === 0);
  const checked = drainRows.filter((_, i) => i % 2 === 1);
  const mean = (rs: PhaseRow[]) => rs.reduce((s, r) => s + r.cpuUsPerItem, 0) / rs.length;
  const lines = [
    `Machine: ${machine.cpuModel}, ${machine.cores} cores; Node ${process.version}; code ${codeInfo().commit}`,
    '',
    '| inbound webhook | per s | CPU µs each | ÷ reference CPU |',
    '|---|---:|---:|---:|',
    ...inboundRows.map(
      (r) =>
        `| ${r.phase} | ${Math.round(r.perSec)} | ${Math.round(r.cpuUsPerItem)} | ${(r.cpuUsPerItem / ref.cpuUsPerItem).toFixed(2)}× |`,
    ),
    '',
    '| drain | per s | CPU µs per delivery |',
    '|---|---:|---:|',
    ...drainRows.map((r) => `| ${r.phase} | ${Math.round(r.perSec)} | ${Math.round(r.cpuUsPerItem)} |`),
    '',
    `Consent and cap checks: ${Math.round(mean(checked) - mean(plain))} µs per delivery ` +
      `(${(mean(checked) / mean(plain)).toFixed(2)}× the plain drain, means of ${plain.length} rounds).`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (o.json) writeFileSync(o.json, JSON.stringify({ machine, inbound: inboundRows, drain: drainRows }, null, 2));
} finally {
  await twilio.close();
  rmSync(tmp, { recursive: true, force: true });
}
