import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config/load-config.js';
import { buildApp } from '../app.js';
import { openStore } from '../store/open-store.js';
import { openKeyProvider } from '../crypto/open-key-provider.js';
import { keysCommand } from './keys.js';
import { outboxSealer } from '../crypto/outbox-sealer.js';
import { openOutboxRow } from '../channels/dev-outbox/dev-outbox-channel.js';
import { loadOrCreateTls, reloadTls } from '../api/tls.js';
import { apiKeysCommand } from './api-keys.js';
import { usersCommand } from './users.js';
import { tenantsCommand } from './tenants.js';
import type { Server as TlsServer } from 'node:tls';
import { isAppError } from '../core/errors.js';
import { verifyAuditLog } from '../audit/audit-verifier.js';
import { verifyProof, type JwkSet, type ProofReport } from '../crypto/proof-verifier.js';
import { patientsCommand } from './patients.js';
import { exportDatabase } from '../store/transfer/export-database.js';
import { importDatabase } from '../store/transfer/import-database.js';
import { DEFAULT_TENANT } from '../core/domain.js';

// Everything Sealpost writes (database, WAL, keys, certificates) is for its own user only.
process.umask(0o077);

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
const program = new Command('sealpost')
  .description(
    'Secure transactional health notifications (configuration: SEALPOST_* environment variables, see docs/configuration.md)',
  )
  .version(pkg.version);

program
  .command('serve')
  .description('Run the HTTPS API, the patient portal and the delivery worker (what `npm start` runs)')
  .action(async () => {
    const config = loadConfig();
    const tls = await loadOrCreateTls(config.dataDir, config.tls.certFile, config.tls.keyFile);
    // Listen first, then connect: while the database is unreachable, /healthz answers and /readyz says 503.
    const app = await buildApp(config, { https: tls, deferDatabase: true });
    if (tls.generated)
      app.logger.info({ file: join(config.dataDir, 'tls-cert.pem') }, 'generated a self-signed TLS certificate');
    await app.server.listen({ host: config.host, port: config.port });
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      app.logger.info({ signal }, 'shutting down');
      await app.close();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
    // Certificate renewal without downtime: new connections get the new pair, open ones keep theirs.
    process.on('SIGHUP', () => void reloadTls(app.server.server as unknown as TlsServer, tls, app.logger));
    await app.connect();
    if (app.bootstrapKey)
      app.logger.info(
        { file: join(config.dataDir, 'bootstrap-api-key') },
        'first start: bootstrap API key written (mode 0600)',
      );
    app.start();
    app.logger.info(
      {
        url: config.publicUrl,
        port: (app.server.server.address() as { port: number }).port,
        backend: app.store.backend,
      },
      'sealpost is serving',
    );
  });

program
  .command('migrate')
  .description('Apply pending database migrations and exit (serve also does this at start)')
  .action(async () => {
    const config = loadConfig();
    const store = openStore(config.database, { sqliteDurability: 'full' });
    const applied = await store.migrate();
    await store.close();
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  });

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

const auditCmd = program
  .command('audit')
  .description('Tamper-evident audit log (RFC 9162 Merkle tree with signed checkpoints)');
auditCmd
  .command('verify')
  .description(
    'Recompute the Merkle tree from every stored entry, check each checkpoint signature and the consistency between consecutive checkpoints; exit 1 and name the first bad index on any mismatch',
  )
  .option('--progress', 'show progress even when stderr is not a terminal')
  .option('--json', 'print the report as JSON')
  .action(async (opts: { progress?: boolean; json?: boolean }) => {
    const config = loadConfig();
    const { provider: keyring } = await openKeyProvider(config.keys);
    const auditKey = keyring.auditLogKey().publicKey;
    await keyring.close();
    const store = openStore(config.database, { sqliteDurability: 'full' });
    await store.migrate();
    const showProgress = opts.progress || process.stderr.isTTY;
    const report = await verifyAuditLog(store.read.auditLog, config.audit.origin, auditKey, (done, total) => {
      if (showProgress)
        process.stderr.write(
          `\rverified ${done.toLocaleString('en')} of ${total.toLocaleString('en')} entries (${total ? Math.floor((100 * done) / total) : 100}%)`,
        );
    });
    if (showProgress) process.stderr.write('\n');
    await store.close();
    if (opts.json) console.log(JSON.stringify(report));
    else if (report.ok)
      console.log(`audit log OK: ${report.entries} entries, ${report.checkpoints} checkpoints verified`);
    else {
      console.log(`audit log FAILED verification: first bad index ${report.firstBadIndex}`);
      for (const p of report.problems) console.log(`  ${p}`);
    }
    process.exitCode = report.ok ? 0 : 1;
  });

apiKeysCommand(program);
usersCommand(program);
tenantsCommand(program);

program
  .command('export')
  .description(
    'Write every table of the configured database (SQLite or PostgreSQL) to a file, read in one snapshot; ciphertext is copied as is (see docs/migrating-to-postgres.md)',
  )
  .requiredOption('--out <file>', 'the export file to create (mode 0600); as sensitive as the database itself')
  .option('--force', 'replace the file if it exists')
  .option('--progress', 'show rows per table even when stderr is not a terminal')
  .action(async (opts: { out: string; force?: boolean; progress?: boolean }) => {
    const config = loadConfig();
    const showProgress = opts.progress || process.stderr.isTTY;
    const done = await exportDatabase({
      url: config.database.url,
      out: opts.out,
      force: opts.force,
      onTable: (table, rows) =>
        showProgress && process.stderr.write(`exported ${table}: ${rows.toLocaleString('en')} rows\n`),
    });
    console.log(`exported ${done.rows} rows from ${done.tables} tables (sha256 ${done.sha256})`);
  });

program
  .command('import')
  .description(
    'Load an export into the configured database, which must be new and empty: migrates it, checks the file, then copies everything in one transaction (see docs/migrating-to-postgres.md)',
  )
  .requiredOption('--in <file>', 'the file `sealpost export` wrote')
  .option('--progress', 'show rows per table even when stderr is not a terminal')
  .action(async (opts: { in: string; progress?: boolean }) => {
    const config = loadConfig();
    const showProgress = opts.progress || process.stderr.isTTY;
    const done = await importDatabase({
      database: config.database,
      in: opts.in,
      onTable: (table, rows) =>
        showProgress && process.stderr.write(`imported ${table}: ${rows.toLocaleString('en')} rows\n`),
    });
    console.log(`imported ${done.rows} rows into ${done.tables} tables (sha256 ${done.sha256})`);
  });

patientsCommand(program);

keysCommand(program);

program
  .command('verify')
  .description(
    'Check a notification proof file (GET /v1/notifications/{id}/proof) offline: canonical signed text, notary signature, key id (against --keys when given), content hash and sender signature when present; exit 0 when valid, 1 otherwise',
  )
  .argument('<file>', 'the proof (JSON)')
  .option('--keys <file>', 'a JWK Set (/.well-known/sealpost-keys.json) the signing key must be in')
  .option('--json', 'print the report as JSON')
  .action((file: string, opts: { keys?: string; json?: boolean }) => {
    const read = (f: string, what: string) => {
      try {
        return JSON.parse(readFileSync(f, 'utf8')) as unknown;
      } catch {
        throw new Error(`${what} is not a readable JSON file`);
      }
    };
    let report: ProofReport;
    try {
      report = verifyProof(read(file, 'the proof'), opts.keys ? (read(opts.keys, 'the key set') as JwkSet) : undefined);
    } catch (e) {
      report = { ok: false, problems: [(e as Error).message], checks: [] };
    }
    if (opts.json) console.log(JSON.stringify(report));
    else if (report.ok)
      console.log(
        `proof OK: notification ${report.notificationId} signed ${report.signedAt} with key ${report.keyId}\n${report.checks.map((c) => `  ✓ ${c}`).join('\n')}`,
      );
    else console.log(`proof INVALID:\n${report.problems.map((p) => `  ✗ ${p}`).join('\n')}`);
    process.exitCode = report.ok ? 0 : 1;
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  // Configuration and key errors are PHI-free AppErrors with a code; anything else prints its class only.
  if (isAppError(e)) console.error(`sealpost: ${e.code}: ${e.message}`);
  else
    console.error(
      `sealpost: unexpected error (${(e as Error)?.name ?? 'unknown'})`,
      (e as Error)?.stack?.split('\n')[1] ?? '',
    );
  process.exit(1);
});
