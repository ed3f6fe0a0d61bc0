import type { Database as SqliteDb, Statement } from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/**
 * Kysely's SQLite driver prepares every query anew; our queries come from a fixed set of builders,
 * so their SQL text repeats. This keeps prepared statements by SQL text (bounded, oldest evicted).
 * Safe because the driver runs one statement at a time on its single connection and never keeps an
 * iterator open across another query.
 */
export function withStatementCache(db: SqliteDb, max = 500): SqliteDatabase {
  const cache = new Map<string, Statement>();
  return {
    close: () => db.close(),
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (!stmt) {
        stmt = db.prepare(sql);
        if (cache.size >= max) cache.delete(cache.keys().next().value as string);
        cache.set(sql, stmt);
      }
      return stmt as unknown as ReturnType<SqliteDatabase['prepare']>;
    },
  };
}
