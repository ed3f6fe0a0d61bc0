import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, BACKENDS, type TestDatabase } from '../helpers/backends.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { readBootstrapKey, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { eventually, samplePatient } from '../helpers/sealpost-harness.js';

/**
 * A real `sealpost serve` on PostgreSQL, reached through a TCP forwarder we can cut: the database
 * is unreachable at start, then its connections are terminated by the server (pg_terminate_backend),
 * then it is unreachable mid-run. The node must answer 503 (never 500), write nothing half-way,
 * and recover without a restart.
 */
describe.skipIf(!BACKENDS.includes('postgres'))('the database goes away [postgres]', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let node: ServerProcess;
  let apiKey: string | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-outage-'));

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    proxy = await startTcpProxy(5432, '127.0.0.1', false);
  });

  afterAll(async () => {
    await node?.stop();
    await proxy?.close();
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const viaProxy = () => {
    const u = new URL(db.url);
    u.port = String(proxy.port);
    return u.toString();
  };
  // The tables a command writes (background duties such as audit integration are left out).
  const counts = async () => {
    const all = await db.rowCounts();
    return Object.fromEntries(
      ['patients', 'notifications', 'deliveries', 'idempotency_keys', 'audit_entries', 'access_links'].map((t) => [
        t,
        all[t],
      ]),
    );
  };
  const allSent = async () =>
    (
      await db.query<{ n: number }>(
        "select count(*)::int as n from deliveries where status not in ('sent', 'delivered')",
      )
    )[0].n === 0;
  const create = (key: string) =>
    node.request(
      'POST',
      '/v1/notifications',
      { type: 'follow_up', patientId: 'p1', data: { reason: 'x', dueDate: '2030-01-01' } },
      { 'idempotency-key': key },
    );

  it('starts while the database is unreachable: alive, not ready, API answers 503, and serves once it comes up without a restart', async () => {
    node = await startServerProcess({
      dataDir,
      waitReady: false,
      apiKey: () => apiKey,
      // Short leases: a delivery whose outcome could not be written when the connections died goes back
      // to the queue after its lease expires (the path a crash takes too).
      env: {
        SEALPOST_DATABASE_URL: viaProxy(),
        SEALPOST_DATABASE_CONNECT_TIMEOUT_MS: '1000',
        SEALPOST_LEASE_MS: '2000',
        SEALPOST_LOG_LEVEL: 'info',
      },
    });
    await eventually(async () => node.log().includes('database unavailable at start; retrying'), 'a retry log line');
    expect((await node.request('GET', '/healthz')).status).toBe(200);
    expect((await node.request('GET', '/readyz')).status).toBe(503);
    const api = await node.request('GET', '/v1/patients/p1', undefined, { authorization: 'Bearer sp_x_y' });
    expect(api.status).toBe(503);
    expect(api.body.code).toBe('SP_STORE_UNAVAILABLE');
    expect(api.headers['retry-after']).toBe('5');

    await proxy.up();
    await eventually(
      async () => (await node.request('GET', '/readyz')).status === 200,
      'ready after the database came up',
      60_000,
    );
    apiKey = readBootstrapKey(dataDir);
    expect((await node.request('PUT', '/v1/patients/p1', samplePatient())).status).toBeLessThan(300);
    expect((await create('k-before')).status).toBe(202);
  });

  it('recovers by itself after its database connections are terminated by the server', async () => {
    const killed = await db.query<{ n: number }>(
      "select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and application_name like 'sealpost%'",
    );
    expect(killed[0].n).toBeGreaterThan(0);
    // The pool drops dead connections and opens new ones; at worst one request sees a 503, never a 500.
    const statuses: number[] = [];
    await eventually(async () => {
      const r = await node.request('GET', '/v1/patients/p1');
      statuses.push(r.status);
      return r.status === 200;
    }, 'a read to succeed again');
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    expect((await create('k-after-terminate')).status).toBe(202);
  });

  it('answers 503 and writes nothing while the database is unreachable mid-run, then recovers without a restart', async () => {
    await eventually(allSent, 'earlier notifications to be sent', 30_000);
    const before = await counts();
    await proxy.down();
    const during = await create('k-during');
    expect(during.status).toBe(503);
    expect(during.body.code).toBe('SP_STORE_UNAVAILABLE');
    expect(JSON.stringify(during.body)).not.toMatch(/Lopez|Ana|postgres|ECONNREFUSED/);
    expect((await node.request('GET', '/readyz')).status).toBe(503);
    expect(await counts()).toEqual(before);

    await proxy.up();
    await eventually(async () => (await node.request('GET', '/readyz')).status === 200, 'ready again');
    const retried = await create('k-during');
    expect(retried.status).toBe(202);
    // The worker also recovered: the notification accepted after the outage is sent.
    await eventually(async () => {
      const r = await node.request('GET', `/v1/notifications/${retried.body.id}`);
      return r.body.deliveries?.every((d: { status: string }) => ['sent', 'delivered'].includes(d.status));
    }, 'the notification accepted after the outage to be sent');
    expect(node.log()).not.toMatch(/Lopez|1980-04-02|\+14155552671/);
  });
});
