import type { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import pino from 'pino';
import { loadConfig } from '../config/load-config.js';
import { buildApp } from '../app.js';
import { createLogger } from '../logger.js';
import { AppError } from '../core/errors.js';
import { DEFAULT_TENANT } from '../core/domain.js';
import { writeReportDir, type NoticeContacts } from '../audit/privacy/report-render.js';
import { verifyReportDir, type ReportVerification } from '../audit/privacy/report-verify.js';
import type { JwkSet } from '../crypto/proof-verifier.js';

interface AccessOptions {
  from: string;
  to: string;
  user?: string;
  apiKey?: string;
  address?: string;
  patients?: string;
  tenant: string;
  out: string;
  discovered?: string;
  contactPhone?: string;
  contactEmail?: string;
  contactWeb?: string;
  contactPostal?: string;
  pdf: boolean;
  json?: boolean;
}

/** Patient ids from a file: a JSON array, or one id per line (blank lines and `#` comments skipped). */
function readPatients(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  if (text.trimStart().startsWith('[')) {
    const v = JSON.parse(text) as unknown;
    if (!Array.isArray(v)) throw new AppError('SP_PRIVACY_REPORT_INVALID', 'patients: the file is not a JSON array');
    return v as string[];
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

/** SEALPOST_ORGANISATION_CONTACT as the notice's contact: a phone number, an e-mail address or a web address. */
function configuredContact(contact: string): NoticeContacts {
  const c = contact.trim();
  if (!c) return {};
  if (/^https?:\/\/|^www\./i.test(c)) return { web: c };
  if (c.includes('@')) return { email: c };
  // Only a number is a telephone number: the default ("your care team") and other words are no contact.
  return /\d{3}/.test(c) ? { phone: c } : {};
}

/**
 * `sealpost report access` (the breach investigation report, written and signed in a directory) and
 * `sealpost verify-report` (its offline check, no installation needed).
 */
export function reportCommands(program: Command): void {
  const report = program.command('report').description('Reports over the audit log (breach investigation)');
  report
    .command('access')
    .description(
      'Every access and disclosure in a window and scope, the patients affected, the kinds of information, notifications by channel kind, sign-ins and sessions; ' +
        'each entry with its inclusion proof to a fresh signed checkpoint, signed by the notary key. Writes report.json, report.sig.json, report.html, report.pdf (when Chromium is installed) and notice.html (HIPAA 164.404(c)); audited as privacy.report_run',
    )
    .requiredOption('--from <iso>', 'start of the window (ISO 8601 with offset, inclusive)')
    .requiredOption('--to <iso>', 'end of the window (exclusive; at most 366 days after --from)')
    .option('--user <id>', "scope: one person's actions (and changes to their account)")
    .option('--api-key <id>', "scope: one API key's actions")
    .option('--address <ip>', 'scope: requests from one network address')
    .option('--patients <file>', 'scope: entries about these patients (a file of ids, one a line, or a JSON array)')
    .option('--tenant <tenant>', 'tenant id', DEFAULT_TENANT)
    .requiredOption('--out <dir>', 'directory to write the report to (created if missing)')
    .option('--discovered <date>', 'date the breach was discovered, for the notice')
    .option('--contact-phone <number>', 'toll-free number for the notice (default: from SEALPOST_ORGANISATION_CONTACT)')
    .option('--contact-email <address>', 'e-mail address for the notice')
    .option('--contact-web <url>', 'web site for the notice')
    .option('--contact-postal <address>', 'postal address for the notice')
    .option('--no-pdf', 'do not print report.pdf')
    .option('--json', 'print the result as JSON')
    .action(async (o: AccessOptions) => {
      const config = loadConfig();
      const patients = o.patients !== undefined ? readPatients(o.patients) : undefined;
      const app = await buildApp(config, { logger: createLogger('warn', pino.destination(2)), deferDatabase: true });
      try {
        await app.connect();
        const svc = app.services.privacyReports;
        const ctx = { tenantId: o.tenant, actor: `cli:${process.env.USER ?? 'unknown'}` };
        const r = await svc.run(
          ctx,
          { from: o.from, to: o.to, user: o.user, apiKey: o.apiKey, address: o.address, patients },
          { showPatientIds: true },
        );
        const contacts: NoticeContacts = {
          ...configuredContact(config.organisationContact),
          ...(o.contactPhone ? { phone: o.contactPhone } : {}),
          ...(o.contactEmail ? { email: o.contactEmail } : {}),
          ...(o.contactWeb ? { web: o.contactWeb } : {}),
          ...(o.contactPostal ? { postal: o.contactPostal } : {}),
        };
        const written = await writeReportDir(r, o.out, {
          signer: svc.signer(),
          checkpointKey: svc.checkpointKey(),
          contacts,
          discoveredAt: o.discovered,
          pdf: o.pdf,
          now: new Date(),
        });
        if (written.pdfSkipped) process.stderr.write(`${written.pdfSkipped}\n`);
        const out = {
          report: r.id,
          dir: o.out,
          files: [...written.files, 'report.sig.json'],
          entries: r.facts.entries,
          patients: r.patients.count,
          checkpointSize: r.checkpoint.size,
          ...(written.pdfSkipped ? { pdfSkipped: written.pdfSkipped } : {}),
        };
        if (o.json) console.log(JSON.stringify(out));
        else
          console.log(
            `report ${r.id}: ${out.entries} entries, ${out.patients} patients affected, checkpoint ${out.checkpointSize}; written to ${o.out} (${out.files.join(', ')})`,
          );
      } finally {
        await app.close();
      }
    });

  program
    .command('verify-report <dir>')
    .description(
      'Check a report directory offline: the notary signature, and with --keys that the notary and checkpoint keys are the published ones and the notary key was valid; the manifest hashes of report.json, report.html, report.pdf and notice.html, ' +
        'the checkpoint signature, every inclusion proof, that each entry is in the scope and window, and the facts recomputed from the entries. ' +
        'Exit 0: authentic (all checks pass against the pinned keys); 1: a check failed (the first failure named); 2: consistent but NOT authenticated, as no --keys were given (anyone can sign a report with keys of their own)',
    )
    .option(
      '--keys <file>',
      'the published key set to pin (/.well-known/sealpost-keys.json, or `sealpost keys published --out <file>` on the installation)',
    )
    .option('--json', 'print the result as JSON')
    .action((dir: string, o: { keys?: string; json?: boolean }) => {
      let keys: JwkSet | undefined;
      let v: ReportVerification;
      try {
        if (o.keys) keys = readKeySet(o.keys);
        v = verifyReportDir(dir, keys);
      } catch (e) {
        v = { ok: false, consistent: false, pinned: false, problems: [(e as Error).message], checks: [] };
      }
      if (o.json) console.log(JSON.stringify(v));
      else if (v.ok) {
        console.log(`report ${v.reportId} OK: ${v.entries} entries, against the pinned keys`);
        for (const c of v.checks) console.log(`  ✓ ${c}`);
      } else if (v.consistent) {
        console.log(
          `report ${v.reportId} NOT AUTHENTICATED: the keys were not pinned (self-consistency only: it verifies against the keys it carries, which anyone can make). ` +
            'Pass --keys <sealpost-keys.json>: the published key set (GET /.well-known/sealpost-keys.json over HTTPS, or `sealpost keys published --out <file>` on the installation)',
        );
        for (const c of v.checks) console.log(`  ✓ ${c}`);
      } else {
        console.log(`report FAILED verification: ${v.problems[0]}`);
        for (const p of v.problems.slice(1)) console.log(`  ${p}`);
      }
      process.exitCode = v.ok ? 0 : v.consistent ? 2 : 1;
    });
}

/** A key set file: a JSON object with a `keys` array (a JWK Set), as the well-known document is. */
function readKeySet(file: string): JwkSet {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new Error('--keys: not a readable JSON file');
  }
  if (!v || typeof v !== 'object' || !Array.isArray((v as JwkSet).keys))
    throw new Error('--keys: not a key set (a JSON object with a keys array, as /.well-known/sealpost-keys.json)');
  return v as JwkSet;
}

/**
 * `sealpost keys published --out <file>`: the key set /.well-known/sealpost-keys.json serves, from the
 * installation itself (no server needed), to pin with `sealpost verify-report --keys`.
 */
export function publishedKeysCommand(keys: Command): void {
  keys
    .command('published')
    .description(
      "Write the published key set (what /.well-known/sealpost-keys.json serves: every notary key with its validity, and the checkpoint key) for `sealpost verify-report --keys` and `sealpost verify --keys`; run with the server's SEALPOST_PUBLIC_URL (the checkpoint key is named after it)",
    )
    .requiredOption('--out <file>', 'file to write the key set to (JSON)')
    .action(async (o: { out: string }) => {
      const config = loadConfig();
      const app = await buildApp(config, { logger: createLogger('warn', pino.destination(2)), deferDatabase: true });
      try {
        await app.connect();
        const set = app.services.privacyReports.publishedKeys();
        writeFileSync(o.out, `${JSON.stringify(set, null, 1)}\n`);
        console.log(`${set.keys.length} notary keys and the checkpoint key written to ${o.out}`);
      } finally {
        await app.close();
      }
    });
}
