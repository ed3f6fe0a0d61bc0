import type { Command } from 'commander';
import pino from 'pino';
import { loadConfig } from '../config/load-config.js';
import { buildApp } from '../app.js';
import { createLogger } from '../logger.js';
import { AppError } from '../core/errors.js';
import { DEFAULT_TENANT } from '../core/domain.js';

/**
 * `sealpost patients erase <id>`: crypto-shredding from the command line. It builds the same app the
 * server runs (one composition root: same key provider, same store) without listening, erases in one
 * transaction, then completes the shredding synchronously (tenant KEK rotation and destruction of the
 * old version), reporting progress on stderr. Safe to run while servers serve the same database.
 */
export function patientsCommand(program: Command): void {
  const patients = program.command('patients').description('Patients: right to erasure (crypto-shredding)');
  patients
    .command('erase <id>')
    .description(
      'Erase a patient for good: delete its data key and everything derived from its PHI, cancel pending deliveries, keep content-free tombstones, audit it; ' +
        'then rotate the tenant key-encryption key and destroy the old version so backups taken before open with no remaining key',
    )
    .option('--tenant <tenant>', 'tenant id', DEFAULT_TENANT)
    .option('--yes', 'confirm: erasure cannot be undone')
    .option('--json', 'print the result as JSON')
    .action(async (id: string, opts: { tenant: string; yes?: boolean; json?: boolean }) => {
      // Never prompt: erasure is scripted as often as typed, and a prompt would hang a script.
      if (!opts.yes) throw new AppError('SP_PATIENT_ERASE_REQUIRED', 'erasure cannot be undone; pass --yes to confirm');
      const config = loadConfig();
      // Logs (PHI-free) go to stderr so stdout stays the result.
      const app = await buildApp(config, { logger: createLogger('warn', pino.destination(2)), deferDatabase: true });
      try {
        await app.connect();
        const ctx = { tenantId: opts.tenant, actor: `cli:${process.env.USER ?? 'unknown'}` };
        const result = await app.services.patients.erase(ctx, id, { shredInBackground: false });
        const progress = (stage: string, done: number, total: number) => {
          if (process.stderr.isTTY || total)
            process.stderr.write(`\r${stage}: ${done.toLocaleString('en')} of ${total.toLocaleString('en')}`);
        };
        process.stderr.write(`erased (erasure ${result.erasureId}); completing the shredding\n`);
        const shred = await app.services.patients.erasures.completeShredding(opts.tenant, progress);
        process.stderr.write('\n');
        const out = { ...result, ...(await app.services.patients.erasureStatus(ctx, id)), shred };
        if (opts.json) console.log(JSON.stringify(out));
        else
          console.log(
            `patient erased: erasure ${out.erasureId}, ${out.counts.notifications} notifications emptied, ${out.counts.deliveriesCancelled} deliveries cancelled; ` +
              `shredding ${out.shredding}${shred ? ` (data keys re-wrapped under ${shred.keyId}; destroyed ${shred.destroyed.length ? shred.destroyed.join(', ') : 'no older version'})` : ''}`,
          );
      } finally {
        await app.close();
      }
    });
}
