import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import { afterAll, describe, expect, it } from 'vitest';
import { leafHash } from '../merkle.js';
import { formatCheckpoint, signNote, verifierKey } from '../checkpoint.js';
import { jwkSet } from '../../crypto/notary.js';
import { categorise, deriveFacts, type ParsedEntry } from './report-facts.js';
import { signReport } from './report-signature.js';
import { verifyReportDir } from './report-verify.js';

const ORIGIN = 'sealpost.example/audit';
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A one-entry report, self-consistent, signed with freshly made keys (what a forger can do). */
async function forge(over: { scope?: Record<string, unknown>; entry?: Partial<ParsedEntry> } = {}) {
  const notary = generateKeyPairSync('ed25519');
  const cpk = generateKeyPairSync('ed25519');
  const entry = canonicalize({
    v: 1,
    at: '2031-01-01T10:00:00.000Z',
    tenant: 'default',
    actor: 'user:someone-else',
    action: 'patient.read',
    outcome: 'success',
    target: null,
    patient: 'ref-x',
    request: null,
    ip: null,
    details: null,
    ...over.entry,
  })!;
  const note = signNote(formatCheckpoint(ORIGIN, 1, leafHash(Buffer.from(entry, 'utf8'))), ORIGIN, cpk.privateKey);
  const lookups = { notificationTypes: {}, templateFields: {} };
  const parsed = [JSON.parse(entry) as ParsedEntry];
  const report = {
    format: 'sealpost-access-report-v1',
    id: 'r-1',
    createdAt: '2031-01-02T00:00:00Z',
    organisation: 'X',
    tenant: 'default',
    window: { from: '2031-01-01T00:00:00.000Z', to: '2031-01-02T00:00:00.000Z' },
    scope: over.scope ?? { kind: 'tenant' },
    checkpoint: { size: 1, note },
    lookups,
    facts: deriveFacts(parsed, lookups),
    patients: { count: 1 },
    entries: [{ index: 0, entry, category: categorise(parsed[0]), inclusion: [] }],
  };
  const json = Buffer.from(JSON.stringify(report));
  const signer = {
    keyId: 'k1',
    alg: 'EdDSA' as const,
    publicKey: notary.publicKey,
    sign: async (d: Uint8Array) => sign(null, d, notary.privateKey),
  };
  const sig = await signReport(signer, verifierKey(ORIGIN, cpk.publicKey), 'r-1', new Date(), { 'report.json': json });
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-forged-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'report.json'), json);
  writeFileSync(join(dir, 'report.sig.json'), JSON.stringify(sig));
  return { dir, notary, cpk };
}

describe('verify-report trust', () => {
  it('never calls a report authentic without pinned keys: a forgery with keys of its own is only self-consistent', async () => {
    const { dir } = await forge();
    const v = verifyReportDir(dir);
    expect(v).toMatchObject({ ok: false, consistent: true, pinned: false, problems: [] });
  });

  it("refuses a forged report against the installation's published key set", async () => {
    const { dir } = await forge();
    const real = generateKeyPairSync('ed25519');
    const published = {
      ...jwkSet([
        {
          keyId: 'k1',
          alg: 'EdDSA',
          publicKey: real.publicKey,
          status: 'current',
          createdAt: '2020-01-01T00:00:00Z',
          notBefore: '2020-01-01T00:00:00Z',
        } as never,
      ]),
      checkpointKey: verifierKey(ORIGIN, generateKeyPairSync('ed25519').publicKey),
    };
    const v = verifyReportDir(dir, published);
    expect(v).toMatchObject({ ok: false, consistent: false, pinned: true });
    expect(v.problems[0]).toBe('the notary key is not the published key with this id');
  });

  it('is authentic when the keys it was signed with are the pinned ones', async () => {
    const { dir, notary, cpk } = await forge();
    const published = {
      ...jwkSet([
        {
          keyId: 'k1',
          alg: 'EdDSA',
          publicKey: notary.publicKey,
          status: 'current',
          createdAt: '2020-01-01T00:00:00Z',
          notBefore: '2020-01-01T00:00:00Z',
        } as never,
      ]),
      checkpointKey: verifierKey(ORIGIN, cpk.publicKey),
    };
    expect(verifyReportDir(dir, published)).toMatchObject({ ok: true, consistent: true, pinned: true, problems: [] });
  });

  it('refuses a user scope naming a device no registration entry gives the person', async () => {
    const { dir } = await forge({
      scope: { kind: 'user', value: 'u1', devices: ['dev-1'] },
      entry: { actor: 'device:dev-1' },
    });
    const v = verifyReportDir(dir);
    expect(v.consistent).toBe(false);
    expect(v.problems).toContain("the scope's devices differ from the device registrations");
  });
});
