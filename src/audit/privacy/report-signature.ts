/**
 * The notary's signature over a breach investigation report: a signed header (crypto/notary.ts
 * `signHeader`, Ed25519 over RFC 8785 canonical JSON) whose manifest lists the SHA-256 of the exact
 * bytes of report.json and of every rendering (report.html, report.pdf, notice.html), so one
 * signature covers them all and a changed byte in any of them is caught.
 */
import { createHash } from 'node:crypto';
import type { Signer } from '../../crypto/signer.js';
import { b64url, publicJwk, signHeader, type SignedHeaderBase } from '../../crypto/notary.js';

export const SIGNATURE_FORMAT = 'sealpost-report-signature-v1';
export const REPORT_FILES = ['report.json', 'report.html', 'report.pdf', 'notice.html'] as const;
export type ReportFileName = (typeof REPORT_FILES)[number];

export interface ReportHeader extends SignedHeaderBase {
  type: 'sealpost.access_report';
  reportId: string;
  /** When the report was signed, ISO 8601 UTC (the key must have been valid then). */
  signedAt: string;
  /** File name → hex SHA-256 of its exact bytes; report.json always, the others when produced. */
  files: Partial<Record<ReportFileName, string>>;
}

/** report.sig.json */
export interface ReportSignature {
  format: typeof SIGNATURE_FORMAT;
  alg: 'EdDSA';
  keyId: string;
  /** The exact text that was signed: RFC 8785 canonical JSON of `header`. */
  signed: string;
  header: ReportHeader;
  /** base64url Ed25519 signature over the UTF-8 bytes of `signed`. */
  signature: string;
  /** The notary public key as a JWK (as /.well-known/sealpost-keys.json publishes it). */
  publicKey: Record<string, string>;
  /** The C2SP verifier key of the audit log's checkpoints (`<origin>+<key id>+<key>`). */
  checkpointKey: string;
}

export const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export async function signReport(
  signer: Signer,
  checkpointKey: string,
  reportId: string,
  signedAt: Date,
  files: Partial<Record<ReportFileName, Uint8Array>>,
): Promise<ReportSignature> {
  const hashes: Partial<Record<ReportFileName, string>> = {};
  for (const name of REPORT_FILES) {
    const bytes = files[name];
    if (bytes) hashes[name] = sha256Hex(bytes);
  }
  const s = await signHeader<ReportHeader>(signer, {
    type: 'sealpost.access_report',
    reportId,
    signedAt: signedAt.toISOString(),
    files: hashes,
  });
  return {
    format: SIGNATURE_FORMAT,
    alg: 'EdDSA',
    keyId: signer.keyId,
    signed: s.canonical,
    header: s.header,
    signature: b64url(s.signature),
    publicKey: publicJwk(signer.publicKey, signer.keyId, 'EdDSA'),
    checkpointKey,
  };
}
