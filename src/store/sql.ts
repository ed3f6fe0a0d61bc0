import { CompiledQuery, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { StatementCache } from './backends/sqlite/statement-cache.js';

export type BackendName = 'sqlite' | 'postgres';

/**
 * Every hot statement's text is registered here once, when its module loads (one-row shapes: on
 * first use). The PostgreSQL backend runs registered texts as named prepared statements, so the
 * server parses and plans each once per connection.
 */
export const registeredPostgresTexts = new Set<string>();

/**
 * One SQL statement with its text fixed ahead of time: no query builder runs per request.
 * Written with `?` placeholders; the PostgreSQL text numbers them (`$1`, `$2`, …) unless a
 * different PostgreSQL text is given (e.g. `= any(?)` for an array where SQLite lists `in (?, ?)`).
 */
export class Stmt {
  readonly sqlite: string;
  readonly postgres: string;

  constructor(text: string, postgresText: string = text) {
    this.sqlite = text;
    let n = 0;
    this.postgres = postgresText.replace(/\?/g, () => `$${++n}`);
    registeredPostgresTexts.add(this.postgres);
  }
}

export const stmt = (text: string, postgresText?: string): Stmt => new Stmt(text, postgresText);

const shapes = new Map<string, Stmt>();

/**
 * A statement whose text depends on a small number (rows of a multi-row insert, items of a list):
 * built once per shape. Only the one-row shape is prepared by name on PostgreSQL: a prepared
 * statement per row count on every pooled connection would cost the server memory for every batch
 * size a caller chooses.
 */
export function shaped(key: string, n: number, build: (n: number) => Stmt): Stmt {
  const k = `${key}#${n}`;
  let s = shapes.get(k);
  if (!s) {
    s = build(n);
    if (n > 1) registeredPostgresTexts.delete(s.postgres);
    shapes.set(k, s);
  }
  return s;
}

/** `(?, ?, …)` with `n` placeholders. */
export const placeholders = (n: number): string => `(${Array.from({ length: n }, () => '?').join(', ')})`;

/**
 * `insert into <table> (<columns>) values (…), (…)` for `rows` rows, plus `tail` (e.g. `on conflict … do nothing`).
 * Rows are at most a few hundred (both backends bind far more parameters than that needs).
 */
export function insertStmt(table: string, columns: readonly string[], rows = 1, tail = ''): Stmt {
  return shaped(`insert ${table} (${columns.join(',')}) ${tail}`, rows, (n) => {
    const row = placeholders(columns.length);
    return stmt(
      `insert into ${table} (${columns.join(', ')}) values ${Array.from({ length: n }, () => row).join(', ')}${tail ? ` ${tail}` : ''}`,
    );
  });
}

/** Parameters of a multi-row insert: each row's values in `columns` order (missing values are NULL). */
export function rowParams(columns: readonly string[], rows: readonly Record<string, unknown>[]): unknown[] {
  const out: unknown[] = [];
  for (const r of rows) for (const c of columns) out.push(r[c] ?? null);
  return out;
}

/**
 * Runs compiled statements. An instance is bound to the pool (reads) or to one transaction. The
 * query builder (`db`) remains for cold paths (administration, erasure, rotation), where clarity
 * matters more than the few microseconds a build costs.
 */
export interface Sql {
  readonly backend: BackendName;
  readonly db: Kysely<Database>;
  /** Rows of a statement that returns rows. */
  all<R>(s: Stmt, params: readonly unknown[]): Promise<R[]>;
  /** The first row, or undefined. */
  get<R>(s: Stmt, params: readonly unknown[]): Promise<R | undefined>;
  /** Runs a statement that returns no rows; resolves with the number of rows it changed. */
  run(s: Stmt, params: readonly unknown[]): Promise<number>;
}

/** Through Kysely's driver (its connection handling, PostgreSQL's pool, SQLite's connection mutex), without building. */
export class KyselySql implements Sql {
  constructor(
    readonly db: Kysely<Database>,
    readonly backend: BackendName,
  ) {}

  async all<R>(s: Stmt, params: readonly unknown[]): Promise<R[]> {
    return (await this.db.executeQuery(CompiledQuery.raw(s[this.backend], params as unknown[]))).rows as R[];
  }

  async get<R>(s: Stmt, params: readonly unknown[]): Promise<R | undefined> {
    return (await this.all<R>(s, params))[0];
  }

  async run(s: Stmt, params: readonly unknown[]): Promise<number> {
    const r = await this.db.executeQuery(CompiledQuery.raw(s[this.backend], params as unknown[]));
    return Number(r.numAffectedRows ?? 0n);
  }
}

/**
 * SQLite inside a transaction: calls the prepared statements synchronously, skipping the driver.
 * Only for a transaction's own repositories: the transaction holds Kysely's connection mutex for
 * its whole run, so nothing else uses the connection meanwhile.
 */
export class SqliteTxSql implements Sql {
  readonly backend = 'sqlite' as const;

  constructor(
    readonly db: Kysely<Database>,
    private readonly statements: StatementCache,
  ) {}

  async all<R>(s: Stmt, params: readonly unknown[]): Promise<R[]> {
    return this.statements.prepare(s.sqlite).all(params) as R[];
  }

  async get<R>(s: Stmt, params: readonly unknown[]): Promise<R | undefined> {
    return this.statements.prepare(s.sqlite).get(params) as R | undefined;
  }

  async run(s: Stmt, params: readonly unknown[]): Promise<number> {
    return this.statements.prepare(s.sqlite).run(params).changes;
  }
}

/**
 * `<head> <column> in (…)` over `ids`: on PostgreSQL one statement with an array parameter
 * (`= any(?)`), on SQLite one statement per 200 ids. `before` are the parameters of `head`'s own
 * placeholders. Unknown ids are simply absent from the result; order is unspecified.
 */
export async function selectIn<R>(
  sql: Sql,
  head: string,
  column: string,
  ids: readonly unknown[],
  before: readonly unknown[] = [],
): Promise<R[]> {
  if (!ids.length) return [];
  if (sql.backend === 'postgres')
    return sql.all<R>(
      shaped(`${head}|${column}`, 0, () => stmt(`${head} ${column} = any(?)`)),
      [...before, ids],
    );
  const out: R[] = [];
  for (let i = 0; i < ids.length; i += 200) {
    const part = ids.slice(i, i + 200);
    out.push(
      ...(await sql.all<R>(
        shaped(`${head}|${column}`, part.length, (n) => stmt(`${head} ${column} in ${placeholders(n)}`)),
        [...before, ...part],
      )),
    );
  }
  return out;
}

/** Inserts `rows` into `table` with one multi-row statement per 200 rows (`tail`: e.g. an `on conflict` clause). */
export async function insertRows(
  sql: Sql,
  table: string,
  columns: readonly string[],
  rows: readonly Record<string, unknown>[],
  tail = '',
): Promise<void> {
  for (let i = 0; i < rows.length; i += 200) {
    const part = rows.slice(i, i + 200);
    await sql.run(insertStmt(table, columns, part.length, tail), rowParams(columns, part));
  }
}
