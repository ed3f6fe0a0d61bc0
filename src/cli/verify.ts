import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { JwkSet, NotificationProof, ProofAnchor, ProofReport } from '../crypto/proof-verifier.js';
import { parseCheckpoint, parseVerifierKey, verifyNote } from '../audit/checkpoint.js';
import { verifyAnchoredProof, type ConsistencyProofFile } from '../audit/proof-anchor.js';

interface VerifyOptions {
  keys?: string;
  checkpoint?: string;
  consistency?: string;
  url?: string;
  tokenFile?: string;
  ca?: string;
  json?: boolean;
}

/** GET <url>/v1/audit/proof/consistency?from&to over HTTPS (the one network call `verify` may make, and only when asked). */
function fetchConsistency(o: VerifyOptions, from: number, to: number): Promise<ConsistencyProofFile> {
  const token = o.tokenFile ? readFileSync(o.tokenFile, 'utf8').trim() : undefined;
  const url = new URL(`/v1/audit/proof/consistency?from=${from}&to=${to}`, o.url);
  if (url.protocol !== 'https:') throw new Error('--url must be https');
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        ...(o.ca ? { ca: readFileSync(o.ca, 'utf8') } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          if (res.statusCode !== 200)
            return reject(new Error(`the server answered ${res.statusCode} for the consistency proof`));
          try {
            resolve(JSON.parse(body));
          } catch {
            reject(new Error('the server answered a consistency proof that is not JSON'));
          }
        });
      },
    );
    req.on('error', (e) =>
      reject(new Error(`cannot fetch the consistency proof (${(e as NodeJS.ErrnoException).code ?? e.message})`)),
    );
    req.end();
  });
}

/** The sizes a consistency proof must cover, when the saved checkpoint and the proof's are both readable. */
function sizes(proof: unknown, saved: string, keys: JwkSet | undefined): [number, number] | null {
  try {
    const a = (proof as NotificationProof).anchor as ProofAnchor;
    const vkey = parseVerifierKey(keys?.checkpointKey as string);
    const text = verifyNote(saved, vkey.name, vkey.publicKey)?.text;
    if (!text || a?.status !== 'anchored') return null;
    const s = parseCheckpoint(text).size;
    return s === a.treeSize ? null : [Math.min(s, a.treeSize), Math.max(s, a.treeSize)];
  } catch {
    return null;
  }
}

/** `sealpost verify <proof>`: check a notification proof offline, with no configuration, server or database. */
export function verifyCommand(program: Command): void {
  program
    .command('verify')
    .description(
      'Check a notification proof file (GET /v1/notifications/{id}/proof) offline: canonical signed text, notary signature, key id and its validity at the signing time (notBefore..retiredAt, against --keys when given), content hash and sender signature when present, and its anchoring in the audit log (the creation entry commits to the signed header and is included in the checkpoint, signed by the checkpoint key of --keys; with --checkpoint, consistent with a checkpoint saved earlier); exit 0 when valid, 1 otherwise',
    )
    .argument('<file>', 'the proof (JSON)')
    .option(
      '--keys <file>',
      'a JWK Set (/.well-known/sealpost-keys.json) the signing key must be in, with checkpointKey',
    )
    .option('--checkpoint <file>', 'a checkpoint saved earlier (GET /v1/audit/checkpoint) the log must still extend')
    .option('--consistency <file>', 'the consistency proof between it and the proof (GET /v1/audit/proof/consistency)')
    .option('--url <url>', 'fetch that consistency proof from this Sealpost (https) instead')
    .option('--token-file <file>', 'with --url: a file holding a bearer token with audit.read')
    .option('--ca <file>', "with --url: the server's CA certificate (PEM)")
    .option('--json', 'print the report as JSON')
    .action(async (file: string, opts: VerifyOptions) => {
      const read = (f: string, what: string, json = true) => {
        let text: string;
        try {
          text = readFileSync(f, 'utf8');
        } catch {
          throw new Error(`${what} is not a readable ${json ? 'JSON ' : ''}file`);
        }
        if (!json) return text;
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw new Error(`${what} is not a readable JSON file`);
        }
      };
      let report: ProofReport;
      try {
        const proof = read(file, 'the proof');
        const keys = opts.keys ? (read(opts.keys, 'the key set') as JwkSet) : undefined;
        const saved = opts.checkpoint ? (read(opts.checkpoint, 'the saved checkpoint', false) as string) : undefined;
        let consistency = opts.consistency
          ? (read(opts.consistency, 'the consistency proof') as ConsistencyProofFile)
          : undefined;
        const need = saved !== undefined && !consistency && opts.url ? sizes(proof, saved, keys) : null;
        if (need) consistency = await fetchConsistency(opts, need[0], need[1]);
        report = verifyAnchoredProof(proof, keys, { savedCheckpoint: saved, consistency });
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
