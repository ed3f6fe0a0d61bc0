import pg from 'pg';
import { allPids, procComm } from './proc-cpu.js';

/** The PostgreSQL server the bench uses: a superuser connection to its maintenance database. */
export const DEFAULT_PG_ADMIN_URL = process.env.SEALPOST_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export async function adminQuery<T = Record<string, unknown>>(adminUrl: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: adminUrl, application_name: 'sealpost-bench' });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

export function databaseUrl(adminUrl: string, name: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Creates an empty database (the name must be a safe identifier: the bench makes it up itself). */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsafe database name ${name}`);
  await adminQuery(adminUrl, `create database ${name}`);
  return databaseUrl(adminUrl, name);
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsafe database name ${name}`);
  await adminQuery(adminUrl, `drop database if exists ${name} with (force)`);
}

/** "update audit_log_state" from a statement's text: enough to name the contended row. */
function statementOf(q: string | null): string {
  const m = /^\s*(update|insert into|delete from|select .*? from)\s+"?([a-z_]+)"?/is.exec(q ?? '');
  return m ? `${m[1].split(' ')[0].toLowerCase()} ${m[2]}` : 'other';
}

export interface PgServerInfo {
  version: string;
  settings: Record<string, string>;
}

/** The settings that decide what a commit costs and how many nodes fit. */
const SETTINGS = ['synchronous_commit', 'fsync', 'wal_sync_method', 'commit_delay', 'full_page_writes', 'shared_buffers', 'max_connections', 'work_mem', 'max_wal_size', 'checkpoint_timeout', 'wal_level', 'data_directory'];

export async function pgServerInfo(adminUrl: string): Promise<PgServerInfo> {
  const [v] = await adminQuery<{ v: string }>(adminUrl, 'select version() as v');
  const rows = await adminQuery<{ name: string; setting: string; unit: string | null }>(adminUrl, 'select name, setting, unit from pg_settings where name = any($1)', [SETTINGS]);
  const settings: Record<string, string> = {};
  for (const r of rows) settings[r.name] = r.unit === '8kB' ? `${(Number(r.setting) * 8) / 1024} MB` : `${r.setting}${r.unit ? ` ${r.unit}` : ''}`;
  return { version: v.v.split(' on ')[0], settings };
}

/**
 * Classifies PostgreSQL processes for the CPU sampler: backends connected to one of `databases`
 * ("pg backends"), the server's own processes (postmaster, WAL writer, checkpointer, autovacuum…:
 * "pg server"), and backends of other databases (someone else's tests: "pg other databases").
 */
export class PgProcessClassifier {
  private client: pg.Client | null = null;
  private samples = 0;
  private readonly waitCounts = new Map<string, number>();

  /** Starts a new tally of active backends' wait events (one sample per `map()` call). */
  resetWaits(): void {
    this.samples = 0;
    this.waitCounts.clear();
  }

  /** Average number of active backends of the bench databases per state since `resetWaits()`, largest first. */
  waits(): Record<string, number> {
    const out = [...this.waitCounts].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, Math.round((n / Math.max(1, this.samples)) * 10) / 10] as const);
    return Object.fromEntries(out);
  }

  constructor(
    private readonly adminUrl: string,
    private readonly databases: string[],
  ) {}

  async map(): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    if (!this.client) {
      this.client = new pg.Client({ connectionString: this.adminUrl, application_name: 'sealpost-bench-probe' });
      await this.client.connect();
    }
    const rows = (
      await this.client.query<{ pid: number; datname: string | null; backend_type: string; me: boolean; state: string | null; wait: string | null; query: string | null }>(
        "select pid, datname, backend_type, application_name like 'sealpost-bench%' as me, state, wait_event_type || ':' || wait_event as wait, left(query, 200) as query from pg_stat_activity",
      )
    ).rows;
    const known = new Map(rows.map((r) => [r.pid, r]));
    this.samples++;
    for (const r of rows) {
      if (r.me || r.backend_type !== 'client backend' || !r.datname || !this.databases.includes(r.datname)) continue;
      if (r.state !== 'active' && r.state !== 'idle in transaction') continue;
      // What each busy backend of the system under test is doing at this instant: on CPU (no wait),
      // waiting on a lock (and for which statement), on I/O or WAL flush, or inside a transaction
      // waiting for its client's next statement (holding whatever locks it took).
      const key =
        r.state === 'idle in transaction'
          ? `idle in transaction, after ${statementOf(r.query)}`
          : !r.wait
            ? 'running'
            : r.wait.startsWith('Lock:') || r.wait.startsWith('LWLock:')
              ? `${r.wait} (${statementOf(r.query)})`
              : r.wait;
      this.waitCounts.set(key, (this.waitCounts.get(key) ?? 0) + 1);
    }
    for (const pid of allPids()) {
      if (procComm(pid) !== 'postgres') continue;
      const r = known.get(pid);
      // The bench's own counting connections (this one, PgProbe): not the system under test.
      if (r?.me) out.set(pid, 'pg bench probes');
      else if (r && r.backend_type === 'client backend') out.set(pid, r.datname && this.databases.includes(r.datname) ? 'pg backends' : 'pg other databases');
      else out.set(pid, 'pg server');
    }
    return out;
  }

  async close(): Promise<void> {
    await this.client?.end().catch(() => {});
    this.client = null;
  }
}
