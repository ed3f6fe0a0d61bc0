import type { TestDatabase } from '../helpers/backends.js';

/** One column as its backend reports it (`type` lower-cased, as declared on SQLite). */
export interface Column {
  table: string;
  column: string;
  type: string;
  notNull: boolean;
  /** Part of the primary key. */
  pk: boolean;
  /** SQLite only: the single INTEGER PRIMARY KEY, which is the 64-bit rowid itself. */
  rowid: boolean;
}

/** A table's shape beyond its columns: keys and secondary indexes, by column list. */
export interface Schema {
  columns: Column[];
  /** `table(col, …)` of every UNIQUE constraint. */
  uniques: string[];
  /** `name: table(col, …) [unique]` of every index created by CREATE INDEX. */
  indexes: string[];
}

export async function readSchema(db: TestDatabase): Promise<Schema> {
  return db.backend === 'sqlite' ? readSqlite(db) : readPostgres(db);
}

async function readSqlite(db: TestDatabase): Promise<Schema> {
  const columns: Column[] = [];
  const uniques: string[] = [];
  const indexes: string[] = [];
  for (const table of await db.tables()) {
    const cols = await db.query<{ name: string; type: string; notnull: number; pk: number }>(
      `select name, type, "notnull", pk from pragma_table_info(?)`,
      [table],
    );
    const pkCount = cols.filter((c) => c.pk > 0).length;
    for (const c of cols) {
      const rowid = pkCount === 1 && c.pk > 0 && c.type.toLowerCase() === 'integer';
      columns.push({
        table,
        column: c.name,
        type: c.type.toLowerCase(),
        notNull: c.notnull === 1,
        pk: c.pk > 0,
        rowid,
      });
    }
    for (const ix of await db.query<{ name: string; unique: number; origin: string }>(
      `select name, "unique", origin from pragma_index_list(?)`,
      [table],
    )) {
      const on = (
        await db.query<{ name: string }>(`select name from pragma_index_info(?) order by seqno`, [ix.name])
      ).map((r) => r.name);
      if (ix.origin === 'u') uniques.push(`${table}(${on.join(', ')})`);
      if (ix.origin === 'c') indexes.push(`${ix.name}: ${table}(${on.join(', ')})${ix.unique ? ' unique' : ''}`);
    }
  }
  return { columns, uniques: uniques.sort(), indexes: indexes.sort() };
}

async function readPostgres(db: TestDatabase): Promise<Schema> {
  const tables = await db.tables();
  const rows = await db.query<{
    table_name: string;
    column_name: string;
    data_type: string;
    is_nullable: string;
    pk: boolean;
  }>(
    `select c.table_name, c.column_name, c.data_type, c.is_nullable,
            exists (select 1 from information_schema.table_constraints tc
                    join information_schema.key_column_usage k on k.constraint_name = tc.constraint_name and k.table_schema = tc.table_schema
                    where tc.constraint_type = 'PRIMARY KEY' and tc.table_schema = c.table_schema
                      and k.table_name = c.table_name and k.column_name = c.column_name) as pk
       from information_schema.columns c
      where c.table_schema = 'public' and c.table_name = any($1)
      order by c.table_name, c.ordinal_position`,
    [tables],
  );
  const columns = rows.map((r) => ({
    table: r.table_name,
    column: r.column_name,
    type: r.data_type,
    notNull: r.is_nullable === 'NO',
    pk: r.pk,
    rowid: false,
  }));
  const keyed = await db.query<{
    table_name: string;
    contype: string;
    index_name: string;
    cols: string[];
    unique: boolean;
  }>(
    `select t.relname as table_name, coalesce(con.contype::text, '') as contype, i.relname as index_name, x.indisunique as unique,
            array(select a.attname from unnest(x.indkey) with ordinality k(attnum, n)
                  join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum order by k.n)::text[] as cols
       from pg_index x
       join pg_class i on i.oid = x.indexrelid
       join pg_class t on t.oid = x.indrelid
       join pg_namespace ns on ns.oid = t.relnamespace
       left join pg_constraint con on con.conindid = x.indexrelid and con.conrelid = t.oid
      where ns.nspname = 'public' and t.relname = any($1)`,
    [tables],
  );
  const uniques = keyed.filter((k) => k.contype === 'u').map((k) => `${k.table_name}(${k.cols.join(', ')})`);
  const indexes = keyed
    .filter((k) => k.contype === '')
    .map((k) => `${k.index_name}: ${k.table_name}(${k.cols.join(', ')})${k.unique ? ' unique' : ''}`);
  return { columns, uniques: uniques.sort(), indexes: indexes.sort() };
}

/**
 * The deliberate type mapping from a SQLite column to its PostgreSQL twin (column-types.ts):
 * BLOB is BYTEA; the SQLite rowid key (INTEGER PRIMARY KEY, 64-bit) is BIGINT; the writing
 * transaction of an audit entry is PostgreSQL's own `xid8` (migration 009; an always-NULL `bigint`
 * on SQLite, which numbers entries as it writes them); every other declared type is the same word
 * on both: times are `bigint` epoch milliseconds and JSON is `text` on both.
 */
export function postgresTypeOf(c: Column): string {
  if (c.type === 'blob') return 'bytea';
  if (c.rowid) return 'bigint';
  if (c.table === 'audit_entries' && c.column === 'xid') return 'xid8';
  return c.type;
}

/**
 * Whether the column refuses NULL. SQLite does not enforce NOT NULL on a primary key column other
 * than the rowid (a documented legacy quirk); PostgreSQL always does. The schema states the intent
 * (a key is never null), so a key column counts as NOT NULL on both.
 */
export function refusesNull(c: Column): boolean {
  return c.notNull || c.pk;
}
