import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/load-config.js';
import type { Config } from '../config/config.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { DEFAULT_TENANT } from '../core/domain.js';
import { AppError } from '../core/errors.js';
import { ArchiveStore, createArchiveKey, defaultKeyFile, readArchiveKey } from './archiver-store.js';
import { auditExport, ensureArchiver } from './archiver-identity.js';
import { runArchiver } from './archiver-run.js';
import { readState, stateFile, writeState } from './archiver-state.js';

const actor = () => `cli:${process.env.USER ?? 'unknown'}`;

const defaultDir = (config: Config, tenantId: string) => join(config.dataDir, 'archive', tenantId);

async function withStore<T>(fn: (store: Store, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const store = openStore(config.database, { sqliteDurability: 'full' });
  try {
    await store.migrate();
    return await fn(store, config);
  } finally {
    await store.close();
  }
}

interface DirOpts {
  tenant: string;
  dir?: string;
  keyFile?: string;
}

/**
 * `sealpost archiver init|run|export`: the tenant's archive member (retention for compliance, legal
 * hold, e-discovery; docs/archiver.md). It is a real MLS member with a device of its own, in the
 * transparency log and in the roster of every conversation it joins; what it decrypts it keeps
 * encrypted under its own key, and a recall does not remove a message from it.
 */
export function archiverCommand(program: Command): void {
  const cmd = program
    .command('archiver')
    .description(
      "The tenant's archive member: a messaging device that keeps decrypted copies of every conversation it is in, encrypted under its own key, for legal hold and e-discovery (docs/archiver.md)",
    );

  cmd
    .command('init')
    .description(
      "Create the tenant's archiver (a user of role archiver that cannot sign in) and its archive directory with a fresh 256-bit archive key; the archiver joins new conversations once the messaging policy has archive on",
    )
    .option('--tenant <id>', 'tenant', DEFAULT_TENANT)
    .option('--dir <path>', 'archive directory (default: <SEALPOST_DATA_DIR>/archive/<tenant>)')
    .option(
      '--key-file <path>',
      'where the archive key is created (default: <dir>/archive.key); keep a copy apart from the archive',
    )
    .action(async (opts: DirOpts) => {
      await withStore(async (store, config) => {
        const dir = opts.dir ?? defaultDir(config, opts.tenant);
        if (existsSync(stateFile(dir))) throw new AppError('SP_REQ_VALIDATION', `${dir}: an archive exists already`);
        const { user, created } = await ensureArchiver(store, opts.tenant, actor(), new Date());
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        createArchiveKey(opts.keyFile ?? defaultKeyFile(dir));
        new ArchiveStore(dir, readArchiveKey(opts.keyFile ?? defaultKeyFile(dir)));
        writeState(dir, { v: 1, tenantId: opts.tenant, userId: user.id, deviceId: null });
        console.log(user.id);
        console.error(
          `${created ? 'created' : 'kept'} archiver ${user.id}; archive in ${dir}; next: \`sealpost archiver run\`, then PUT /v1/messaging/policy with archive: true`,
        );
      });
    });

  cmd
    .command('run')
    .description(
      'Run the archiver: registers its messaging device on first start (key transparency like any device), accepts welcomes, decrypts every event and appends it to the archive; runs until stopped (SIGINT/SIGTERM)',
    )
    .option('--tenant <id>', 'tenant', DEFAULT_TENANT)
    .option('--dir <path>', 'archive directory (default: <SEALPOST_DATA_DIR>/archive/<tenant>)')
    .option('--key-file <path>', 'the archive key (default: <dir>/archive.key)')
    .option('--server <url>', "the server's URL (default: the public URL the server recorded at its last start)")
    .option('--once', 'archive what is waiting, then exit (no live connection)')
    .action(async (opts: DirOpts & { server?: string; once?: boolean }) => {
      const config = loadConfig();
      const dir = opts.dir ?? defaultDir(config, opts.tenant);
      await runArchiver({
        config,
        dir,
        keyFile: opts.keyFile ?? defaultKeyFile(dir),
        tenantId: opts.tenant,
        server: opts.server,
        once: opts.once ?? false,
        actor: actor(),
      });
    });

  cmd
    .command('export')
    .description(
      "Decrypt one conversation's archive for e-discovery as JSON lines in the conversation's order (recalled messages included, each recall a record of its own); audited archive.exported (ids and counts)",
    )
    .requiredOption('--conversation <id>', 'the conversation id')
    .option('--tenant <id>', 'tenant', DEFAULT_TENANT)
    .option('--dir <path>', 'archive directory (default: <SEALPOST_DATA_DIR>/archive/<tenant>)')
    .option('--key-file <path>', 'the archive key (default: <dir>/archive.key)')
    .option('--out <file>', 'write here (0600) instead of stdout')
    .option('--attachments <dir>', 'also write the decrypted attachments there, named by attachment id')
    .action(async (opts: DirOpts & { conversation: string; out?: string; attachments?: string }) => {
      await withStore(async (store, config) => {
        const dir = opts.dir ?? defaultDir(config, opts.tenant);
        const state = readState(dir);
        if (state.tenantId !== opts.tenant)
          throw new AppError('SP_REQ_VALIDATION', `${dir}: the archive of tenant ${state.tenantId}`);
        const archive = new ArchiveStore(dir, readArchiveKey(opts.keyFile ?? defaultKeyFile(dir)));
        const records = archive.read(opts.conversation);
        let files = 0;
        if (opts.attachments) {
          mkdirSync(opts.attachments, { recursive: true, mode: 0o700 });
          for (const r of records)
            if (r.type === 'message')
              for (const a of r.attachments.filter((x) => archive.hasAttachment(opts.conversation, x.id))) {
                writeFileSync(join(opts.attachments, a.id), archive.attachment(opts.conversation, a.id), {
                  mode: 0o600,
                });
                files++;
              }
        }
        // The keys that opened the server's ciphertext are the archive's business, not the export's.
        const exported = records.map((r) =>
          r.type === 'message'
            ? {
                ...r,
                attachments: r.attachments.map(({ key: _k, digest: _d, ...a }) => ({
                  ...a,
                  archived: archive.hasAttachment(opts.conversation, a.id),
                })),
              }
            : r,
        );
        const text = exported.map((r) => JSON.stringify(r) + '\n').join('');
        // The audit entry first: an export that is not on the record does not happen.
        await auditExport(store, {
          tenantId: opts.tenant,
          actor: actor(),
          conversationId: opts.conversation,
          records: records.length,
          attachments: files,
          at: new Date(),
        });
        if (opts.out) writeFileSync(opts.out, text, { mode: 0o600 });
        else process.stdout.write(text);
        console.error(`${records.length} records${opts.attachments ? `, ${files} attachments` : ''}`);
      });
    });
}
