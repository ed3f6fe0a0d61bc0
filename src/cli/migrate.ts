import type { Command } from 'commander';
import { loadConfig } from '../config/load-config.js';
import { openStore } from '../store/open-store.js';

/** `sealpost migrate`: apply pending migrations and exit, for deployments that migrate before they serve. */
export function migrateCommand(program: Command): void {
  program
    .command('migrate')
    .description(
      'Apply pending database migrations and exit (serve also does this at start); on a new installation it creates the database, and the first `serve` the keyring. Other commands need both and never create them',
    )
    .action(async () => {
      const config = loadConfig();
      const store = openStore(config.database, { sqliteDurability: 'full' });
      const applied = await store.migrate();
      await store.close();
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    });
}
