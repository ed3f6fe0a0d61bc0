import type { Command } from 'commander';
import { loadConfig } from '../config/load-config.js';
import { openStore } from '../store/open-store.js';
import { openKeyProvider } from '../crypto/open-key-provider.js';
import { LocalKeyring } from '../crypto/local-keyring.js';
import {
  blindIndexesNotAt,
  keyUsage,
  retireKey,
  rotateBlindIndexKey,
  rotateSigningKey,
  rotateTenantKek,
  type RotationProgress,
} from '../core/key-rotation.js';
import { AppError } from '../core/errors.js';
import { DEFAULT_TENANT } from '../core/domain.js';
import { publishedKeysCommand } from './report.js';

/** A one-line progress bar on stderr (redrawn in place); silent unless stderr is a terminal or forced. */
function progressBar(label: string, force: boolean): ((p: RotationProgress) => void) & { end(): void } {
  const on = force || process.stderr.isTTY;
  let drawn = false;
  const draw = (p: RotationProgress) => {
    if (!on) return;
    const pct = p.total ? Math.min(100, Math.floor((100 * p.done) / p.total)) : 100;
    const bar = '#'.repeat(Math.round(pct / 5)).padEnd(20, '.');
    process.stderr.write(
      `\r${label} [${bar}] ${p.done.toLocaleString('en')}/${p.total.toLocaleString('en')} (${pct}%)`,
    );
    drawn = true;
  };
  return Object.assign(draw, { end: () => void (on && drawn && process.stderr.write('\n')) });
}

async function withKeys<T>(fn: (ctx: Awaited<ReturnType<typeof open>>) => Promise<T>): Promise<T> {
  const ctx = await open();
  try {
    return await fn(ctx);
  } finally {
    await ctx.store.close();
    await ctx.provider.close();
  }
}

async function open() {
  const config = loadConfig();
  const { provider } = await openKeyProvider(config.keys);
  const store = openStore(config.database, { sqliteDurability: 'full' });
  await store.migrate();
  return { config, provider, store };
}

/** `sealpost keys …`: list, rotate, retire and seal keys (see docs/security.md, "Rotation"). */
export function keysCommand(program: Command): void {
  const keys = program
    .command('keys')
    .description(
      'Key versions: list, rotate (re-wrap / re-index online), retire, seal the local keyring, write the published key set',
    );

  keys
    .command('list')
    .description(
      'Every key version (never key material): purpose, tenant, version, status and how many stored rows use it',
    )
    .option('--json', 'one JSON object per line')
    .action(async (opts: { json?: boolean }) =>
      withKeys(async ({ provider, store }) => {
        for (const k of provider.listKeys()) {
          const rows = await keyUsage(store, k);
          if (opts.json) console.log(JSON.stringify({ ...k, rows, provider: provider.kind }));
          else
            console.log(
              `${k.keyId}  ${k.purpose}${k.tenantId ? ` (${k.tenantId})` : ''}  v${k.version}  ${k.status}  ${k.createdAt}  rows=${rows}`,
            );
        }
      }),
    );

  keys
    .command('rotate')
    .description(
      'Create a new key version and move stored data to it while the server keeps serving; run again after an interruption to finish',
    )
    .option('--tenant <id>', 'tenant whose key-encryption key rotates', DEFAULT_TENANT)
    .option('--what <kind>', 'kek | signing | blind-index', 'kek')
    .option('--new-version', 'create another version even if an earlier rotation is unfinished')
    .option('--batch <n>', 'rows per transaction', '200')
    .option('--progress', 'show progress even when stderr is not a terminal')
    .action(async (opts: { tenant: string; what: string; newVersion?: boolean; batch: string; progress?: boolean }) =>
      withKeys(async ({ provider, store }) => {
        const batchSize = Math.max(1, Math.min(10_000, Number(opts.batch) || 200));
        const bar = progressBar(
          opts.what === 'blind-index' ? 're-indexing contact points' : 're-wrapping data keys',
          !!opts.progress,
        );
        let r;
        if (opts.what === 'kek') {
          const pending = await store.read.dataKeys.countNotUnder(opts.tenant, provider.currentKeyId(opts.tenant));
          const resume = pending > 0 && !opts.newVersion;
          if (resume) console.error(`resuming: ${pending} data keys are not yet under the current key`);
          r = await rotateTenantKek(store, provider, opts.tenant, {
            batchSize,
            onProgress: bar,
            createVersion: !resume,
          });
        } else if (opts.what === 'blind-index') {
          // Contact points, patient-account contacts and patient identifiers alike.
          const pending = await blindIndexesNotAt(store, provider.blindIndexVersions()[0]!);
          const resume = pending > 0 && !opts.newVersion;
          if (resume) console.error(`resuming: ${pending} blind indexes are not yet under the current blind-index key`);
          r = await rotateBlindIndexKey(store, provider, { batchSize, onProgress: bar, createVersion: !resume });
        } else if (opts.what === 'signing') r = await rotateSigningKey(store, provider);
        else throw new AppError('SP_CONFIG_INVALID', '--what must be kek, signing or blind-index');
        bar.end();
        console.log(
          `${r.created ? 'new current key' : 'current key'} ${r.keyId} (v${r.version}); moved ${r.moved} rows`,
        );
      }),
    );

  keys
    .command('retire <keyId>')
    .description(
      'Destroy a retired key version once no stored row uses it (HSM: C_DestroyObject; keyring: removed from the file)',
    )
    .action(async (keyId: string) =>
      withKeys(async ({ provider, store }) => {
        const info = await retireKey(store, provider, keyId);
        console.log(
          `destroyed ${info.keyId} (${info.purpose} v${info.version})${info.purpose === 'signing' ? '; its public key stays published' : ''}`,
        );
      }),
    );

  keys
    .command('seal')
    .description('Rewrite the local keyring sealed with SEALPOST_KEYRING_PASSPHRASE (scrypt + AES-256-GCM)')
    .action(async () => {
      const config = loadConfig();
      if (config.keys.provider !== 'local')
        throw new AppError('SP_CONFIG_INVALID', 'only the local keyring can be sealed');
      if (!config.keys.passphrase)
        throw new AppError(
          'SP_CRYPTO_PASSPHRASE_REQUIRED',
          'set SEALPOST_KEYRING_PASSPHRASE or SEALPOST_KEYRING_PASSPHRASE_FILE',
        );
      // Opened without the passphrase: an unsealed file opens as is; a sealed one needs it.
      const { keyring } = LocalKeyring.openOrCreate(config.keys.file, { passphrase: config.keys.passphrase });
      await keyring.reseal(config.keys.passphrase);
      console.log('keyring sealed');
    });

  publishedKeysCommand(keys);
}
