import pg from 'pg';
import Sqlite from 'better-sqlite3';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { loadConfig } from '../../src/config/load-config.js';

export type BackendName = 'sqlite' | 'postgres';

/** The PostgreSQL server tests use (trust auth on loopback); each test creates and drops its own database. */
export const PG_ADMIN_URL = process.env.SEALPOST_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Backends the suite runs against: both by default; SEALPOST_TEST_BACKENDS=sqlite narrows it. */
export const BACKENDS: BackendName[] = (process.env.SEALPOST_TEST_BACKENDS ?? 'sqlite,postgres')
  .split(',')
  .map((s) => s.trim()) as BackendName[];

/**
 * Backends of the browser tests: SQLite only unless SEALPOST_TEST_BROWSER_BACKENDS widens it (e.g.
 * `sqlite,postgres`). They test what a person sees and clicks; the API under them runs on both
 * backends in the contract and end-to-end suites, and a second browser pass per backend cost the
 * suite minutes for no path of its own.
 */
export const BROWSER_BACKENDS: BackendName[] = (process.env.SEALPOST_TEST_BROWSER_BACKENDS ?? BACKENDS[0] ?? 'sqlite')
  .split(',')
  .map((s) => s.trim())
  .filter((b) => BACKENDS.includes(b as BackendName)) as BackendName[];

/** `describe` once per browser-test backend (BROWSER_BACKENDS). */
export function describeEachBrowserBackend(title: string, fn: (backend: BackendName) => void): void {
  for (const backend of BROWSER_BACKENDS) describe(`${title} [${backend}]`, () => fn(backend));
}

export interface OpenOptions {
  /** The node id (NOTIFY payloads carry it); each store stands for one node. */
  nodeId?: string;
  /** PostgreSQL pool size of this store. */
  poolMax?: number;
}

/** One fresh, empty database of a backend plus a data directory, and ways to look at it from outside. */
export interface TestDatabase {
  backend: BackendName;
  /** SEALPOST_DATABASE_URL for it. */
  url: string;
  /** The PostgreSQL database name (empty on SQLite), to find its sessions in pg_stat_activity. */
  name: string;
  /** A fresh data directory (keyring, TLS, and the SQLite file for that backend). */
  dataDir: string;
  /** SEALPOST_* variables that select this database and data directory. */
  env: Record<string, string>;
  /** Opens a store on it (not migrated); `drop()` closes it if the test did not. */
  open(opts?: OpenOptions): KyselyStore;
  /** Runs SQL through a separate connection (`?` placeholders on SQLite, `$1` on PostgreSQL). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Names of the tables Sealpost created (migration bookkeeping excluded), sorted. */
  tables(): Promise<string[]>;
  /** Row counts of every Sealpost table, through a separate connection. */
  rowCounts(): Promise<Record<string, number>>;
  /** Closes stores left open, drops the database and removes the data directory. */
  drop(): Promise<void>;
}

export async function adminQuery<T = Record<string, unknown>>(
  sql: string,
  params: unknown[] = [],
  url = PG_ADMIN_URL,
): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

export interface CreateOptions {
  /** Prefix of the data directory's name. */
  prefix?: string;
  /**
   * Start from a copy of a database this process migrated (faster than migrating each one: most
   * tests are about behaviour, not migrations). Without it the database is empty.
   */
  migrated?: boolean;
}

/**
 * Migrated databases to copy, one per backend, made on first use in this process and dropped by
 * `dropTemplates` (freshDatabases registers it): nothing carries over from an earlier run.
 */
const templates = new Map<BackendName, Promise<TestDatabase>>();

async function template(backend: BackendName): Promise<TestDatabase> {
  let t = templates.get(backend);
  if (!t) {
    t = (async () => {
      const db = await createTestDatabase(backend, { prefix: 'sealpost-template-' });
      const store = db.open();
      await store.migrate();
      // Closed before copying: PostgreSQL copies a template only while nobody is connected to it,
      // and SQLite folds the WAL back into the file on the last close.
      await store.close();
      return db;
    })();
    templates.set(backend, t);
  }
  return t;
}

/** Drops this process's template databases. */
export async function dropTemplates(): Promise<void> {
  const all = [...templates.values()];
  templates.clear();
  for (const t of all) await (await t).drop();
}

/** `opts` may also be just the data directory's prefix. */
export async function createTestDatabase(
  backend: BackendName,
  options: CreateOptions | string = {},
): Promise<TestDatabase> {
  const opts = typeof options === 'string' ? { prefix: options } : options;
  const tpl = opts.migrated ? await template(backend) : null;
  const dataDir = mkdtempSync(join(tmpdir(), opts.prefix ?? 'sealpost-test-'));
  let url: string;
  let name = '';
  let query: TestDatabase['query'];
  let tables: TestDatabase['tables'];
  let dropDb: () => Promise<void>;
  if (backend === 'sqlite') {
    const file = join(dataDir, 'sealpost.db');
    if (tpl) copyFileSync(join(tpl.dataDir, 'sealpost.db'), file);
    url = `sqlite:${file}`;
    query = async <T>(sql: string, params: unknown[] = []) => {
      const db = new Sqlite(file, { readonly: !/^\s*(update|delete|insert)/i.test(sql) });
      try {
        const st = db.prepare(sql);
        return (st.reader ? st.all(...params) : (st.run(...params), [])) as T[];
      } finally {
        db.close();
      }
    };
    tables = async () =>
      (
        await query<{ name: string }>(
          `select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like 'kysely_%' order by name`,
        )
      ).map((r) => r.name);
    dropDb = async () => {};
  } else {
    name = `sealpost_t_${randomBytes(6).toString('hex')}`;
    await adminQuery(`create database ${name}${tpl ? ` template ${tpl.name}` : ''}`);
    const u = new URL(PG_ADMIN_URL);
    u.pathname = `/${name}`;
    url = u.toString();
    query = <T>(sql: string, params: unknown[] = []) => adminQuery<T>(sql, params, url);
    tables = async () =>
      (
        await query<{ table_name: string }>(
          `select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' and table_name not like 'kysely_%' order by table_name`,
        )
      ).map((r) => r.table_name);
    dropDb = async () => {
      await adminQuery(`drop database if exists ${name} with (force)`);
    };
  }
  const env = { SEALPOST_DATA_DIR: dataDir, SEALPOST_DATABASE_URL: url };
  const open = new Set<KyselyStore>();
  return {
    backend,
    url,
    name,
    dataDir,
    env,
    open(opts: OpenOptions = {}) {
      const cfg = loadConfig({
        ...env,
        ...(opts.poolMax ? { SEALPOST_DATABASE_POOL_MAX: String(opts.poolMax) } : {}),
      }).database;
      const store = openStore(cfg, { sqliteDurability: 'full', nodeId: opts.nodeId });
      // A PostgreSQL pool may be ended only once: remember which stores the test already closed.
      const close = store.close.bind(store);
      store.close = async () => {
        if (!open.delete(store)) return;
        await close();
      };
      open.add(store);
      return store;
    },
    query,
    tables,
    async rowCounts() {
      // One statement, so one connection: a connection per table is slow on a busy PostgreSQL.
      const all = await tables();
      const rows = await query<{ t: string; n: number | string }>(
        all.map((t) => `select '${t}' as t, count(*) as n from ${t}`).join(' union all '),
      );
      return Object.fromEntries(rows.map((r) => [r.t, Number(r.n)]));
    },
    async drop() {
      for (const s of [...open]) await s.close().catch(() => {});
      await dropDb();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Inside a `describe`: returns a factory of fresh databases of `backend`, each dropped after its
 * test, so no test depends on what an earlier test or run left behind.
 */
export function freshDatabases(backend: BackendName): (opts?: CreateOptions) => Promise<TestDatabase> {
  const made: TestDatabase[] = [];
  // Dropping a PostgreSQL database waits for the server's disk; the next test does not need to wait
  // for that, only the end of the file does (a failed drop then fails the file).
  const dropping: Promise<void>[] = [];
  afterEach(() => {
    for (const d of made.splice(0)) dropping.push(d.drop());
  });
  afterAll(async () => {
    try {
      await Promise.all(dropping.splice(0));
    } finally {
      await dropTemplates();
    }
  });
  return async (opts) => {
    const d = await createTestDatabase(backend, opts);
    made.push(d);
    return d;
  };
}

/** Opens a store on `db` and applies every migration. */
export async function migratedStore(db: TestDatabase, opts?: OpenOptions): Promise<KyselyStore> {
  const store = db.open(opts);
  await store.migrate();
  return store;
}

/** `describe` once per backend, the way Kysely's own tests loop over dialects. */
export function describeEachBackend(title: string, fn: (backend: BackendName) => void): void {
  for (const backend of BACKENDS) describe(`${title} [${backend}]`, () => fn(backend));
}

/**
 * Numbers every committed audit entry (PostgreSQL numbers them behind the writers, below the
 * cluster-wide xmin horizon: a transaction open in another test's database holds numbering back
 * for a moment). Resolves with the numbered size; fails after `timeoutMs`.
 */
export async function numberAuditEntries(store: KyselyStore, timeoutMs = 20_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const size = await store.read.auditLog.sequenceAll();
    if (!(await store.read.auditLog.pendingCount())) return size;
    if (Date.now() > until)
      throw new Error('audit entries still pending: a transaction somewhere in the cluster stays open');
    await new Promise((r) => setTimeout(r, 25));
  }
}
