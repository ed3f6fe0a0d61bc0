import pg from 'pg';
import Sqlite from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { loadConfig } from '../../src/config/load-config.js';

export type BackendName = 'sqlite' | 'postgres';

/** The PostgreSQL server tests use (trust auth on loopback); each test creates and drops its own database. */
export const PG_ADMIN_URL = process.env.SEALPOST_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Backends the suite runs against: both by default; SEALPOST_TEST_BACKENDS=sqlite narrows it. */
export const BACKENDS: BackendName[] = (process.env.SEALPOST_TEST_BACKENDS ?? 'sqlite,postgres').split(',').map((s) => s.trim()) as BackendName[];

/** One fresh, empty database of a backend plus a data directory, and ways to look at it from outside. */
export interface TestDatabase {
  backend: BackendName;
  /** SEALPOST_DATABASE_URL for it. */
  url: string;
  /** A fresh data directory (keyring, TLS, and the SQLite file for that backend). */
  dataDir: string;
  /** SEALPOST_* variables that select this database and data directory. */
  env: Record<string, string>;
  /** Opens a store on it (not migrated). */
  open(): KyselyStore;
  /** Runs SQL through a separate connection (`?` placeholders on SQLite, `$1` on PostgreSQL). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Row counts of every data table, through a separate connection. */
  rowCounts(): Promise<Record<string, number>>;
  /** Drops the database and removes the data directory. */
  drop(): Promise<void>;
}

const TABLES = ['patients', 'contact_points', 'data_keys', 'notifications', 'deliveries', 'appointments', 'idempotency_keys', 'audit_entries', 'access_links'];

export async function adminQuery<T = Record<string, unknown>>(sql: string, params: unknown[] = [], url = PG_ADMIN_URL): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

export async function createTestDatabase(backend: BackendName, prefix = 'sealpost-test-'): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  let url: string;
  let query: TestDatabase['query'];
  let dropDb: () => Promise<void>;
  if (backend === 'sqlite') {
    const file = join(dataDir, 'sealpost.db');
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
    dropDb = async () => {};
  } else {
    const name = `sealpost_t_${randomBytes(6).toString('hex')}`;
    await adminQuery(`create database ${name}`);
    const u = new URL(PG_ADMIN_URL);
    u.pathname = `/${name}`;
    url = u.toString();
    query = <T>(sql: string, params: unknown[] = []) => adminQuery<T>(sql, params, url);
    dropDb = async () => {
      await adminQuery(`drop database if exists ${name} with (force)`);
    };
  }
  const env = { SEALPOST_DATA_DIR: dataDir, SEALPOST_DATABASE_URL: url };
  return {
    backend,
    url,
    dataDir,
    env,
    open: () => openStore(loadConfig(env).database, { sqliteDurability: 'full' }),
    query,
    async rowCounts() {
      const out: Record<string, number> = {};
      for (const t of TABLES) out[t] = Number((await query<{ n: number | string }>(`select count(*) as n from ${t}`))[0].n);
      return out;
    },
    async drop() {
      await dropDb();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `describe` once per backend, the way Kysely's own tests loop over dialects. */
export function describeEachBackend(title: string, fn: (backend: BackendName) => void): void {
  for (const backend of BACKENDS) describe(`${title} [${backend}]`, () => fn(backend));
}
