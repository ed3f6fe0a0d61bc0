import type { Database as SqliteDb, Statement } from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/**
 * Prepared statements by SQL text (bounded, oldest evicted), shared by Kysely's driver and by the
 * store's compiled statements (src/store/sql.ts). Kysely's SQLite driver prepares every query anew;
 * our statements come from a fixed set, so their text repeats. Safe because the connection runs one
 * statement at a time and nothing keeps an iterator open across another query.
 */
export class StatementCache {
  private readonly cache = new Map<string, Statement>();

  constructor(
    readonly db: SqliteDb,
    // Above the number of statement shapes (multi-row inserts per row count, id lists per length).
    private readonly max = 5000,
  ) {}

  prepare(sql: string): Statement {
    let stmt = this.cache.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(sql, stmt);
    }
    return stmt;
  }

  /** The connection as Kysely's SqliteDialect wants it, preparing through this cache. */
  forKysely(): SqliteDatabase {
    return {
      close: () => this.db.close(),
      prepare: (sql: string) => this.prepare(sql) as unknown as ReturnType<SqliteDatabase['prepare']>,
    };
  }
}
