/**
 * Offline verification of a breach investigation report directory (`sealpost verify-report`): no
 * server, no database. In order, stopping at nothing but reporting the first failure first:
 * 1. report.sig.json: the signed text is the canonical header, the Ed25519 signature verifies with
 *    the notary key it carries and, given a pinned key set, that key is the published one and was
 *    valid when the report was signed, and the checkpoint key is the published one;
 * 2. the manifest: each file it lists has exactly that SHA-256; report.json is listed; no rendering
 *    lies in the directory unlisted;
 * 3. the checkpoint is signed by the checkpoint key (never the notary key);
 * 4. every entry is in the scope and window and its inclusion proof leads to the checkpoint's root;
 * 5. the facts (counts, patients affected, kinds of information, channels) recomputed from the
 *    entries equal the report's.
 * Without a pinned key set (`keys`) the result is at best `consistent`, never `ok`: the signature
 * then only shows that someone holding the key named in report.sig.json signed it.
 */
import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import { leafHash, verifyInclusion } from '../merkle.js';
import { parseCheckpoint, parseVerifierKey, verifyNote } from '../checkpoint.js';
import { detachedSignatureProblem, ed25519KeyProblem, fromB64url } from '../../crypto/signature-checks.js';
import type { JwkSet } from '../../crypto/proof-verifier.js';
import { inScope, registeredDevice, REPORT_FORMAT, type AccessReport } from './access-report.js';
import { categorise, deriveFacts, type ParsedEntry } from './report-facts.js';
import { REPORT_FILES, SIGNATURE_FORMAT, sha256Hex, type ReportSignature } from './report-signature.js';

export interface ReportVerification {
  /** Authentic: every check passed AND the keys were pinned (`consistent && pinned`). */
  ok: boolean;
  /** Every check passed: the report is consistent with the keys it names (alone, anyone can forge that). */
  consistent: boolean;
  /**
   * The notary and checkpoint keys were checked against a key set the verifier trusts (the published
   * /.well-known/sealpost-keys.json, saved from the installation). Without it `ok` is false even when
   * everything else holds: a forger signs a made-up report with keys of their own.
   */
  pinned: boolean;
  /** What failed, first failure first (no PHI: names, indexes and reasons). */
  problems: string[];
  checks: string[];
  reportId?: string;
  entries?: number;
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Verifies the report files given as bytes (the directory reader below is a thin wrapper). */
export function verifyReportFiles(files: Partial<Record<string, Buffer>>, keys?: JwkSet): ReportVerification {
  const problems: string[] = [];
  const checks: string[] = [];
  const fail = (m: string) => problems.push(m);
  const pinned = keys !== undefined;
  const done = (extra: Partial<ReportVerification> = {}): ReportVerification => ({
    ok: problems.length === 0 && pinned,
    consistent: problems.length === 0,
    pinned,
    problems,
    checks,
    ...extra,
  });

  // 1. The signature.
  let sig: ReportSignature;
  try {
    sig = JSON.parse(files['report.sig.json']?.toString('utf8') ?? 'null');
  } catch {
    sig = null as unknown as ReportSignature;
  }
  if (!sig || sig.format !== SIGNATURE_FORMAT || typeof sig.signed !== 'string' || typeof sig.signature !== 'string') {
    fail('report.sig.json is missing or not a sealpost-report-signature-v1 document');
    return done();
  }
  let header: ReportSignature['header'] | null = null;
  try {
    header = JSON.parse(sig.signed);
  } catch {
    /* below */
  }
  if (!header || canonicalize(header) !== sig.signed) fail('the signed text is not RFC 8785 canonical JSON');
  else if (header.type !== 'sealpost.access_report' || header.v !== 1 || header.keyId !== sig.keyId)
    fail('the signed text is not a v1 access report header of this key');
  const jwk = sig.publicKey ?? {};
  const x = fromB64url(jwk.x);
  if (
    sig.alg !== 'EdDSA' ||
    jwk.kty !== 'OKP' ||
    jwk.crv !== 'Ed25519' ||
    !x ||
    ed25519KeyProblem(x) ||
    jwk.kid !== sig.keyId
  ) {
    fail('the notary key in report.sig.json is not a valid Ed25519 JWK with this key id');
    return done();
  }
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
  const why = detachedSignatureProblem('EdDSA', key, Buffer.from(sig.signed, 'utf8'), sig.signature);
  if (why) fail(`the notary ${why}`);
  else checks.push('the notary signature verifies');
  if (!header || problems.length) return done();

  let checkpointKey = sig.checkpointKey;
  if (keys) {
    const published = Array.isArray(keys.keys) ? keys.keys.find((k) => k.kid === sig.keyId) : undefined;
    const at = Date.parse(header.signedAt);
    const notBefore = (published?.notBefore ?? published?.createdAt) as string | undefined;
    if (!published) fail('the notary key id is not in the pinned key set');
    else if (published.kty !== 'OKP' || published.crv !== 'Ed25519' || published.x !== jwk.x)
      fail('the notary key is not the published key with this id');
    else if (!notBefore || !(at >= Date.parse(notBefore))) fail('the report was signed before the key was valid');
    else if (
      typeof published.retiredAt === 'string'
        ? !(at <= Date.parse(published.retiredAt))
        : published.status !== 'current'
    )
      fail('the report was signed after the key was retired');
    else checks.push('the notary key is the published key and was valid when the report was signed');
    if (typeof keys.checkpointKey !== 'string') fail('the pinned key set has no checkpointKey');
    else if (keys.checkpointKey !== sig.checkpointKey) fail('the checkpoint key is not the published one');
    else checks.push('the checkpoint key is the published one');
    checkpointKey = keys.checkpointKey ?? checkpointKey;
  }

  // 2. The manifest.
  const listed = header.files ?? {};
  if (!listed['report.json']) fail('the manifest does not list report.json');
  for (const name of REPORT_FILES) {
    const want = listed[name];
    const bytes = files[name];
    if (want === undefined) {
      if (bytes) fail(`${name} is not covered by the signature`);
      continue;
    }
    if (!bytes) fail(`${name} is listed in the manifest but missing`);
    else if (sha256Hex(bytes) !== want) fail(`${name} was changed after signing (SHA-256 differs from the manifest)`);
    else checks.push(`${name} matches the manifest`);
  }

  // 3. The report and its checkpoint.
  let r: AccessReport;
  try {
    r = JSON.parse(files['report.json']?.toString('utf8') ?? 'null');
  } catch {
    fail('report.json is not JSON');
    return done();
  }
  if (!r || r.format !== REPORT_FORMAT || !Array.isArray(r.entries) || !r.checkpoint || !r.facts) {
    fail('report.json is not a sealpost-access-report-v1 document');
    return done();
  }
  if (r.id !== header.reportId) fail('report.json is not the report the signature names');
  let vkey: ReturnType<typeof parseVerifierKey> | null = null;
  try {
    vkey = parseVerifierKey(checkpointKey);
  } catch {
    fail('the checkpoint key is not a valid verifier key');
    return done({ reportId: r.id });
  }
  if ((vkey.publicKey.export({ format: 'jwk' }) as { x?: string }).x === jwk.x)
    fail('the checkpoint key is the notary key (they must be distinct)');
  const text = verifyNote(r.checkpoint.note, vkey.name, vkey.publicKey)?.text;
  let cp: ReturnType<typeof parseCheckpoint> | null = null;
  try {
    cp = text ? parseCheckpoint(text) : null;
  } catch {
    cp = null;
  }
  if (!cp || cp.origin !== vkey.name) {
    fail('the checkpoint is not signed by the checkpoint key');
    return done({ reportId: r.id });
  }
  if (cp.size !== r.checkpoint.size) fail('the checkpoint size differs from the report');
  else checks.push(`the checkpoint (size ${cp.size}) is signed by the checkpoint key`);

  // 4. Every entry: in scope, and in the checkpoint's tree.
  const from = Date.parse(r.window?.from);
  const to = Date.parse(r.window?.to);
  const parsed: ParsedEntry[] = [];
  let proofsOk = true;
  let last = -1;
  for (const x of r.entries) {
    let e: ParsedEntry | null = null;
    try {
      e = typeof x.entry === 'string' ? JSON.parse(x.entry) : null;
    } catch {
      e = null;
    }
    const path = Array.isArray(x.inclusion)
      ? x.inclusion.map((h) => (typeof h === 'string' && B64.test(h) ? Buffer.from(h, 'base64') : null))
      : [null];
    if (!e || canonicalize(e) !== x.entry) {
      fail(`entry ${x.index} is not canonical JSON`);
      proofsOk = false;
      continue;
    }
    if (
      !Number.isSafeInteger(x.index) ||
      x.index <= last ||
      path.some((h) => !h || h.length !== 32) ||
      !verifyInclusion(leafHash(Buffer.from(x.entry, 'utf8')), x.index, cp.size, path as Buffer[], cp.root)
    ) {
      fail(`entry ${x.index}: its inclusion proof does not lead to the checkpoint (changed or not in the log)`);
      proofsOk = false;
    }
    if (!inScope(e, r.scope, r.tenant, from, to)) fail(`entry ${x.index} is outside the report's scope or window`);
    if (x.category !== categorise(e)) fail(`entry ${x.index} is filed under the wrong category`);
    last = Number.isSafeInteger(x.index) ? x.index : last;
    parsed.push(e);
  }
  if (proofsOk) checks.push(`all ${r.entries.length} inclusion proofs lead to the checkpoint`);

  // 4b. A person's devices: each shown by its registration entry, proved like the others.
  const regs = r.deviceRegistrations ?? [];
  if (r.scope?.kind !== 'user') {
    if (regs.length || r.scope?.devices) fail('device registrations belong to a user scope only');
  } else {
    const devices = new Set<string>();
    let regsOk = true;
    for (const x of Array.isArray(regs) ? regs : []) {
      let e: ParsedEntry | null = null;
      try {
        e = typeof x.entry === 'string' ? JSON.parse(x.entry) : null;
      } catch {
        e = null;
      }
      const path = Array.isArray(x.inclusion)
        ? x.inclusion.map((h) => (typeof h === 'string' && B64.test(h) ? Buffer.from(h, 'base64') : null))
        : [null];
      const device = e && canonicalize(e) === x.entry ? registeredDevice(e, r.tenant, r.scope.value ?? '', to) : null;
      if (
        !device ||
        !Number.isSafeInteger(x.index) ||
        path.some((h) => !h || h.length !== 32) ||
        !verifyInclusion(leafHash(Buffer.from(x.entry, 'utf8')), x.index, cp.size, path as Buffer[], cp.root)
      ) {
        fail(`device registration ${x.index} is not a registration by this person included in the checkpoint`);
        regsOk = false;
      } else devices.add(device);
    }
    const listed = Array.isArray(r.scope.devices) ? r.scope.devices : [];
    if (canonicalize([...devices].sort()) !== canonicalize(listed))
      fail("the scope's devices differ from the device registrations");
    else if (regsOk) checks.push(`the person's ${listed.length} devices are shown by their registration entries`);
  }

  // 5. The derived facts.
  const facts = deriveFacts(parsed, r.lookups ?? { notificationTypes: {}, templateFields: {} });
  if (canonicalize(facts) !== canonicalize(r.facts)) fail('the facts differ from those recomputed from the entries');
  else checks.push('the facts recompute from the entries');
  const p = r.patients ?? {};
  if (p.count !== facts.patientRefs.length) fail('the number of patients affected differs from the entries');
  else if (p.ids && p.ids.length + (p.erasedRefs?.length ?? 0) + (p.unmatchedRefs?.length ?? 0) !== p.count)
    fail('the patient list does not add up to the number of patients affected');
  else checks.push(`${p.count} patients affected, as the entries say`);
  if (facts.refused.attempts)
    checks.push(
      `${facts.refused.attempts} refused attempts (about ${facts.refused.patientRefs.length} patients) counted apart`,
    );

  return done({ reportId: r.id, entries: r.entries.length });
}

/** Reads the report files of `dir` and verifies them. */
export function verifyReportDir(dir: string, keys?: JwkSet): ReportVerification {
  const files: Record<string, Buffer> = {};
  for (const name of [...REPORT_FILES, 'report.sig.json']) {
    const p = join(dir, name);
    if (existsSync(p)) files[name] = readFileSync(p);
  }
  return verifyReportFiles(files, keys);
}
