import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import canonicalize from 'canonicalize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { cli } from '../helpers/sealpost-cli.js';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import type { Signer } from '../../src/crypto/signer.js';
import type { JwkSet, NotificationProof, ProofAnchor } from '../../src/crypto/proof-verifier.js';
import { signedHeaderDigest, verifyAnchoredProof } from '../../src/audit/proof-anchor.js';

const root = join(import.meta.dirname, '..', '..');
/** Each CLI run starts a TypeScript process (tsx); on a busy machine that takes a while. Not a timing assertion. */
const CLI_TIMEOUT = 300_000;
const result = {
  type: 'test_result_ready',
  patientId: 'p1',
  data: { testName: 'Lipid panel', orderingClinician: 'Dr. Rivera' },
};

function cliVerify(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/sealpost.js', 'verify', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

/** The proof re-signed by `signer` over `fields` (the anchor is left as it was). */
async function resigned(proof: NotificationProof, signer: Signer, fields: Record<string, unknown>) {
  const signed = canonicalize({ ...fields, keyId: signer.keyId })!;
  return {
    ...proof,
    fields: JSON.parse(signed),
    signed,
    signature: (await signer.sign(Buffer.from(signed))).toString('base64url'),
  } as NotificationProof;
}

describe('proofs anchored in the audit log', () => {
  let h: Harness;
  let keys: JwkSet;
  let old: Signer;
  let genuine: NotificationProof;
  const write = (name: string, value: unknown) => {
    const f = join(h.dataDir, name);
    writeFileSync(f, typeof value === 'string' ? value : JSON.stringify(value));
    return f;
  };

  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_KEY_REFRESH_SECONDS: '1' });
    await h.request('PUT', '/v1/patients/p1', samplePatient());
    // Whoever keeps a copy of the keyring holds the notary key that a rotation retires below.
    old = LocalKeyring.openOrCreate(join(h.dataDir, 'keyring.json')).keyring.signer();
  });
  afterAll(() => h?.close());

  it(
    'a genuine proof verifies with its anchoring, offline and against a checkpoint an outsider saved earlier',
    async () => {
      const earlier = await h.request('GET', '/v1/audit/checkpoint');
      expect(earlier.status).toBe(200);
      const sent = await h.request('POST', '/v1/notifications', result);
      expect(sent.status).toBe(202);
      const r = await h.request('GET', `/v1/notifications/${sent.body.id}/proof`);
      genuine = r.body;
      const anchor = genuine.anchor as ProofAnchor;
      expect(anchor).toMatchObject({ status: 'anchored', index: expect.any(Number) });
      expect(JSON.parse(anchor.entry)).toMatchObject({
        action: 'notification.created',
        target: { type: 'notification', id: sent.body.id },
        details: { signedHash: signedHeaderDigest(genuine.signed) },
      });
      for (const phi of ['"p1"', 'Lipid', 'Rivera', 'Ana', 'Lopez', '1980-04-02']) expect(r.text).not.toContain(phi);
      keys = (await h.request('GET', '/.well-known/sealpost-keys.json', undefined, { authorization: '' })).body;
      expect(keys.checkpointKey).toMatch(/^[^+]+\+[0-9a-f]{8}\+/);

      const keysFile = write('keys.json', keys);
      const proofFile = write('genuine.json', genuine);
      const offline = await cliVerify([proofFile, '--keys', keysFile]);
      expect([offline.code, offline.out]).toEqual([0, expect.stringContaining('proof OK')]);
      expect(offline.out).toContain('the creation audit entry commits to the signed header');
      expect(offline.out).toContain('the checkpoint is signed by the published checkpoint key');

      // The outsider's checkpoint is older than the proof's: the consistency proof is fetched, or supplied.
      const savedFile = write('saved-checkpoint.txt', earlier.text);
      const sizeThen = Number(earlier.text.split('\n')[1]);
      expect(sizeThen).toBeLessThan(anchor.treeSize);
      const fetched = await cliVerify([
        proofFile,
        '--keys',
        keysFile,
        '--checkpoint',
        savedFile,
        '--url',
        h.url,
        '--token-file',
        write('token', h.apiKey),
        '--ca',
        write('ca.pem', h.cert),
      ]);
      expect([fetched.code, fetched.out]).toEqual([
        0,
        expect.stringContaining(`consistent with the saved checkpoint of size ${sizeThen}`),
      ]);
      const c = await h.request('GET', `/v1/audit/proof/consistency?from=${sizeThen}&to=${anchor.treeSize}`);
      const supplied = await cliVerify([
        proofFile,
        '--keys',
        keysFile,
        '--checkpoint',
        savedFile,
        '--consistency',
        write('consistency.json', c.body),
      ]);
      expect([supplied.code, supplied.out]).toEqual([
        0,
        expect.stringContaining('consistent with the saved checkpoint'),
      ]);
      const none = await cliVerify([proofFile, '--keys', keysFile, '--checkpoint', savedFile]);
      expect([none.code, none.out]).toEqual([
        1,
        expect.stringContaining('a consistency proof between the saved checkpoint'),
      ]);
    },
    CLI_TIMEOUT,
  );

  it(
    'a proof back-dated with a retired key fails, and so does a forged proof whose entry is not in the log',
    async () => {
      const rotated = await cli({ SEALPOST_DATA_DIR: h.dataDir }, ['keys', 'rotate', '--what', 'signing']);
      expect(rotated.code).toBe(0);
      keys = await eventually(async () => {
        const r = await h.request('GET', '/.well-known/sealpost-keys.json');
        return (
          r.body.keys.some((k: { kid: string; status: string }) => k.kid === old.keyId && k.status === 'retired') &&
          r.body
        );
      }, 'the server publishes the old key as retired');
      // Dated inside the old key's validity, so the key check alone passes: a priority the notification never had…
      const backDated = await resigned(genuine, old, { ...genuine.fields, priority: 'urgent' });
      const r1 = verifyAnchoredProof(backDated, keys);
      expect(r1.ok).toBe(false);
      expect(r1.problems).toEqual(['the audit entry is not the creation entry of this signed header']);
      // …or a notification that never existed, dated before the rotation.
      const never = await resigned(genuine, old, { ...genuine.fields, id: 'n-never-sent' });
      expect(verifyAnchoredProof({ ...never, notificationId: 'n-never-sent' }, keys).problems).toEqual([
        'the audit entry is not the creation entry of this signed header',
      ]);
      // A creation entry made up to commit to the forged header is not in the log.
      const anchor = genuine.anchor as ProofAnchor;
      const entry = JSON.parse(anchor.entry);
      entry.details.signedHash = signedHeaderDigest(backDated.signed);
      const madeUp = { ...backDated, anchor: { ...anchor, entry: canonicalize(entry)! } };
      expect(verifyAnchoredProof(madeUp, keys).problems).toEqual([
        'the creation entry is not in the log of the anchor checkpoint (inclusion proof fails)',
      ]);
      const cliOut = await cliVerify([write('made-up.json', madeUp), '--keys', write('keys2.json', keys)]);
      expect([cliOut.code, cliOut.out]).toEqual([1, expect.stringContaining('inclusion proof fails')]);
      // Without an anchor at all.
      expect(verifyAnchoredProof({ ...genuine, anchor: undefined }, keys).problems).toEqual(['no audit-log anchor']);
      expect(verifyAnchoredProof({ ...genuine, anchor: { status: 'pending' } }, keys).problems[0]).toMatch(/pending/);
    },
    CLI_TIMEOUT,
  );

  it(
    'a log rewritten after an outsider saved a checkpoint fails the consistency check',
    async () => {
      // An outsider keeps a checkpoint that covers the notification's creation entry.
      const outsider = (await h.request('GET', '/v1/audit/checkpoint')).text;
      expect(Number(outsider.split('\n')[1])).toBeGreaterThan((genuine.anchor as ProofAnchor).index);
      // Later, whoever runs the server rewrites that entry to commit to a forgery dated back then,
      // rebuilds the tree and signs fresh checkpoints with the (unchanged) checkpoint key.
      const forged = await resigned(genuine, old, { ...genuine.fields, priority: 'urgent' });
      const anchor = genuine.anchor as ProofAnchor;
      const entry = JSON.parse(anchor.entry);
      entry.details.signedHash = signedHeaderDigest(forged.signed);
      const text = canonicalize(entry)!;
      const leaf = createHash('sha256')
        .update(Buffer.from([0]))
        .update(text, 'utf8')
        .digest();
      const db = new Sqlite(join(h.dataDir, 'sealpost.db'));
      db.pragma('busy_timeout = 10000');
      db.transaction(() => {
        db.prepare('update audit_entries set entry = ?, leaf_hash = ? where idx = ?').run(text, leaf, anchor.index + 1);
        db.prepare('delete from audit_nodes').run();
        db.prepare('delete from audit_checkpoints').run();
        db.prepare(`update audit_log_state set value = 0 where name = 'integrated_size'`).run();
      })();
      db.close();
      expect((await h.request('POST', '/v1/audit/checkpoints')).status).toBe(201);
      const reanchored = (await h.request('GET', `/v1/notifications/${genuine.notificationId}/proof`)).body;
      const rewritten = { ...forged, anchor: reanchored.anchor };
      // Offline alone, the rewritten log vouches for the forgery…
      expect(verifyAnchoredProof(rewritten, keys)).toMatchObject({ ok: true });
      // …but not against the checkpoint the outsider saved before.
      const proofFile = write('rewritten.json', rewritten);
      const out = await cliVerify([
        proofFile,
        '--keys',
        write('keys3.json', keys),
        '--checkpoint',
        write('outsider.txt', outsider),
        '--url',
        h.url,
        '--token-file',
        write('token', h.apiKey),
        '--ca',
        write('ca.pem', h.cert),
      ]);
      expect(out.code).toBe(1);
      expect(out.out).toContain('the log was rewritten');
    },
    CLI_TIMEOUT,
  );
});
