import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { eventually, freePort, httpsJson } from '../helpers/sealpost-harness.js';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../../src/crypto/envelope-cipher.js';
import { idempotencyKeyRef } from '../../src/core/context.js';
import { seededRandom } from '../helpers/seeded-random.js';

/**
 * Promise 3 ("a request answered 2xx survives kill -9 at any instant") against the real process:
 * `node bin/sealpost.js serve` is SIGKILLed in the middle of a load of concurrent creates, and again
 * in the middle of sending, then restarted on the same data directory.
 *
 * What kill -9 does and does not prove: the kernel keeps whatever the process had written, so this
 * catches answering before the commit, state that lives only in memory (queues, batches, leases),
 * commits that are not atomic, and recovery that does not resume work. It cannot catch a missing
 * fsync: that needs power-loss simulation (e.g. a dm-flakey/LazyFS disk), not a process kill.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Where the kill lands (after how many 202s) comes from a seeded PRNG: the same seed, the same kill
 * point. SEALPOST_CRASH_SEED replays another; the seed and the kill point are in the test's name and
 * printed when the kill happens.
 */
const SEED = Number(process.env.SEALPOST_CRASH_SEED ?? 0xc7a54);

const PATIENTS = ['crash-p0', 'crash-p1', 'crash-p2', 'crash-p3'];
const FINAL = new Set(['sent', 'delivered', 'read']);

interface Reply {
  status: number;
  body: any;
  text: string;
}

interface CreatedBody {
  id: string;
  status: string;
  deliveries: { id: string; channel: string; status: string; runAt: string }[];
}

interface Server {
  proc: ChildProcess;
  exited: Promise<void>;
  agent: Agent;
  url: string;
  apiKey: string;
  ca: string;
}

interface Installation {
  dataDir: string;
  port: number;
  env: Record<string, string>;
}

/** The number of 202s after which the n-th load is killed: 80–199, from the seed. */
function killPoint(n: number): number {
  const r = seededRandom(SEED + n);
  return 80 + Math.floor(r() * 120);
}

const live = new Set<Server>();
const dirs: string[] = [];

afterEach(async () => {
  // A failed assertion must not leave a server running into the next test.
  for (const s of [...live]) await kill(s);
});

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function newInstallation(env: Record<string, string>): Promise<Installation> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-crash-'));
  dirs.push(dataDir);
  return freePort().then((port) => ({ dataDir, port, env }));
}

/** Starts the real server as a child process and waits until it is ready (/readyz over TLS: database connected, bootstrap key written). */
async function start(node: Installation, extraEnv: Record<string, string> = {}): Promise<Server> {
  const env: Record<string, string> = {};
  // Hermetic: nothing from the outer environment may change what is under test.
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('SEALPOST_') && k !== 'NODE_OPTIONS') env[k] = v;
  Object.assign(env, {
    SEALPOST_DATA_DIR: node.dataDir,
    SEALPOST_HOST: '127.0.0.1',
    SEALPOST_PORT: String(node.port),
    SEALPOST_PUBLIC_URL: `https://127.0.0.1:${node.port}`,
    SEALPOST_QUIET_HOURS: 'off',
    // Frequency caps, deduplication and digests would hold back some of the many nudges per patient.
    SEALPOST_FREQUENCY_CAPS: 'off',
    SEALPOST_DEDUP_WINDOW: 'off',
    SEALPOST_DIGEST_WINDOW: 'off',
    SEALPOST_POLL_MS: '50',
    ...node.env,
    ...extraEnv,
  });
  const log = openSync(serverLog(node), 'a');
  const proc = spawn(process.execPath, ['bin/sealpost.js', 'serve'], { cwd: ROOT, env, stdio: ['ignore', log, log] });
  closeSync(log);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `https://127.0.0.1:${node.port}`;
  const certFile = join(node.dataDir, 'tls-cert.pem');
  const ca = await eventually(
    async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`server exited early:\n${tail(node)}`);
      if (!existsSync(certFile)) return null;
      const cert = readFileSync(certFile, 'utf8');
      const agent = new Agent({ keepAlive: false, ca: cert });
      try {
        const r = await call({ agent, url } as Server, 'GET', '/readyz');
        return r.status === 200 ? cert : null;
      } catch {
        return null;
      } finally {
        agent.destroy();
      }
    },
    'the server to be ready',
    30_000,
  );
  const apiKey = readFileSync(join(node.dataDir, 'bootstrap-api-key'), 'utf8').trim();
  const server: Server = { proc, exited, url, apiKey, ca, agent: new Agent({ keepAlive: true, maxSockets: 64, ca }) };
  live.add(server);
  return server;
}

/** kill -9: no shutdown hook, no close, no checkpoint runs. */
async function kill(s: Server): Promise<void> {
  if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
  await s.exited;
  s.agent.destroy();
  live.delete(s);
}

/** A clean shutdown (SIGTERM), so the database can be inspected after the server closed it. */
async function stop(s: Server): Promise<void> {
  if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGTERM');
  await s.exited;
  s.agent.destroy();
  live.delete(s);
}

const serverLog = (node: Installation) => join(node.dataDir, 'server.log');
const tail = (node: Installation) =>
  existsSync(serverLog(node)) ? readFileSync(serverLog(node), 'utf8').split('\n').slice(-20).join('\n') : '';

function call(
  s: Pick<Server, 'agent' | 'url'> & Partial<Server>,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return httpsJson(s.url, s.agent, method, path, body, {
    ...(s.apiKey ? { authorization: `Bearer ${s.apiKey}` } : {}),
    ...headers,
  });
}

async function registerPatients(s: Server): Promise<void> {
  for (const [i, id] of PATIENTS.entries()) {
    const r = await call(s, 'PUT', `/v1/patients/${id}`, {
      name: { given: [`Crash${i}`], family: 'Test' },
      birthDate: '1980-04-02',
      telecom: [
        { system: 'sms', value: '+14155552671', rank: 1 },
        { system: 'email', value: `crash${i}@example.com`, rank: 2 },
      ],
      timeZone: 'America/New_York',
    });
    expect(r.status, r.text).toBe(201);
  }
}

interface Attempt {
  key: string;
  body: Record<string, unknown>;
  outcome: 'unsent' | 'acked' | 'errored' | 'rejected';
  status?: number;
  answer?: CreatedBody;
  error?: string;
}

/** Each request has its own Idempotency-Key and a marker in its data, so no two bodies are alike. */
function attempts(n: number, run: string): Attempt[] {
  return Array.from({ length: n }, (_, i) => {
    const marker = `datamark-${run}-${i}`;
    const kind = i % 3;
    const data =
      kind === 0
        ? { testName: `Lipid panel ${marker}` }
        : kind === 1
          ? { medicationName: `Metformin ${marker}`, dosage: '500 mg' }
          : { medicationName: `Lisinopril ${marker}`, pharmacyName: 'Main St Pharmacy' };
    const type = ['test_result_ready', 'medication_reminder', 'prescription_ready'][kind];
    const body: Record<string, unknown> = { type, patientId: PATIENTS[i % PATIENTS.length], data };
    // Every fourth one fans out to two channels: two delivery rows in the same transaction.
    if (i % 4 === 0) body.channels = ['sms', 'email'];
    // Each installation is new: the run and the index make the key unique.
    return { key: `crash-${run}-${i}`, body, outcome: 'unsent' };
  });
}

/**
 * Sends `list` with `lanes` requests in flight. When `onAck` returns true (after some number of 202s,
 * not after some time) the server is killed at once, with the other lanes' requests mid-flight.
 */
async function load(s: Server, list: Attempt[], lanes: number, onAck?: (acked: number) => boolean): Promise<void> {
  let next = 0;
  let acked = 0;
  let killed = false;
  const lane = async () => {
    while (!killed && next < list.length) {
      const a = list[next++];
      try {
        const r = await call(s, 'POST', '/v1/notifications', a.body, { 'idempotency-key': a.key });
        a.status = r.status;
        if (r.status === 202) {
          a.outcome = 'acked';
          a.answer = r.body as CreatedBody;
          acked++;
          if (!killed && onAck?.(acked)) {
            killed = true;
            s.proc.kill('SIGKILL');
          }
        } else {
          a.outcome = 'rejected';
          a.error = r.text;
        }
      } catch (e) {
        a.outcome = 'errored';
        a.error = (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
}

/**
 * Reads the database as the killed process left it (read-only: WAL and -shm stay as they are): the
 * notification id recorded under each of `keys`. Keys are stored as keyed hashes, so each is hashed
 * with the installation's keyring as the server does.
 */
function committedKeys(dataDir: string, keys: string[]): Map<string, string> {
  const { keyring } = LocalKeyring.openOrCreate(join(dataDir, 'keyring.json'));
  const cipher = new EnvelopeCipher(keyring);
  const db = new Database(join(dataDir, 'sealpost.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT key, response FROM idempotency_keys').all() as { key: string; response: string }[];
    const byRef = new Map(rows.map((r) => [r.key, (JSON.parse(r.response) as CreatedBody).id]));
    return new Map(
      keys.flatMap((k) => {
        const id = byRef.get(idempotencyKeyRef({ cipher }, 'default', k));
        return id ? [[k, id] as const] : [];
      }),
    );
  } finally {
    db.close();
  }
}

/** Runs `fn` over `items` with `lanes` calls in flight. */
async function inParallel<T>(items: T[], lanes: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/** Polls each notification until every one of its deliveries has gone out; returns the last views. */
async function drained(s: Server, ids: string[], what: string): Promise<Map<string, any>> {
  const views = new Map<string, any>();
  const pending = new Set(ids);
  await eventually(
    async () => {
      await inParallel([...pending], 16, async (id) => {
        const r = await call(s, 'GET', `/v1/notifications/${id}`);
        expect(r.status, `notification ${id} must exist: ${r.text}`).toBe(200);
        views.set(id, r.body);
        const ds = r.body.deliveries as { status: string }[];
        if (ds.length > 0 && ds.every((d) => FINAL.has(d.status))) pending.delete(id);
      });
      return pending.size === 0;
    },
    `${what}: ${pending.size} notifications still have deliveries that have not gone out`,
    30_000,
  );
  return views;
}

async function outbox(s: Server): Promise<{ deliveryId: string; body: string }[]> {
  const all: { deliveryId: string; body: string }[] = [];
  let cursor: string | null = null;
  do {
    const r = await call(s, 'GET', `/v1/dev/outbox?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    expect(r.status).toBe(200);
    all.push(...r.body.items);
    cursor = r.body.nextCursor;
  } while (cursor);
  return all;
}

/** Every delivery id of `views` is in the outbox exactly once, and no delivery id appears twice at all. */
function expectDeliveredExactlyOnce(views: Map<string, any>, items: { deliveryId: string }[]): void {
  const counts = new Map<string, number>();
  for (const it of items) counts.set(it.deliveryId, (counts.get(it.deliveryId) ?? 0) + 1);
  expect(
    [...counts].filter(([, n]) => n > 1),
    'delivery ids sent twice',
  ).toEqual([]);
  const missing: string[] = [];
  for (const v of views.values()) {
    expect(v.deliveries.length, `notification ${v.id} has no delivery`).toBeGreaterThan(0);
    for (const d of v.deliveries) if (counts.get(d.id) !== 1) missing.push(`${v.id}/${d.id}:${d.status}`);
  }
  expect(missing, 'deliveries that never reached the outbox').toEqual([]);
}

/** After a clean stop: the file is consistent and no row exists without the rows of its transaction. */
function expectNoHalfWrittenState(dataDir: string): void {
  const db = new Database(join(dataDir, 'sealpost.db'), { readonly: true, fileMustExist: true });
  try {
    const one = <T>(sql: string) => db.prepare(sql).pluck().get() as T;
    expect(one<string>('PRAGMA integrity_check')).toBe('ok');
    expect(
      one<number>(
        'SELECT count(*) FROM notifications n WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id)',
      ),
      'notifications without a delivery',
    ).toBe(0);
    expect(
      one<number>(
        'SELECT count(*) FROM deliveries d WHERE NOT EXISTS (SELECT 1 FROM notifications n WHERE n.id = d.notification_id)',
      ),
      'deliveries without a notification',
    ).toBe(0);
    expect(
      one<number>(
        'SELECT count(*) FROM dev_outbox o WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = o.delivery_id)',
      ),
      'outbox rows without a delivery',
    ).toBe(0);
    // Every notification here was created under an Idempotency-Key: record, row and audit leaf commit together.
    const notifications = one<number>('SELECT count(*) FROM notifications');
    expect(one<number>('SELECT count(*) FROM idempotency_keys')).toBe(notifications);
    expect(one<number>("SELECT count(*) FROM audit_entries WHERE action = 'notification.created'")).toBe(notifications);
    const answers = db.prepare('SELECT response FROM idempotency_keys').pluck().all() as string[];
    const exists = db.prepare('SELECT 1 FROM notifications WHERE id = ?').pluck();
    expect(
      answers.map((a) => (JSON.parse(a) as CreatedBody).id).filter((id) => !exists.get(id)),
      'idempotency answers naming a missing notification',
    ).toEqual([]);
  } finally {
    db.close();
  }
}

describe.each([
  { durability: 'full' as const, killAfter: killPoint(0) },
  { durability: 'group' as const, killAfter: killPoint(1) },
])(
  `with SEALPOST_SQLITE_DURABILITY=$durability, a server killed with SIGKILL under concurrent load after $killAfter answers (seed ${SEED})`,
  ({ durability, killAfter }) => {
    it('keeps every notification it answered 202, delivers each exactly once after restart, and lets every unanswered request be retried safely', async () => {
      const node = await newInstallation({ SEALPOST_SQLITE_DURABILITY: durability, SEALPOST_LEASE_MS: '2000' });
      let s = await start(node);
      await registerPatients(s);

      const list = attempts(480, durability);
      // Somewhere in the middle of the load, decided by answers, not by a clock (killPoint).
      console.log(`crash test (seed ${SEED}): durability ${durability}, SIGKILL after ${killAfter} answers`);
      await load(s, list, 24, (acked) => acked >= killAfter);
      await kill(s);

      const acked = list.filter((a) => a.outcome === 'acked');
      const errored = list.filter((a) => a.outcome === 'errored');
      expect(
        list.filter((a) => a.outcome === 'rejected').map((a) => `${a.status} ${a.error}`),
        'non-202 answers before the kill',
      ).toEqual([]);
      expect(acked.length).toBeGreaterThanOrEqual(killAfter);
      // The kill must have landed with requests in flight, or this proves nothing.
      expect(errored.length, 'requests cut off by the kill').toBeGreaterThan(0);

      // What the dead process left on disk already holds every answered request.
      const onDisk = committedKeys(
        node.dataDir,
        list.map((a) => a.key),
      );
      expect(
        acked.filter((a) => onDisk.get(a.key) !== a.answer!.id).map((a) => a.key),
        'acknowledged but not on disk',
      ).toEqual([]);

      s = await start(node);

      // A replay of an acknowledged request returns the first answer, byte for byte the same body.
      await inParallel(acked, 16, async (a) => {
        const r = await call(s, 'POST', '/v1/notifications', a.body, { 'idempotency-key': a.key });
        expect(r.status, r.text).toBe(202);
        expect(r.body).toEqual(a.answer);
      });
      // An unacknowledged request either committed (the replay returns that notification) or did not
      // (it is created now); a 422 or a 5xx would mean a half-written idempotency record.
      const retried: string[] = [];
      await inParallel(errored, 16, async (a) => {
        const r = await call(s, 'POST', '/v1/notifications', a.body, { 'idempotency-key': a.key });
        expect(r.status, `${a.key}: ${r.text}`).toBe(202);
        const committedId = onDisk.get(a.key);
        if (committedId)
          expect(r.body.id, 'a committed but unanswered request must replay its original answer').toBe(committedId);
        retried.push(r.body.id);
      });

      const ids = [...acked.map((a) => a.answer!.id), ...retried];
      expect(new Set(ids).size, 'two requests answered with the same notification').toBe(ids.length);
      const views = await drained(s, ids, 'drain after restart');
      expectDeliveredExactlyOnce(views, await outbox(s));
      for (const a of acked) {
        const v = views.get(a.answer!.id);
        expect(v.deliveries.map((d: { id: string }) => d.id)).toEqual(
          expect.arrayContaining(a.answer!.deliveries.map((d) => d.id)),
        );
      }

      await stop(s);
      expectNoHalfWrittenState(node.dataDir);
      // The real process logs to stdout; nothing of the notification data may be in it, crash or not.
      expect(readFileSync(serverLog(node), 'utf8')).not.toContain('datamark-');
    }, 120_000);
  },
);

describe('a server killed with SIGKILL while deliveries are being sent', () => {
  it('returns the interrupted deliveries to the queue when their leases expire and sends every acknowledged notification after restart', async () => {
    const node = await newInstallation({ SEALPOST_LEASE_MS: '1000' });
    // Build a backlog with the worker off, so the kill below lands in sending, not in accepting.
    let s = await start(node, { SEALPOST_WORKER: 'false' });
    await registerPatients(s);
    const list = attempts(400, 'sending');
    await load(s, list, 24);
    expect(list.filter((a) => a.outcome !== 'acked').map((a) => `${a.outcome} ${a.status} ${a.error}`)).toEqual([]);
    await stop(s);
    const total = list.reduce((n, a) => n + a.answer!.deliveries.length, 0);

    // Kill while the worker holds leases. If an attempt happens to land between two batches (no
    // delivery in `sending`), it proves nothing about lease recovery: try again on the same backlog.
    let interrupted: { id: string }[] = [];
    for (let attempt = 0; attempt < 5 && interrupted.length === 0; attempt++) {
      s = await start(node);
      const db = new Database(join(node.dataDir, 'sealpost.db'), { readonly: true, fileMustExist: true });
      try {
        const progress = db.prepare(
          "SELECT (SELECT count(*) FROM dev_outbox) AS sent, (SELECT count(*) FROM deliveries WHERE status = 'sending') AS sending",
        );
        await eventually(async () => {
          const p = progress.get() as { sent: number; sending: number };
          return (p.sent > 0 && p.sending > 0) || p.sent >= total;
        }, 'the worker to be mid-way through the backlog');
      } finally {
        db.close();
      }
      await kill(s);
      const after = new Database(join(node.dataDir, 'sealpost.db'), { readonly: true, fileMustExist: true });
      try {
        interrupted = after.prepare("SELECT id FROM deliveries WHERE status = 'sending'").all() as { id: string }[];
      } finally {
        after.close();
      }
    }
    expect(interrupted.length, 'deliveries caught in `sending` by the kill').toBeGreaterThan(0);

    s = await start(node);
    const views = await drained(
      s,
      list.map((a) => a.answer!.id),
      'drain after lease expiry',
    );
    expectDeliveredExactlyOnce(views, await outbox(s));
    const byDelivery = new Map<string, any>();
    for (const v of views.values()) for (const d of v.deliveries) byDelivery.set(d.id, d);
    for (const { id } of interrupted) {
      // Claimed once by the killed process, then again after its lease expired.
      expect(byDelivery.get(id)?.attempts, `interrupted delivery ${id}`).toBeGreaterThanOrEqual(2);
      expect(FINAL.has(byDelivery.get(id)?.status)).toBe(true);
    }
    expect(readFileSync(serverLog(node), 'utf8')).toContain('released deliveries whose lease expired');

    await stop(s);
    expectNoHalfWrittenState(node.dataDir);
  }, 120_000);
});
