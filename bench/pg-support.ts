import pg from 'pg';
import { allPids, procComm } from './proc-cpu.js';

/** The PostgreSQL server the bench uses: a superuser connection to its maintenance database. */
export const DEFAULT_PG_ADMIN_URL = process.env.SEALPOST_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export async function adminQuery<T = Record<string, unknown>>(
  adminUrl: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
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

/** "update audit_log_state" from a statement's text: enough to name the contended row ("commit" and the like by their verb). */
function statementOf(q: string | null): string {
  const m = /^\s*(update|insert into|delete from|select .*? from)\s+"?([a-z_]+)"?/is.exec(q ?? '');
  if (m) return `${m[1].split(' ')[0].toLowerCase()} ${m[2]}`;
  const verb = /^\s*([a-z_]+)/i.exec(q ?? '');
  return verb ? verb[1].toLowerCase() : 'other';
}

export interface PgServerInfo {
  version: string;
  settings: Record<string, string>;
}

/** The settings that decide what a commit costs and how many nodes fit. */
const SETTINGS = [
  'synchronous_commit',
  'fsync',
  'wal_sync_method',
  'commit_delay',
  'full_page_writes',
  'shared_buffers',
  'max_connections',
  'work_mem',
  'max_wal_size',
  'checkpoint_timeout',
  'wal_level',
  'data_directory',
];

export async function pgServerInfo(adminUrl: string): Promise<PgServerInfo> {
  const [v] = await adminQuery<{ v: string }>(adminUrl, 'select version() as v');
  const rows = await adminQuery<{ name: string; setting: string; unit: string | null }>(
    adminUrl,
    'select name, setting, unit from pg_settings where name = any($1)',
    [SETTINGS],
  );
  const settings: Record<string, string> = {};
  for (const r of rows)
    settings[r.name] =
      r.unit === '8kB' ? `${(Number(r.setting) * 8) / 1024} MB` : `${r.setting}${r.unit ? ` ${r.unit}` : ''}`;
  return { version: v.v.split(' on ')[0], settings };
}

/** Lock:* and LWLock:* states: a backend waiting for another one (a shared row, a lock, a buffer). */
export const isContention = (state: string): boolean => state.startsWith('Lock:') || state.startsWith('LWLock:');

/** The states of `waits` that are contention (see isContention), largest first; empty when none was seen. */
export function contention(waits: Record<string, number> | undefined): [string, number][] {
  return Object.entries(waits ?? {}).filter(([k, v]) => isContention(k) && v > 0);
}

/** A load phase against a server that must answer every request 202 (copied from bench/scenarios.ts). */
export function requireClean(
  label: string,
  r: { non2xx: number; errors: number; timeouts: number; statusCodes: Record<string, number> },
): void {
  if (r.non2xx || r.errors || r.timeouts) {
    throw new Error(
      `${label}: ${r.non2xx} non-2xx (${JSON.stringify(r.statusCodes)}), ${r.errors} errors, ${r.timeouts} timeouts; see the server log above`,
    );
  }
}

/**
 * Classifies PostgreSQL processes for the CPU sampler: backends connected to one of `databases`
 * ("pg backends"), the server's own processes (postmaster, WAL writer, checkpointer, autovacuum…:
 * "pg server"), and backends of other databases (someone else's tests: "pg other databases").
 *
 * Separately (startWaits/stopWaits), it tallies what the busy backends of `databases` are doing,
 * sampled from pg_stat_activity more often than the CPU (a 3 s phase still gets ~15 samples).
 */
export class PgProcessClassifier {
  private client: pg.Client | null = null;
  private samples = 0;
  private readonly waitCounts = new Map<string, number>();
  private waitTimer: NodeJS.Timeout | null = null;
  private waitSampling: Promise<void> | null = null;

  constructor(
    private readonly adminUrl: string,
    private readonly databases: string[],
  ) {}

  private async connection(): Promise<pg.Client> {
    if (!this.client) {
      this.client = new pg.Client({ connectionString: this.adminUrl, application_name: 'sealpost-bench-probe' });
      await this.client.connect();
    }
    return this.client;
  }

  /** Starts a new tally of the busy backends' states, one sample every `everyMs`. */
  async startWaits(everyMs = 200): Promise<void> {
    await this.stopTimer();
    this.samples = 0;
    this.waitCounts.clear();
    await this.sampleWaits();
    this.waitTimer = setInterval(() => {
      // A slow sample (a busy server) is not queued behind another: the next tick takes its place.
      if (!this.waitSampling)
        this.waitSampling = this.sampleWaits()
          .catch(() => {})
          .finally(() => (this.waitSampling = null));
    }, everyMs);
  }

  /**
   * Ends the tally: average number of busy backends of the bench databases per state since
   * startWaits(), largest first (`running`, `IO:WALSync`, `Lock:transactionid (update audit_log_state)`…).
   */
  async stopWaits(): Promise<Record<string, number>> {
    await this.stopTimer();
    await this.sampleWaits().catch(() => {});
    const out = [...this.waitCounts]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => [k, Math.round((n / Math.max(1, this.samples)) * 100) / 100] as const);
    return Object.fromEntries(out);
  }

  private async stopTimer(): Promise<void> {
    if (this.waitTimer) clearInterval(this.waitTimer);
    this.waitTimer = null;
    await this.waitSampling;
  }

  private async sampleWaits(): Promise<void> {
    const c = await this.connection();
    const rows = (
      await c.query<{ state: string; wait: string | null; query: string | null }>(
        "select state, wait_event_type || ':' || wait_event as wait, left(query, 200) as query from pg_stat_activity where backend_type = 'client backend' and datname = any($1) and application_name not like 'sealpost-bench%' and state in ('active', 'idle in transaction')",
        [this.databases],
      )
    ).rows;
    this.samples++;
    for (const r of rows) {
      // What each busy backend of the system under test is doing at this instant: on CPU (no wait),
      // waiting on a lock (and for which statement), on I/O or WAL flush, or inside a transaction
      // waiting for its client's next statement (holding whatever locks it took).
      const key =
        r.state === 'idle in transaction'
          ? `idle in transaction, after ${statementOf(r.query)}`
          : !r.wait
            ? 'running'
            : isContention(r.wait)
              ? `${r.wait} (${statementOf(r.query)})`
              : r.wait;
      this.waitCounts.set(key, (this.waitCounts.get(key) ?? 0) + 1);
    }
  }

  async map(): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    const c = await this.connection();
    const rows = (
      await c.query<{ pid: number; datname: string | null; backend_type: string; me: boolean }>(
        "select pid, datname, backend_type, application_name like 'sealpost-bench%' as me from pg_stat_activity",
      )
    ).rows;
    const known = new Map(rows.map((r) => [r.pid, r]));
    for (const pid of allPids()) {
      if (procComm(pid) !== 'postgres') continue;
      const r = known.get(pid);
      const ours = !!r?.datname && this.databases.includes(r.datname);
      // The bench's own counting connections (this one, PgProbe): not the system under test.
      if (r?.me) out.set(pid, 'pg bench probes');
      else if (r && r.backend_type === 'client backend') out.set(pid, ours ? 'pg backends' : 'pg other databases');
      // Autovacuum workers (and the like) in someone else's database are not ours either.
      else if (r?.datname && !ours) out.set(pid, 'pg other databases');
      else out.set(pid, 'pg server');
    }
    return out;
  }

  async close(): Promise<void> {
    await this.stopTimer();
    await this.client?.end().catch(() => {});
    this.client = null;
  }
}
