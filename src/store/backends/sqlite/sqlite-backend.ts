import Sqlite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { closeSync, fdatasync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Database } from '../../schema.js';
import type { SqliteDurability } from '../../../config/config.js';
import { KyselyStore } from '../../kysely-store.js';
import { GroupCommit } from './group-commit.js';
import { StatementCache } from './statement-cache.js';

/**
 * SQLite backend (better-sqlite3, WAL). Two durability modes, both of which make a 2xx answer
 * durable:
 * - `full`: synchronous=FULL, SQLite fsyncs the WAL at every commit.
 * - `group`: synchronous=NORMAL (commits are ordered and atomic, not yet synced), and callers await
 *   `durable()`, which fsyncs the WAL once for every commit made before it started.
 */
export function openSqliteStore(path: string, durability: SqliteDurability): KyselyStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const raw = new Sqlite(path);
  raw.pragma('journal_mode = WAL');
  raw.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
  raw.pragma('busy_timeout = 5000');
  raw.pragma('foreign_keys = ON');
  raw.defaultSafeIntegers(false);

  let group: GroupCommit | null = null;
  let walFd: number | null = null;
  if (durability === 'group' && path !== ':memory:') {
    // Opened lazily: the WAL file appears with the first write, and durable() is only called after a
    // commit. It then stays the same inode while our connection is open (SQLite rewinds it after a
    // checkpoint instead of replacing it), so one descriptor serves for the process lifetime.
    group = new GroupCommit(() => {
      walFd ??= openSync(`${path}-wal`, 'r');
      const fd = walFd;
      return new Promise<void>((res, rej) => fdatasync(fd, (e) => (e ? rej(e) : res())));
    });
  }
  const statements = new StatementCache(raw);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: statements.forKysely() }) });
  return new KyselyStore({
    backend: 'sqlite',
    db,
    caps: { skipLocked: false, advisoryLocks: false, auditSequencedByIntegrator: false },
    onDurable: () => (group ? group.flush() : Promise.resolve()),
    onClose: async () => {
      if (walFd !== null) closeSync(walFd);
    },
    coalesce: 'all',
    statements,
  });
}
