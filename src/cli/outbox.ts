import type { Command } from 'commander';
import { loadConfig } from '../config/load-config.js';
import { openStore } from '../store/open-store.js';
import { openKeyProvider } from '../crypto/open-key-provider.js';
import { outboxSealer } from '../channels/dev-outbox/outbox-sealer.js';
import { openOutboxRow } from '../channels/dev-outbox/dev-outbox-channel.js';
import { DEFAULT_TENANT } from '../core/domain.js';

/** `sealpost outbox`: what the dev-outbox channels have "sent", opened with the keyring, for development. */
export function outboxCommand(program: Command): void {
  program
    .command('outbox')
    .description('Print what the dev-outbox channels have "sent" (newest last)')
    .option('-n, --limit <n>', 'how many messages', '20')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { limit: string; json?: boolean }) => {
      const config = loadConfig();
      const { provider: keyring } = await openKeyProvider(config.keys);
      const sealer = outboxSealer(keyring);
      await keyring.close();
      const store = openStore(config.database, { sqliteDurability: 'full' });
      await store.migrate();
      const limit = Math.max(1, Math.min(10_000, Number(opts.limit) || 20));
      const all = await store.read.outbox.list(DEFAULT_TENANT, 0, 1_000_000);
      await store.close();
      for (const r of all.slice(-limit)) {
        const item = openOutboxRow(r, sealer);
        if (opts.json) console.log(JSON.stringify(item));
        else
          console.log(
            `#${item.id} ${item.createdAt} ${item.channel} → ${item.recipient}${item.subject ? `\n  subject: ${item.subject}` : ''}\n  ${item.body}\n`,
          );
      }
    });
}
