import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { hermeticEnv, readBootstrapKey, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { eventually, samplePatient } from '../helpers/sealpost-harness.js';

/**
 * Two real `sealpost serve` processes on one PostgreSQL database, behind a client that spreads its
 * requests over both (as a load balancer would): they share the work, send each delivery once,
 * serve every route, keep one audit integrator at a time, and when one is killed with SIGKILL under
 * load the other finishes its leased deliveries after the lease expires. Deliveries go to a real
 * HTTP webhook receiver that counts every attempt by its Idempotency-Key (the delivery id).
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'multi-node-webhook-secret';
const FINAL = ['sent', 'delivered'];

describe.skipIf(!BACKENDS.includes('postgres'))('several nodes on one database [postgres]', () => {
  let db: TestDatabase;
  let receiver: Server;
  let hookUrl = '';
  const received = new Map<string, number>();
  /** While set, the receiver answers no delivery until the test opens it (deliveries stay mid-send). */
  let gate: { opened: Promise<void>; open: () => void } | null = null;
  const dirs = [
    mkdtempSync(join(tmpdir(), 'sealpost-node-a-')),
    mkdtempSync(join(tmpdir(), 'sealpost-node-b-')),
    mkdtempSync(join(tmpdir(), 'sealpost-node-c-')),
  ];
  let a: ServerProcess;
  let b: ServerProcess;
  let apiKey = '';

  const nodeEnv = (extra: Record<string, string> = {}) => ({
    SEALPOST_DATABASE_URL: db.url,
    SEALPOST_KEYRING_FILE: join(dirs[0], 'keyring.json'),
    SEALPOST_WEBHOOK_PROVIDER: 'http',
    SEALPOST_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', // the receiver is on loopback: allowed explicitly
    SEALPOST_WEBHOOK_SECRET: SECRET,
    SEALPOST_LEASE_MS: '3000',
    SEALPOST_AUDIT_CHECKPOINT_SECONDS: '1',
    // Every node signs checkpoints under the same origin (by default it comes from the public URL).
    SEALPOST_AUDIT_ORIGIN: 'multi-node.test/sealpost/audit',
    SEALPOST_LOG_LEVEL: 'info',
    ...extra,
  });

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    receiver = createServer((req, res) => {
      const key = String(req.headers['idempotency-key'] ?? '');
      req.resume().on('end', async () => {
        await gate?.opened;
        received.set(key, (received.get(key) ?? 0) + 1);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
    a = await startServerProcess({ dataDir: dirs[0], env: nodeEnv(), apiKey: () => apiKey });
    apiKey = readBootstrapKey(dirs[0]);
    // The second node shares the database and the keyring, nothing else (its own data directory).
    b = await startServerProcess({ dataDir: dirs[1], env: nodeEnv(), apiKey: () => apiKey });
    for (let i = 0; i < 4; i++) {
      const r = await (i % 2 ? b : a).request(
        'PUT',
        `/v1/patients/mn-${i}`,
        samplePatient({ telecom: [{ system: 'webhook', value: hookUrl, rank: 1 }] }),
      );
      expect(r.status).toBeLessThan(300);
    }
  }, 180_000);

  afterAll(async () => {
    for (const n of [a, b]) await n?.kill();
    await new Promise<void>((r) => receiver?.close(() => r()));
    await db?.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }, 60_000);

  const create = (node: ServerProcess, key: string, i: number) =>
    node.request(
      'POST',
      '/v1/notifications',
      { type: 'follow_up', patientId: `mn-${i % 4}`, data: { reason: 'x', dueDate: '2030-01-01' } },
      { 'idempotency-key': key },
    );

  const deliveries = () =>
    db.query<{ id: string; status: string; attempts: number; notification_id: string }>(
      'select id, status, attempts, notification_id from deliveries',
    );

  it('refuses to start a node whose keyring differs from the one the database was written with', async () => {
    const c = await startServerProcess({
      dataDir: dirs[2],
      env: { ...nodeEnv(), SEALPOST_KEYRING_FILE: join(dirs[2], 'keyring.json') },
      waitReady: false,
    }).catch((e: Error) => e);
    if (!(c instanceof Error)) expect(await c.exited).toBe(1);
    await eventually(
      async () => /SP_CRYPTO_KEYRING_MISMATCH/.test(c instanceof Error ? c.message : c.log()),
      'the mismatch to be reported',
    );
  }, 120_000);

  it('shares the work: both nodes serve every route, each delivery is sent exactly once, and both workers send', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await create(i % 2 ? b : a, `share-${i}`, i);
      expect(r.status).toBe(202);
      ids.push(r.body.id);
    }
    // Read back through the other node than the one that accepted it.
    for (const [i, id] of ids.entries())
      expect((await (i % 2 ? a : b).request('GET', `/v1/notifications/${id}`)).status).toBe(200);
    await eventually(
      async () => (await deliveries()).every((d) => FINAL.includes(d.status)),
      'every delivery to be sent',
      30_000,
    );
    const all = await deliveries();
    expect(all).toHaveLength(40);
    for (const d of all) expect(received.get(d.id)).toBe(1);
    const workers = await db.query<{ actor: string }>(
      "select distinct actor from audit_entries where action like 'delivery.%' and actor like 'system:worker:%'",
    );
    expect(workers.length).toBe(2);
  }, 120_000);

  it('loses nothing when one node is killed with SIGKILL under load: the other sends its leased deliveries after the lease expires', async () => {
    // The receiver holds every delivery until node A is dead, so the kill always catches A mid-send.
    let open!: () => void;
    gate = { opened: new Promise<void>((r) => (open = r)), open: () => open() };
    const sendingOnA = async () =>
      (
        await db.query<{ id: string }>("select id from deliveries where status = 'sending' and lease_owner like $1", [
          `%-${a.proc.pid}-%`,
        ])
      ).map((d) => d.id);
    let orphaned: string[] = [];
    const answered = new Map<string, string>();
    let killed = false;
    const jobs = Array.from({ length: 60 }, (_, i) => i);
    const worker = async () => {
      for (let i = jobs.shift(); i !== undefined; i = jobs.shift()) {
        const key = `load-${i}`;
        // A client whose node died retries the same request (same Idempotency-Key) on the other node.
        for (const node of killed ? [b] : i % 2 ? [b] : [a, b]) {
          const r = await create(node, key, i).catch(() => null);
          if (r?.status === 202) {
            answered.set(key, r.body.id);
            break;
          }
        }
        if (answered.size === 20 && !killed) {
          killed = true;
          await eventually(async () => (await sendingOnA()).length > 0, 'node A to hold a delivery mid-send', 30_000);
          await a.kill();
          // What the dead node held: leased, mid-send, its outcome never written.
          orphaned = await sendingOnA();
          open();
          gate = null;
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(killed).toBe(true);
    expect(answered.size).toBe(60);

    await eventually(
      async () => (await deliveries()).every((d) => FINAL.includes(d.status)),
      'every delivery to be sent by the surviving node',
      60_000,
    );
    const all = await deliveries();
    const mine = new Set(answered.values());
    for (const id of mine) expect(all.some((d) => d.notification_id === id)).toBe(true);
    for (const d of all) {
      // At least once always; more than once only for a delivery whose first attempt was cut off by the kill.
      expect(received.get(d.id) ?? 0).toBeGreaterThanOrEqual(1);
      if (d.attempts === 1) expect(received.get(d.id)).toBe(1);
    }
    // The dead node's leased deliveries were taken over: sent again (a second attempt) by the survivor.
    expect(orphaned.length).toBeGreaterThan(0);
    for (const id of orphaned) expect(all.find((d) => d.id === id)!.attempts).toBeGreaterThanOrEqual(2);

    // The surviving node takes over the audit log once the dead node's lease expires, and the log verifies.
    const total = Number((await db.query<{ n: string }>('select count(*) as n from audit_entries'))[0].n);
    await eventually(
      async () =>
        Number((await db.query<{ s: string }>('select max(size) as s from audit_checkpoints'))[0].s ?? 0) >= total,
      'a checkpoint covering every entry, signed by the surviving node',
      60_000,
    );
    const verify = spawnSync(process.execPath, ['bin/sealpost.js', 'audit', 'verify'], {
      cwd: ROOT,
      env: hermeticEnv({ SEALPOST_DATA_DIR: dirs[1], ...nodeEnv() }),
      encoding: 'utf8',
    });
    expect(verify.stdout).toMatch(/audit log OK/);
    expect(verify.status).toBe(0);
  }, 240_000);
});
