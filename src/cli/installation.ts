import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { Config } from '../config/config.js';
import { AppError } from '../core/errors.js';
import { openStore } from '../store/open-store.js';
import { isStoreUnavailable } from '../store/store-errors.js';

/**
 * Commands that run without an existing installation: `serve` and `migrate` create one (database and
 * keyring), `import` loads an export into a new database, `verify` works offline on a file.
 */
const WITHOUT_INSTALLATION = new Set(['serve', 'migrate', 'import', 'verify']);

/** The top-level command `action` belongs to (`users` for `users invite`). */
export function topLevelName(action: Command): string {
  let c = action;
  while (c.parent?.parent) c = c.parent;
  return c.name();
}

export function needsInstallation(action: Command): boolean {
  return !WITHOUT_INSTALLATION.has(topLevelName(action));
}

const refuse = (what: string, variables: string) =>
  new AppError(
    'SP_CONFIG_NO_INSTALLATION',
    `${what}: set ${variables} to the running server's, or create an installation first with \`sealpost serve\` (\`sealpost migrate\` creates the database only)`,
  );

/**
 * Refuses to go on when the configuration points at no installation: with a fresh data directory the
 * command would otherwise get a keyring and a database of its own and act on them (an invitation
 * link the server rejects, an empty outbox). Creates nothing.
 */
export async function requireInstallation(config: Config): Promise<void> {
  if (config.keys.provider === 'local' && !existsSync(config.keys.file))
    throw refuse(`no keyring at ${config.keys.file}`, 'SEALPOST_DATA_DIR (or SEALPOST_KEYRING_FILE)');
  const sqlite = config.database.url.startsWith('sqlite:') ? config.database.url.slice('sqlite:'.length) : null;
  if (sqlite !== null && !existsSync(sqlite))
    throw refuse(`no database at ${sqlite}`, 'SEALPOST_DATA_DIR (or SEALPOST_DATABASE_URL)');
  const store = openStore(config.database, { sqliteDurability: 'full' });
  try {
    await store.ping();
  } catch (e) {
    if (isStoreUnavailable(e)) throw e;
    // Reachable, but without Sealpost's tables: never migrated. (The URL is not printed: it may hold a password.)
    throw refuse(
      sqlite !== null ? `no Sealpost database at ${sqlite}` : 'no Sealpost database where SEALPOST_DATABASE_URL points',
      sqlite !== null ? 'SEALPOST_DATA_DIR (or SEALPOST_DATABASE_URL)' : 'SEALPOST_DATABASE_URL',
    );
  } finally {
    await store.close();
  }
}
