import type { Command } from 'commander';
import { loadConfig } from '../config/load-config.js';
import { openStore } from '../store/open-store.js';
import { openKeyProvider } from '../crypto/open-key-provider.js';
import { verifyAuditLog } from '../audit/audit-verifier.js';

/**
 * `sealpost audit verify`: recompute the audit Merkle log from the database, check the searchable
 * columns of every row against its entry, and check every checkpoint.
 */
export function auditCommand(program: Command): void {
  const auditCmd = program
    .command('audit')
    .description('Tamper-evident audit log (RFC 9162 Merkle tree with signed checkpoints)');
  auditCmd
    .command('verify')
    .description(
      'Recompute the Merkle tree from every stored entry, check that the columns searches filter by (tenant, time, action, actor, patient reference) match each entry, each checkpoint signature and the consistency between consecutive checkpoints; exit 1 and name the first bad index on any mismatch',
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
}
