import { expect, it } from 'vitest';
import pino from 'pino';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import { up } from '../../src/store/migrations/010-idempotency-key-hashes.js';
import { join } from 'node:path';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { AppError } from '../../src/core/errors.js';
import { describeEachBackend, freshDatabases, type TestDatabase } from '../helpers/backends.js';
import { samplePatient } from '../helpers/sealpost-harness.js';

/**
 * Idempotency keys are stored as keyed hashes (clients put order numbers in them), and the records a
 * version before migration 010 wrote with the key in clear are hashed at the next start: the key
 * still de-duplicates after the upgrade, and no clear key is left anywhere in the database.
 */

const ctx = { tenantId: 'default', actor: 'test' };
const ORDER_KEY = 'order-7781-result'; // the README's own example
const BATCH_KEY = 'order-7782-batch';
const followUp = (reason = 'check-up') => ({
  type: 'follow_up',
  patientId: 'p1',
  data: { reason, dueDate: '2031-01-01' },
});

/** Runs statements (`?` placeholders) in one transaction, outside any store. */
async function write(db: TestDatabase, statements: [string, unknown[]][]): Promise<void> {
  if (db.backend === 'sqlite') {
    const c = new Sqlite(join(db.dataDir, 'sealpost.db'));
    try {
      c.transaction(() => statements.forEach(([q, p]) => c.prepare(q).run(...p)))();
    } finally {
      c.close();
    }
    return;
  }
  for (const [q, p] of statements) {
    let n = 0;
    await db.query(
      q.replace(/\?/g, () => `$${++n}`),
      p,
    );
  }
}

/** Migration 010's own `up`, over a connection of its own (the migrator would refuse to run it after 011+). */
async function runMigration010(db: TestDatabase): Promise<void> {
  const kysely = new Kysely<any>({
    dialect:
      db.backend === 'sqlite'
        ? new SqliteDialect({ database: new Sqlite(join(db.dataDir, 'sealpost.db')) })
        : new PostgresDialect({ pool: new pg.Pool({ connectionString: db.url, max: 1 }) }),
  });
  try {
    await up(kysely);
  } finally {
    await kysely.destroy();
  }
}

describeEachBackend('idempotency keys at rest', (backend) => {
  const fresh = freshDatabases(backend);
  const apps: App[] = [];

  async function start(db?: TestDatabase): Promise<{ db: TestDatabase; app: App }> {
    db ??= await fresh({ prefix: 'sealpost-idem-hash-' });
    const config = loadConfig({ ...db.env, SEALPOST_QUIET_HOURS: 'off', SEALPOST_WORKER: 'false' });
    const app = await buildApp(config, { logger: pino({ level: 'silent' }) });
    apps.push(app);
    return { db, app };
  }

  async function stop(app: App) {
    apps.splice(apps.indexOf(app), 1);
    await app.close();
  }

  /** Every text value of every row of the idempotency tables (both of them, if the second exists). */
  async function storedText(db: TestDatabase): Promise<string> {
    const tables = (await db.tables()).filter((t) => t.startsWith('idempotency_keys'));
    expect(tables).toContain('idempotency_keys');
    const rows = [];
    for (const t of tables) rows.push(...(await db.query(`select * from ${t}`)));
    return JSON.stringify(rows);
  }

  const refused = (p: Promise<unknown>) =>
    p.then(
      () => 'accepted',
      (e) => (e instanceof AppError ? e.code : String(e)),
    );

  it('stores a keyed hash of the key, never the key, and still replays the first answer', async () => {
    const { db, app } = await start();
    try {
      const { patients, notifications } = app.services;
      await patients.upsert(ctx, 'p1', samplePatient() as never);
      const first = await notifications.create(ctx, followUp() as never, ORDER_KEY);
      const [batched] = await notifications.createMany(ctx, [
        { input: followUp('b') as never, idempotencyKey: BATCH_KEY },
      ]);
      const keys = (await db.query<{ key: string }>('select key from idempotency_keys')).map((r) => r.key);
      expect(keys).toHaveLength(2);
      expect(keys.every((k) => /^[0-9a-f]{64}$/.test(k))).toBe(true);
      expect(await storedText(db)).not.toMatch(/order-778[12]/);

      expect(await notifications.create(ctx, followUp() as never, ORDER_KEY)).toEqual(first);
      expect(
        await notifications.createMany(ctx, [
          { input: followUp('b') as never, idempotencyKey: BATCH_KEY },
          { input: followUp() as never, idempotencyKey: ORDER_KEY },
        ]),
      ).toEqual([batched, first]);
      expect(await refused(notifications.create(ctx, followUp('other') as never, ORDER_KEY))).toBe(
        'SP_IDEMPOTENCY_KEY_REUSED',
      );
      expect((await db.rowCounts()).notifications).toBe(2);
    } finally {
      for (const a of apps.splice(0)) await a.close();
    }
  });

  it('hashes the keys a version before migration 010 stored in clear at the next start: they still de-duplicate, and no clear key remains', async () => {
    // A database as the previous version left it: its records (same request fingerprint and
    // answer) under clear keys, and migration 010 not applied.
    const { db, app } = await start();
    let first: Awaited<ReturnType<App['services']['notifications']['create']>>;
    let batched: typeof first;
    try {
      const { patients, notifications } = app.services;
      await patients.upsert(ctx, 'p1', samplePatient() as never);
      first = await notifications.create(ctx, followUp() as never, ORDER_KEY);
      [batched] = await notifications.createMany(ctx, [{ input: followUp('b') as never, idempotencyKey: BATCH_KEY }]);
    } finally {
      await stop(app);
    }
    type Record = { request_hash: string; status_code: number; response: string; created_at: number | string };
    const records = await db.query<Record>(
      'select request_hash, status_code, response, created_at from idempotency_keys',
    );
    expect(records).toHaveLength(2);
    const recordOf = (id: string) => records.find((r) => (JSON.parse(r.response) as { id: string }).id === id)!;
    // Back to the previous version's state (DDL included: SQLite through a writable connection of its own),
    // then migration 010 runs on it as the upgrade would (later migrations, already applied, stay).
    await write(db, [
      ['delete from idempotency_keys', []],
      ['drop table idempotency_keys_unhashed', []],
      ...(
        [
          [ORDER_KEY, first],
          [BATCH_KEY, batched],
        ] as const
      ).map(([key, answer]): [string, unknown[]] => {
        const r = recordOf(answer.body.id);
        return [
          'insert into idempotency_keys (tenant_id, key, request_hash, status_code, response, created_at) values (?, ?, ?, ?, ?, ?)',
          ['default', key, r.request_hash, r.status_code, r.response, Number(r.created_at)],
        ];
      }),
    ]);
    expect(await storedText(db)).toContain(ORDER_KEY);
    await runMigration010(db);
    expect(await storedText(db)).toContain(ORDER_KEY); // set aside, still in clear until a server starts

    // The upgrade: the new version starts on that database.
    const next = await start(db);
    try {
      const { notifications } = next.app.services;
      expect(await storedText(db)).not.toMatch(/order-778[12]/);
      expect(await db.query('select * from idempotency_keys_unhashed')).toEqual([]);
      expect(await db.query('select key from idempotency_keys')).toHaveLength(2);
      expect(await notifications.create(ctx, followUp() as never, ORDER_KEY)).toEqual(first);
      expect(
        await notifications.createMany(ctx, [{ input: followUp('b') as never, idempotencyKey: BATCH_KEY }]),
      ).toEqual([batched]);
      expect(await refused(notifications.create(ctx, followUp('other') as never, ORDER_KEY))).toBe(
        'SP_IDEMPOTENCY_KEY_REUSED',
      );
      expect((await db.rowCounts()).notifications).toBe(2);
    } finally {
      await stop(next.app);
    }
  });
});
