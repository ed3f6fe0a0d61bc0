import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { KyselyStore } from './kysely-store.js';
import { openSqliteStore } from './backends/sqlite/sqlite-backend.js';
import { openPostgresStore } from './backends/postgres/postgres-backend.js';

/** Opens the backend the database URL names: `sqlite:<path>` or `postgres://…`. Connects lazily. */
export function openStore(
  db: Config['database'],
  opts: { nodeId?: string; log?: Logger; sqliteDurability?: Config['database']['sqliteDurability'] } = {},
): KyselyStore {
  if (db.url.startsWith('sqlite:'))
    return openSqliteStore(db.url.slice('sqlite:'.length), opts.sqliteDurability ?? db.sqliteDurability);
  return openPostgresStore(
    {
      url: db.url,
      poolMax: db.poolMax,
      statementTimeoutMs: db.statementTimeoutMs,
      connectTimeoutMs: db.connectTimeoutMs,
      nodeId: opts.nodeId ?? 'cli',
    },
    opts.log,
  );
}
