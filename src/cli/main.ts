import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { serveCommand } from './serve.js';
import { migrateCommand } from './migrate.js';
import { outboxCommand } from './outbox.js';
import { auditCommand } from './audit.js';
import { apiKeysCommand } from './api-keys.js';
import { usersCommand } from './users.js';
import { tenantsCommand } from './tenants.js';
import { transferCommands } from './transfer.js';
import { patientsCommand } from './patients.js';
import { keysCommand } from './keys.js';
import { verifyCommand } from './verify.js';
import { hl7Command } from './hl7.js';
import { devicesCommand } from './devices.js';
import { archiverCommand } from './archiver.js';
import { reportCommands } from './report.js';
import { loadConfig } from '../config/load-config.js';
import { needsInstallation, requireInstallation } from './installation.js';
import { describeFailure } from './failure.js';
import type { Config } from '../config/config.js';

/**
 * The `sealpost` program with every command group registered, in the order `--help` lists them.
 * Building it runs nothing, so scripts/cli-doc.ts can render the same help that `--help` prints.
 */
export function buildProgram(): Command {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const program = new Command('sealpost')
    .description(
      'Secure transactional health notifications (configuration: SEALPOST_* environment variables, see docs/configuration.md)',
    )
    .version(pkg.version)
    // Only serve and migrate create an installation; every other command needs the server's.
    .hook('preAction', async (_program, action) => {
      if (needsInstallation(action)) await requireInstallation(loadConfig());
    });
  serveCommand(program);
  migrateCommand(program);
  outboxCommand(program);
  auditCommand(program);
  apiKeysCommand(program);
  usersCommand(program);
  tenantsCommand(program);
  transferCommands(program);
  patientsCommand(program);
  keysCommand(program);
  verifyCommand(program);
  hl7Command(program);
  devicesCommand(program);
  archiverCommand(program);
  reportCommands(program);
  return program;
}

/**
 * Runs the command line (bin/sealpost.js): parses `argv` and dispatches to the command; any error
 * ends the process with exit code 1 and one line on stderr.
 */
export async function run(argv: readonly string[] = process.argv): Promise<void> {
  // Everything Sealpost writes (database, WAL, keys, certificates) is for its own user only.
  process.umask(0o077);
  await buildProgram()
    .parseAsync(argv)
    .catch((e: unknown) => {
      // One line: what failed and the setting to change (coded errors are PHI-free; others print their class).
      let config: Config | undefined;
      try {
        config = loadConfig();
      } catch {
        config = undefined;
      }
      console.error(describeFailure(e, config));
      process.exit(1);
    });
}
