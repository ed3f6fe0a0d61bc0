import type { Command } from 'commander';
import { loadConfig } from '../config/load-config.js';
import { openStore } from '../store/open-store.js';
import { createTenant } from '../auth/tenants.js';

/** `sealpost tenants create <id> --name <name>`: prints the new tenant's first admin API key once. */
export function tenantsCommand(program: Command): void {
  const cmd = program
    .command('tenants')
    .description('Tenants: separate organisations on one installation (every row carries its tenant)');
  cmd
    .command('create <id>')
    .description('Create a tenant and print its first administrator API key once on stdout (only its hash is stored)')
    .requiredOption('--name <name>', "the organisation's name")
    .action(async (id: string, opts: { name: string }) => {
      const config = loadConfig();
      const store = openStore(config.database, { sqliteDurability: 'full' });
      try {
        await store.migrate();
        const t = await createTenant(store, id, opts.name, new Date());
        console.log(t.apiKey);
      } finally {
        await store.close();
      }
    });
}
