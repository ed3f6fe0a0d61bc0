import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, describeEachBackend, type TestDatabase } from '../helpers/backends.js';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const cli = (args: string[], env: Record<string, string>) => {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SEALPOST_')));
  return spawnSync(process.execPath, ['bin/sealpost.js', ...args], {
    cwd: ROOT,
    env: { ...clean, ...env },
    encoding: 'utf8',
  });
};

describeEachBackend('sealpost migrate', (backend) => {
  let db: TestDatabase | undefined;
  afterEach(async () => db?.drop());

  it('applies every migration to an empty database, then reports it up to date', async () => {
    db = await createTestDatabase(backend);
    const first = cli(['migrate'], db.env);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/applied: 001-initial, 002-audit-log, 003-multi-node/);
    expect((await db.tables()).length).toBeGreaterThan(10);
    const again = cli(['migrate'], db.env);
    expect(again.stdout).toMatch(/database is up to date/);
    expect(again.status).toBe(0);
  });

  it('exits 1 with a clear code when the database cannot be reached', () => {
    const url =
      backend === 'sqlite'
        ? 'sqlite:/etc/passwd/not-a-directory/sealpost.db'
        : 'postgres://postgres@127.0.0.1:1/nowhere';
    // A data directory of its own: nothing may be written into a shared one (not /tmp itself).
    const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-migrate-unreachable-'));
    let r: ReturnType<typeof cli>;
    try {
      r = cli(['migrate'], {
        SEALPOST_DATABASE_URL: url,
        SEALPOST_DATABASE_CONNECT_TIMEOUT_MS: '500',
        SEALPOST_DATA_DIR: dataDir,
      });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
    expect(r.status).toBe(1);
    // One line naming what failed: the directory of the SQLite file cannot be created, or PostgreSQL is unreachable.
    expect(r.stderr).toMatch(
      backend === 'sqlite'
        ? /^sealpost: SP_CONFIG_PATH_UNUSABLE: .*cannot mkdir \/etc\/passwd\/not-a-directory \(ENOTDIR\): SEALPOST_DATABASE_URL must name/
        : /^sealpost: SP_STORE_UNAVAILABLE: /,
    );
  });
});

describe.skipIf(!BACKENDS.includes('postgres'))('scheduled deliveries on several nodes [postgres]', () => {
  const open: Harness[] = [];
  let db: TestDatabase | undefined;
  afterEach(async () => {
    for (const h of open.splice(0).reverse()) await h.close();
    await db?.drop();
  });

  it('sends a delivery scheduled on a node without a worker from another node at its time, with no notification to wake it', async () => {
    db = await createTestDatabase('postgres');
    // Node A accepts requests only; node B only runs the worker. A scheduled delivery is not
    // announced (nothing is due yet), so B must find it by itself when it becomes due.
    const a = await startSealpost({ SEALPOST_DATABASE_URL: db.url, SEALPOST_WORKER: 'false' });
    open.push(a);
    const b = await startSealpost({
      SEALPOST_DATABASE_URL: db.url,
      SEALPOST_KEYRING_FILE: join(a.dataDir, 'keyring.json'),
    });
    open.push(b);
    expect((await a.request('PUT', '/v1/patients/s1', samplePatient())).status).toBeLessThan(300);
    const sendAt = new Date(Date.now() + 2_000);
    const r = await a.request(
      'POST',
      '/v1/notifications',
      {
        type: 'follow_up',
        patientId: 's1',
        data: { reason: 'x', dueDate: '2030-01-01' },
        sendAt: sendAt.toISOString(),
      },
      { 'idempotency-key': 'sched-1' },
    );
    expect(r.status).toBe(202);
    expect(r.body.deliveries[0].status).toBe('scheduled');
    const sent = await eventually(
      async () => {
        const rows = await db!.query<{ status: string; sent_at: string | null; lease_owner: string | null }>(
          'select status, sent_at, lease_owner from deliveries where notification_id = $1',
          [r.body.id],
        );
        return rows[0]?.status === 'sent' || rows[0]?.status === 'delivered' ? rows[0] : null;
      },
      'the scheduled delivery to be sent by node B',
      30_000,
    );
    expect(Number(sent.sent_at)).toBeGreaterThanOrEqual(sendAt.getTime());
    // Read back through node B, which did not accept it.
    expect(
      (await b.request('GET', `/v1/notifications/${r.body.id}`, undefined, { authorization: `Bearer ${a.apiKey}` }))
        .status,
    ).toBe(200);
  });
});
