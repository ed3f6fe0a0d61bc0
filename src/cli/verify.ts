import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { verifyProof, type JwkSet, type ProofReport } from '../crypto/proof-verifier.js';

/** `sealpost verify <proof>`: check a notification proof offline, with no configuration, server or database. */
export function verifyCommand(program: Command): void {
  program
    .command('verify')
    .description(
      'Check a notification proof file (GET /v1/notifications/{id}/proof) offline: canonical signed text, notary signature, key id and its validity at the signing time (notBefore..retiredAt, against --keys when given), content hash and sender signature when present; exit 0 when valid, 1 otherwise',
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
        report = verifyProof(
          read(file, 'the proof'),
          opts.keys ? (read(opts.keys, 'the key set') as JwkSet) : undefined,
        );
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
}
