import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { AppError } from '../../core/errors.js';

/**
 * A plain Kysely connection for export/import plus what they need to know about the schema, read
 * from the database itself (sqlite_master / information_schema), so tables added by later migrations
 * are carried without this code knowing them.
 */
export type Backend = 'sqlite' | 'postgres';

export interface TableInfo {
  name: string;
  columns: string[];
  /** Columns holding bytes (BLOB / BYTEA): written as base64 in the file. */
  binary: string[];
  /** Primary-key columns in key order (keyset pagination on export). */
  primaryKey: string[];
  /** Columns a sequence fills (PostgreSQL identity or serial): inserted with OVERRIDING SYSTEM VALUE. */
  identity: string[];
  /** PostgreSQL transaction ids (`xid8`): they name transactions of the source cluster only (see import). */
  transactionIds: string[];
  /** Tables this one references by foreign key. */
  references: string[];
}

export interface TransferDb {
  backend: Backend;
  db: Kysely<any>;
  close(): Promise<void>;
}

/** Runtime state and Kysely's own bookkeeping: never copied. */
const SKIPPED = new Set(['leases', 'kysely_migration', 'kysely_migration_lock']);

// int8 as a JS number, as the PostgreSQL backend reads it: both backends then yield the same values.
const INT8_OID = 20;
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export function openTransferDb(url: string, opts: { mustExist: boolean }): TransferDb {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    let raw: Sqlite.Database;
    try {
      raw = new Sqlite(path, { fileMustExist: opts.mustExist });
    } catch (e) {
      throw new AppError('SP_STORE_UNAVAILABLE', 'no SQLite database at the configured path', { cause: e });
    }
    raw.pragma('busy_timeout = 5000');
    raw.pragma('foreign_keys = ON');
    const db = new Kysely<any>({ dialect: new SqliteDialect({ database: raw }) });
    return { backend: 'sqlite', db, close: () => db.destroy() };
  }
  const pool = new pg.Pool({ connectionString: url, max: 1, application_name: 'sealpost-transfer', types: pgTypes });
  pool.on('error', () => {});
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  return { backend: 'postgres', db, close: () => db.destroy() };
}

/** Names of the applied migrations, in order (empty when the database was never migrated). */
export async function appliedMigrations(t: TransferDb, db: Kysely<any> = t.db): Promise<string[]> {
  const exists =
    t.backend === 'sqlite'
      ? await sql<{
          n: number;
        }>`select count(*) as n from sqlite_master where type = 'table' and name = 'kysely_migration'`.execute(db)
      : await sql<{
          n: number;
        }>`select count(*)::int as n from information_schema.tables where table_schema = current_schema() and table_name = 'kysely_migration'`.execute(
          db,
        );
  if (!Number(exists.rows[0]?.n)) return [];
  const rows = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db);
  return rows.rows.map((r) => r.name);
}

/** Every copied table with its columns, in dependency order (a referenced table before its referrers). */
export async function describeTables(t: TransferDb, db: Kysely<any> = t.db): Promise<TableInfo[]> {
  const tables = t.backend === 'sqlite' ? await describeSqlite(db) : await describePostgres(db);
  return dependencyOrder(tables.filter((x) => !SKIPPED.has(x.name)));
}

async function describeSqlite(db: Kysely<any>): Promise<TableInfo[]> {
  const names = (
    await sql<{
      name: string;
    }>`select name from sqlite_master where type = 'table' and substr(name, 1, 7) <> 'sqlite_' order by name`.execute(
      db,
    )
  ).rows;
  const out: TableInfo[] = [];
  for (const { name } of names) {
    const cols = (
      await sql<{
        name: string;
        type: string;
        pk: number;
      }>`select name, type, pk from pragma_table_info(${name}) order by cid`.execute(db)
    ).rows;
    const fks = (await sql<{ table: string }>`select "table" from pragma_foreign_key_list(${name})`.execute(db)).rows;
    out.push({
      name,
      columns: cols.map((c) => c.name),
      binary: cols.filter((c) => c.type.toUpperCase() === 'BLOB').map((c) => c.name),
      primaryKey: cols
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name),
      // AUTOINCREMENT takes explicit ids as they are and moves sqlite_sequence past them.
      identity: [],
      transactionIds: [],
      references: fks.map((f) => f.table).filter((r) => r !== name),
    });
  }
  return out;
}

async function describePostgres(db: Kysely<any>): Promise<TableInfo[]> {
  const names = (
    await sql<{
      name: string;
    }>`select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name`.execute(
      db,
    )
  ).rows;
  const out: TableInfo[] = [];
  for (const { name } of names) {
    const cols = (
      await sql<{ name: string; data_type: string; is_identity: string; column_default: string | null }>`
        select column_name as name, data_type, is_identity, column_default from information_schema.columns
        where table_schema = current_schema() and table_name = ${name} order by ordinal_position`.execute(db)
    ).rows;
    const pk = (
      await sql<{ name: string }>`
        select k.column_name as name from information_schema.table_constraints c
        join information_schema.key_column_usage k on k.constraint_schema = c.constraint_schema and k.constraint_name = c.constraint_name
        where c.table_schema = current_schema() and c.table_name = ${name} and c.constraint_type = 'PRIMARY KEY' order by k.ordinal_position`.execute(
        db,
      )
    ).rows;
    const fks = (
      await sql<{ ref: string }>`
        select r.relname as ref from pg_constraint f join pg_class r on r.oid = f.confrelid
        where f.contype = 'f' and f.conrelid = (select oid from pg_class where relname = ${name} and relnamespace = current_schema()::regnamespace)`.execute(
        db,
      )
    ).rows;
    out.push({
      name,
      columns: cols.map((c) => c.name),
      binary: cols.filter((c) => c.data_type === 'bytea').map((c) => c.name),
      primaryKey: pk.map((p) => p.name),
      identity: cols
        .filter((c) => c.is_identity === 'YES' || c.column_default?.startsWith('nextval('))
        .map((c) => c.name),
      transactionIds: cols.filter((c) => c.data_type === 'xid8').map((c) => c.name),
      references: fks.map((f) => f.ref).filter((r) => r !== name),
    });
  }
  return out;
}

/** Topological order by foreign keys; ties (and cycles, which no migration creates) by name. */
function dependencyOrder(tables: TableInfo[]): TableInfo[] {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const done = new Set<string>();
  const out: TableInfo[] = [];
  const visit = (t: TableInfo, path: Set<string>) => {
    if (done.has(t.name) || path.has(t.name)) return;
    path.add(t.name);
    for (const r of t.references) {
      const ref = byName.get(r);
      if (ref) visit(ref, path);
    }
    done.add(t.name);
    out.push(t);
  };
  for (const t of [...tables].sort((a, b) => a.name.localeCompare(b.name))) visit(t, new Set());
  return out;
}

/** Turns a driver failure into a PHI-free AppError naming only the driver's error code. */
export function storeError(e: unknown, what: string): never {
  if (e instanceof AppError) throw e;
  const code = (e as { code?: unknown })?.code;
  throw new AppError('SP_STORE_UNAVAILABLE', `${what} failed${typeof code === 'string' ? ` (${code})` : ''}`, {
    cause: e,
  });
}
