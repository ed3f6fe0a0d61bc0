import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { Migrator, sql, type Kysely } from 'kysely';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { verifyAuditLog } from '../../src/audit/audit-verifier.js';
import { encodeAuditEntry } from '../../src/audit/audit-entry.js';
import { flushAuditEntries, type PendingAudit } from '../../src/store/audit-sequencing.js';
import { migrationProvider } from '../../src/store/migrations/index.js';
import { openTransferDb } from '../../src/store/transfer/transfer-db.js';
import { exportDatabase } from '../../src/store/transfer/export-database.js';
import { importDatabase } from '../../src/store/transfer/import-database.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { Database } from '../../src/store/schema.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { AppError } from '../../src/core/errors.js';
import {
  BACKENDS,
  describeEachBackend,
  freshDatabases,
  migratedStore,
  type TestDatabase,
} from '../helpers/backends.js';

class Planned extends Error {}

const ORIGIN = 'test.example/audit';
const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function auditLog(db: TestDatabase, store: KyselyStore): AuditLog {
  const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
  return new AuditLog(
    store,
    keyring,
    { origin: ORIGIN, checkpointSeconds: 3600, checkpointEntries: 1e9, batch: 64 },
    () => new Date(),
    silent,
  );
}

const event = (action: string) => ({
  tenantId: 't',
  at: new Date(0),
  actor: 'test',
  action,
  outcome: 'success' as const,
});

function pendingRow(action: string): PendingAudit {
  const { entry, leafHash } = encodeAuditEntry(event(action));
  return { tenant_id: 't', at: 0, action, actor: 'test', patient_ref: null, entry, leaf_hash: leafHash };
}

/** Indexes by action (null while pending), through a separate connection. */
async function indexes(db: TestDatabase): Promise<Map<string, number | null>> {
  const rows = await db.query<{ action: string; idx: number | string | null }>('select action, idx from audit_entries');
  return new Map(rows.map((r) => [r.action, r.idx === null ? null : Number(r.idx)]));
}

/** Polls until `check` holds; the deadline only bounds a hang (the horizon is cluster-wide, so other sessions can delay it). */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

/** A connection of its own (not a store) for a writer whose transaction the test holds open. */
function rawWriter(db: TestDatabase): Kysely<Database> {
  return openTransferDb(db.url, { mustExist: true }).db as Kysely<Database>;
}

/** Runs `body` in a transaction that stays open until `release` resolves, then commits. */
function heldTransaction(
  k: Kysely<Database>,
  body: (trx: Kysely<Database>) => Promise<void>,
  release: Promise<void>,
): { written: Promise<void>; committed: Promise<void> } {
  let written!: () => void;
  const w = new Promise<void>((r) => (written = r));
  const committed = k.transaction().execute(async (trx) => {
    await body(trx);
    written();
    await release;
  });
  return { written: Promise.race([w, committed]), committed };
}

const onPostgres = BACKENDS.includes('postgres');

describe.skipIf(!onPostgres)('audit sequencing behind the xmin horizon [postgres]', () => {
  const fresh = freshDatabases('postgres');

  it('numbers the entries of two nodes 1..N exactly once, keeps real-time order and verifies, while writers hold their transactions open for random times and the integrators run', async () => {
    const db = await fresh({ prefix: 'sealpost-horizon-', migrated: true });
    const stores = [await migratedStore(db, { poolMax: 6, nodeId: 'n1' }), db.open({ poolMax: 6, nodeId: 'n2' })];
    const logs = stores.map((s) => auditLog(db, s));

    let clock = 0;
    const tick = () => ++clock;
    interface Done {
      actions: string[];
      began: number;
      committed: number;
    }
    const committed: Done[] = [];
    const rolledBack: string[] = [];
    const transaction = async (i: number) => {
      const actions = Array.from({ length: i % 4 }, (_, j) => `t${i}.e${j}`);
      const fails = i % 7 === 0;
      const began = tick();
      try {
        await stores[i % 2].transaction(async (tx) => {
          // A write first: the transaction takes its id now and keeps it open while it sleeps.
          await tx.settings.init(`s${i}`, 'v');
          for (const action of actions) await tx.audit.append(event(action));
          await sleep(Math.random() * 6);
          if (fails) throw new Planned();
        });
        committed.push({ actions, began, committed: tick() });
      } catch (e) {
        if (!(e instanceof Planned)) throw e;
        rolledBack.push(...actions);
      }
    };
    const clients = 12;
    const total = 360;
    const work = Array.from({ length: clients }, async (_, c) => {
      for (let i = c; i < total; i += clients) await transaction(i);
    });
    let writing = true;
    let checkpoints = 0;
    const integrators = logs.map(async (log, n) => {
      while (writing) {
        // Some runs sign a checkpoint: the verifier then checks consistency between them.
        if (n === 0 && Math.random() < 0.1) {
          await log.checkpoint();
          checkpoints++;
        } else await log.integrate();
      }
    });
    const writers = Promise.all(work).finally(() => (writing = false));
    const outcome = await Promise.allSettled([writers, ...integrators]);
    for (const o of outcome) if (o.status === 'rejected') throw o.reason;

    const all = committed.flatMap((d) => d.actions);
    await until(async () => (await logs[1].integrate()) === all.length, 'every committed entry numbered');
    await logs[0].checkpoint();

    const rows = await db.query<{ idx: number | string; action: string }>(
      'select idx, action from audit_entries order by idx',
    );
    expect(rows.map((r) => Number(r.idx))).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    expect(rows.map((r) => r.action).sort()).toEqual([...all].sort());
    expect(rows.filter((r) => rolledBack.includes(r.action))).toEqual([]);
    expect(rolledBack.length).toBeGreaterThan(10);
    expect(all.length).toBeGreaterThan(400);

    // Real time: a transaction whose commit was answered before another began comes first in the log.
    const idx = new Map(rows.map((r) => [r.action, Number(r.idx)]));
    const span = committed
      .filter((d) => d.actions.length)
      .map((d) => ({
        ...d,
        lo: Math.min(...d.actions.map((a) => idx.get(a)!)),
        hi: Math.max(...d.actions.map((a) => idx.get(a)!)),
      }));
    const violations: string[] = [];
    for (const a of span)
      for (const b of span)
        if (a.committed < b.began && a.hi > b.lo) violations.push(`${a.actions[0]} before ${b.actions[0]}`);
    expect(violations).toEqual([]);
    // A transaction's entries are contiguous.
    for (const d of span) expect(d.hi - d.lo).toBe(d.actions.length - 1);

    const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
    const report = await verifyAuditLog(stores[0].read.auditLog, ORIGIN, keyring.auditLogKey().publicKey);
    expect(report).toMatchObject({ ok: true, entries: all.length, firstBadIndex: null, problems: [], pending: 0 });
    expect(report.checkpoints).toBeGreaterThan(Math.min(checkpoints, 1));
  });

  it('lets two writers insert while both hold their entries uncommitted and commit in either order, and no writer changes audit_log_state', async () => {
    const db = await fresh({ prefix: 'sealpost-horizon-', migrated: true });
    const store = await migratedStore(db);
    const [a, b] = [rawWriter(db), rawWriter(db)];
    let release = () => {};
    try {
      const state = () => db.query('select name, value from audit_log_state order by name');
      const before = await state();
      const gate = new Promise<void>((r) => (release = r));
      const A = heldTransaction(
        a,
        (trx) => flushAuditEntries(trx, [pendingRow('a.1'), pendingRow('a.2')], true),
        gate.then(() => sleep(50)),
      );
      await A.written;
      // A holds its uncommitted entries; B writes and commits first. Were there a shared row, B would wait for A.
      const B = heldTransaction(b, (trx) => flushAuditEntries(trx, [pendingRow('b.1')], true), Promise.resolve());
      await Promise.race([
        B.committed,
        sleep(10_000).then(() => Promise.reject(new Error('writer B waited for writer A'))),
      ]);
      const waiting = await db.query<{ n: number | string }>(
        `select count(*) as n from pg_stat_activity where datname = $1 and wait_event_type = 'Lock'`,
        [db.name],
      );
      expect(Number(waiting[0].n)).toBe(0);
      release();
      await A.committed;
      // The store's own commands write the same way.
      await store.transaction((tx) => tx.audit.append(event('store.1')));
      expect(await state()).toEqual(before);
      expect([...(await indexes(db)).values()]).toEqual([null, null, null, null]);

      const log = auditLog(db, store);
      await until(async () => (await log.integrate()) === 4, 'all four numbered');
      // A and B overlapped: A took its transaction id first, so it comes first.
      expect(Object.fromEntries(await indexes(db))).toEqual({ 'a.1': 1, 'a.2': 2, 'b.1': 3, 'store.1': 4 });
    } finally {
      release();
      await a.destroy();
      await b.destroy();
    }
  });

  it('does not number an entry whose transaction is open when the integrator runs, and gives it the next index once it commits, after entries numbered meanwhile', async () => {
    const db = await fresh({ prefix: 'sealpost-horizon-', migrated: true });
    const store = await migratedStore(db);
    const log = auditLog(db, store);
    const k = rawWriter(db);
    // Let go of everything the test holds, so a failing assertion fails the test instead of hanging it.
    let proceed = () => {};
    let release = () => {};
    try {
      await store.transaction((tx) => tx.audit.append(event('first')));
      await until(async () => (await log.integrate()) === 1, 'first numbered');

      // `early` takes its transaction id, then `open` writes its entries and stays open, then `early`
      // appends and commits: `early` can be numbered (nothing open before it), `open` cannot.
      let idTaken!: () => void;
      const taken = new Promise<void>((r) => (idTaken = r));
      const go = new Promise<void>((r) => (proceed = r));
      const early = store.transaction(async (tx) => {
        await tx.settings.init('early', 'v');
        idTaken();
        await go;
        await tx.audit.append(event('early'));
      });
      await taken;
      const held = heldTransaction(
        k,
        (trx) => flushAuditEntries(trx, [pendingRow('open.1'), pendingRow('open.2')], true),
        new Promise<void>((r) => (release = r)),
      );
      await held.written;
      proceed();
      await early;
      // Committed after `open` began writing, and numbered while it is still open.
      await until(async () => (await log.integrate()) === 2, 'early numbered');
      // `late` commits after `open` wrote: it must not be numbered before `open`, which might still commit.
      await store.transaction((tx) => tx.audit.append(event('late')));
      for (let i = 0; i < 5; i++) expect(await log.integrate()).toBe(2);
      expect(Object.fromEntries(await indexes(db))).toEqual({ first: 1, early: 2, late: null });

      // A search lists what has its place in the order; `late` has none yet. A proof or entry
      // beyond the numbered entries answers that they are pending.
      const found = await store.read.auditQueries.search({ tenantId: 't', limit: 10 });
      expect(found.map((r) => [r.idx, JSON.parse(r.entry).action])).toEqual([
        [1, 'first'],
        [2, 'early'],
      ]);
      await expect(log.inclusion(0, 3)).rejects.toMatchObject({ code: 'SP_AUDIT_PENDING' });
      await expect(log.entry(2)).rejects.toMatchObject({ code: 'SP_AUDIT_PENDING' });
      await expect(log.entry(3)).rejects.toBeInstanceOf(AppError);

      release();
      await held.committed;
      // Before the integrator runs again, a search already shows the indexes they will get.
      await until(
        async () => (await store.read.auditQueries.search({ tenantId: 't', limit: 10 })).length === 5,
        'all five listed',
      );
      const listed = (await store.read.auditQueries.search({ tenantId: 't', limit: 10 })).map((r) => [
        r.idx,
        JSON.parse(r.entry).action,
      ]);
      expect(listed).toEqual([
        [1, 'first'],
        [2, 'early'],
        [3, 'open.1'],
        [4, 'open.2'],
        [5, 'late'],
      ]);
      // Paging by index finds each once.
      const page1 = await store.read.auditQueries.search({ tenantId: 't', limit: 3 });
      const page2 = await store.read.auditQueries.search({ tenantId: 't', limit: 3, afterIdx: page1[2].idx });
      expect([...page1, ...page2].map((r) => r.idx)).toEqual([1, 2, 3, 4, 5]);
      expect((await log.entry(4)).entry).toContain('"late"');

      expect(await log.integrate()).toBe(5);
      expect(Object.fromEntries(await indexes(db))).toEqual({ first: 1, early: 2, 'open.1': 3, 'open.2': 4, late: 5 });
      const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
      await log.checkpoint();
      expect(await verifyAuditLog(store.read.auditLog, ORIGIN, keyring.auditLogKey().publicKey)).toMatchObject({
        ok: true,
        entries: 5,
        pending: 0,
      });
    } finally {
      proceed();
      release();
      await k.destroy();
    }
  });
});

describe.skipIf(!(onPostgres && BACKENDS.includes('sqlite')))(
  'export and import of entries not yet numbered [postgres to postgres and sqlite]',
  () => {
    const pgFresh = freshDatabases('postgres');
    const sqliteFresh = freshDatabases('sqlite');

    it('carries them, and each target numbers them as the source would have', async () => {
      const src = await pgFresh({ prefix: 'sealpost-xfer-', migrated: true });
      const store = await migratedStore(src);
      const log = auditLog(src, store);
      const k = rawWriter(src);
      let proceed = () => {};
      try {
        await store.transaction((tx) => tx.audit.append(event('n.1')));
        await until(async () => (await log.integrate()) === 1, 'n.1 numbered');
        await log.checkpoint();
        // `x` takes its transaction id, `y` writes and commits, then `x` writes and commits: `y` was
        // inserted first (lower seq), but `x` comes first in the log (lower xid).
        let idTaken!: () => void;
        const taken = new Promise<void>((r) => (idTaken = r));
        const go = new Promise<void>((r) => (proceed = r));
        const x = k.transaction().execute(async (trx) => {
          await sql`select pg_current_xact_id()`.execute(trx);
          idTaken();
          await go;
          await flushAuditEntries(trx, [pendingRow('x.1'), pendingRow('x.2')], true);
        });
        await Promise.race([taken, x]);
        await store.transaction((tx) => tx.audit.append(event('y.1')));
        proceed();
        await x;
      } finally {
        proceed();
        await k.destroy();
      }
      expect([...(await indexes(src)).values()].filter((v) => v === null)).toHaveLength(3);
      const file = join(src.dataDir, 'export.jsonl');
      await exportDatabase({ url: src.url, out: file });

      const expected = { 'n.1': 1, 'x.1': 2, 'x.2': 3, 'y.1': 4 };
      await until(async () => (await log.integrate()) === 4, 'source numbered');
      expect(Object.fromEntries(await indexes(src))).toEqual(expected);

      const { keyring } = LocalKeyring.openOrCreate(join(src.dataDir, 'keyring.json'));
      for (const target of [
        await pgFresh({ prefix: 'sealpost-xfer-' }),
        await sqliteFresh({ prefix: 'sealpost-xfer-' }),
      ]) {
        await importDatabase({ database: loadConfig(target.env).database, in: file });
        const t = target.open();
        await until(async () => (await auditLog(target, t).integrate()) === 4, `${target.backend} numbered`);
        expect(Object.fromEntries(await indexes(target))).toEqual(expected);
        await t.transaction((tx) => tx.audit.append(event('after')));
        await until(
          async () => (await auditLog(target, t).integrate()) === 5,
          `${target.backend} numbers new entries after`,
        );
        expect((await indexes(target)).get('after')).toBe(5);
        expect(await verifyAuditLog(t.read.auditLog, ORIGIN, keyring.auditLogKey().publicKey)).toMatchObject({
          ok: true,
          entries: 5,
          checkpoints: 1,
          pending: 0,
        });
      }
    });
  },
);

describeEachBackend('migration 009 (audit sequencing)', (backend) => {
  const fresh = freshDatabases(backend);

  it('keeps the indexes of existing entries, makes them the insertion order, and numbers new entries after them', async () => {
    const db = await fresh({ prefix: 'sealpost-m009-' });
    const t = openTransferDb(db.url, { mustExist: false });
    try {
      const migrator = new Migrator({ db: t.db, provider: migrationProvider });
      const to008 = await migrator.migrateTo('008-identity');
      expect(to008.error).toBeUndefined();
      const rows = [1, 2, 3].map((i) => ({ idx: i, ...pendingRow(`old.${i}`) }));
      await t.db.insertInto('audit_entries').values(rows).execute();
      await sql`update audit_log_state set value = 3 where name = 'appended_size'`.execute(t.db);
    } finally {
      await t.close();
    }
    const store = await migratedStore(db);
    await store.transaction(async (tx) => {
      await tx.audit.append(event('new.1'));
      await tx.audit.append(event('new.2'));
    });
    const log = auditLog(db, store);
    await until(async () => (await log.integrate()) === 5, 'new entries numbered');
    const after = await db.query<{ seq: number | string; idx: number | string; action: string }>(
      'select seq, idx, action from audit_entries order by seq',
    );
    expect(after.map((r) => [Number(r.seq), Number(r.idx), r.action])).toEqual([
      [1, 1, 'old.1'],
      [2, 2, 'old.2'],
      [3, 3, 'old.3'],
      [4, 4, 'new.1'],
      [5, 5, 'new.2'],
    ]);
  });
});
