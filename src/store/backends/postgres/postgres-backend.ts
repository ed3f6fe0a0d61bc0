import pg from 'pg';
import { createHash } from 'node:crypto';
import { registeredPostgresTexts } from '../../sql.js';
import { Kysely, PostgresDialect } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../schema.js';
import { KyselyStore } from '../../kysely-store.js';
import { PgDueSignal } from './due-signal.js';
import { PgFeedSignal } from './feed-signal.js';
import { PgListener } from './pg-listener.js';

export interface PostgresOptions {
  url: string;
  /** Connections per node; the server's max_connections must cover every node's pool plus one listener each. */
  poolMax: number;
  /** Server-side statement_timeout: a stuck query fails instead of holding its connection forever. */
  statementTimeoutMs: number;
  /** How long to wait for a connection (from the pool or a new one) before failing with 503. */
  connectTimeoutMs: number;
  /** This node's id: NOTIFY payloads carry it so a node does not wake itself twice. */
  nodeId: string;
}

// int8 (epoch milliseconds, counters, audit indexes) as a JS number: every value Sealpost stores fits
// in 2^53, and both backends must hand the same types to the repositories.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/**
 * Runs the store's compiled statements (src/store/sql.ts registers their texts) as named prepared
 * statements on this connection: PostgreSQL parses and plans each once per connection instead of on
 * every execution. Other texts (query-builder output, administration) run unnamed as before, so
 * the set of prepared statements per connection stays bounded.
 *
 * A schema change by another node (a migration during a rolling upgrade) invalidates a prepared
 * plan whose result shape changed: PostgreSQL answers 0A000 ("cached plan must not change result
 * type"). The connection then prepares every statement afresh under new names (the transaction,
 * aborted by the error, is run again: 0A000 is retryable).
 */
function prepareRegisteredStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
  let generation = 0;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (
    text: unknown,
    values?: unknown,
    callback?: unknown,
  ) => {
    if (
      typeof text === 'string' &&
      Array.isArray(values) &&
      callback === undefined &&
      registeredPostgresTexts.has(text)
    ) {
      return query({ name: `${statementName(text)}_${generation}`, text, values }).catch((e: unknown) => {
        if ((e as { code?: string }).code === STALE_PLAN) generation++;
        throw e;
      });
    }
    return query(text, values, callback);
  };
}

const STALE_PLAN = '0A000';

const names = new Map<string, string>();
const statementName = (text: string): string => {
  let n = names.get(text);
  if (!n) {
    n = `sp_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    names.set(text, n);
  }
  return n;
};

/** SQLSTATEs after which running the whole transaction again is safe and usually succeeds. */
const RETRYABLE = new Set(['40001', '40P01', '23505', STALE_PLAN]);

/**
 * PostgreSQL backend (Kysely + pg). Several nodes may share the database: claims use FOR UPDATE SKIP
 * LOCKED, duties take advisory locks or leases, and idle workers wake on NOTIFY. Commits are durable
 * when they return (synchronous_commit is the server's, `on` by default), so `durable()` is immediate.
 */
export function openPostgresStore(opts: PostgresOptions, log?: Logger): KyselyStore {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolMax,
    connectionTimeoutMillis: opts.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: opts.statementTimeoutMs,
    application_name: 'sealpost',
    types,
  });
  // An idle client whose connection drops (server restart, pg_terminate_backend) emits 'error' on the
  // pool; unhandled, that would end the process. The pool discards it and opens a new one on demand.
  pool.on('error', (e) =>
    log?.warn({ causeCode: (e as { code?: string }).code }, 'an idle database connection was lost'),
  );
  // A connection that dies while checked out (inside a transaction) emits 'error' on its client, where
  // the pool has no listener then: without this one the process would crash. The query in progress
  // fails on its own and the pool discards the dead client when it is released.
  pool.on('connect', (client) => {
    client.on('error', () => {});
    prepareRegisteredStatements(client);
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  // One LISTEN connection per node, shared by the worker wake-up and live message delivery.
  const listener = new PgListener(opts.url, log);
  return new KyselyStore({
    backend: 'postgres',
    db,
    caps: { skipLocked: true, advisoryLocks: true, auditSequencedByIntegrator: true },
    retryable: (e) => RETRYABLE.has((e as { code?: string })?.code ?? ''),
    // Notification creates from concurrent requests share transactions (a third of the pool at most).
    coalesce: 'batchable',
    coalesceConcurrency: Math.max(1, Math.floor(opts.poolMax / 3)),
    // Sends hold a connection while their channel calls run (the consent send lock): a third of the pool at most.
    sendLockConcurrency: Math.max(1, Math.floor(opts.poolMax / 3)),
    dueSignal: new PgDueSignal(listener, opts.nodeId, pool),
    feedSignal: new PgFeedSignal(listener, opts.nodeId, pool),
    onClose: () => listener.close(),
  });
}
