import type { Command } from 'commander';
import { loadConfig } from '../config/load-config.js';
import { exportDatabase } from '../store/transfer/export-database.js';
import { importDatabase } from '../store/transfer/import-database.js';

/**
 * `sealpost export` and `sealpost import`: the whole database to a file and back, the way from one backend
 * to the other (see docs/migrating-to-postgres.md). Two top-level commands, registered together.
 */
export function transferCommands(program: Command): void {
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
}
