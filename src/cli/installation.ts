import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { Config } from '../config/config.js';
import { AppError } from '../core/errors.js';
import { openStore } from '../store/open-store.js';
import { isStoreUnavailable } from '../store/store-errors.js';
import type { Store } from '../store/store.js';
import { PUBLIC_URL_SETTING } from '../app/startup.js';

/**
 * Commands that run without an existing installation: `serve` and `migrate` create one (database and
 * keyring), `import` loads an export into a new database, `verify` and `verify-report` work offline on
 * files, and `hl7 send` is a client of a running server's MLLP listener.
 */
const WITHOUT_INSTALLATION = new Set(['serve', 'migrate', 'import', 'verify', 'verify-report']);
/** Subcommands that only talk to a server over the network (`hl7 send` is an MLLP client). */
const CLIENT_ONLY = new Set(['hl7 send']);

/** The top-level command `action` belongs to (`users` for `users invite`). */
export function topLevelName(action: Command): string {
  let c = action;
  while (c.parent?.parent) c = c.parent;
  return c.name();
}

export function needsInstallation(action: Command): boolean {
  if (action.parent?.parent && CLIENT_ONLY.has(`${action.parent.name()} ${action.name()}`)) return false;
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

/**
 * Where links the CLI prints must point: the public URL the server recorded at its last start (the
 * CLI's own default knows nothing of the server's port). An explicit SEALPOST_PUBLIC_URL wins, with a
 * warning on stderr when it differs from the recorded one.
 */
export async function serverPublicUrl(config: Config, store: Store, warn: (line: string) => void): Promise<string> {
  const recorded = await store.read.settings.get(PUBLIC_URL_SETTING);
  const explicit = process.env.SEALPOST_PUBLIC_URL !== undefined;
  if (recorded === undefined) {
    if (!explicit)
      warn(
        `sealpost: warning: the server has not recorded its public URL (it does at each start); links use ${config.publicUrl}: set SEALPOST_PUBLIC_URL if the server answers elsewhere`,
      );
    return config.publicUrl;
  }
  if (explicit && recorded !== config.publicUrl)
    warn(
      `sealpost: warning: SEALPOST_PUBLIC_URL (${config.publicUrl}) differs from the URL the server recorded at its last start (${recorded}); links use SEALPOST_PUBLIC_URL`,
    );
  return explicit ? config.publicUrl : recorded;
}
