import { SqliteAdapter, type CreateTableBuilder, type Kysely } from 'kysely';

/**
 * The few column types that differ between backends, chosen deliberately in one place:
 * binary data is BLOB on SQLite and BYTEA on PostgreSQL; identity columns are INTEGER PRIMARY KEY
 * AUTOINCREMENT on SQLite (never reused, so audit indexes stay monotonic) and BIGINT identity on PostgreSQL.
 */
export function isSqlite(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof SqliteAdapter;
}

export function blob(db: Kysely<any>) {
  return isSqlite(db) ? ('blob' as const) : ('bytea' as const);
}

export function autoIncrementId<T extends string>(t: CreateTableBuilder<T, never>, db: Kysely<any>, col: string) {
  return isSqlite(db)
    ? t.addColumn(col, 'integer', (c) => c.primaryKey().autoIncrement())
    : t.addColumn(col, 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity());
}
