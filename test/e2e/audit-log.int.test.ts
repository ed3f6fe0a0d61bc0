import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Sqlite from 'better-sqlite3';
import { join } from 'node:path';
import { samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { leafHash, rootFromLeafHashes, verifyConsistency, verifyInclusion } from '../../src/audit/merkle.js';
import { hashChildren } from '../../src/audit/merkle-proofs.js';
import { parseCheckpoint, parseVerifierKey, verifyNote } from '../../src/audit/checkpoint.js';
import { createApiKey } from '../../src/auth/api-keys.js';

/**
 * The transparency-log API of the audit trail, seen from outside: signed checkpoints verify with the
 * published verifier key, proofs verify with the dependency-free src/audit/merkle.ts, and a
 * checkpoint an outside party saved proves a later edit of the stored log.
 */

const ORIGIN = 'sealpost.test/audit';
// Checkpoints only when the test asks for one (the background integrator still issues the very first).
const ENV = {
  SEALPOST_AUDIT_ORIGIN: ORIGIN,
  SEALPOST_AUDIT_CHECKPOINT_SECONDS: '86400',
  SEALPOST_AUDIT_CHECKPOINT_ENTRIES: '10000000',
};

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const hex = (h: Uint8Array) => Buffer.from(h).toString('hex');

interface SavedCheckpoint {
  note: string;
  size: number;
  root: Uint8Array;
}

/** What an outside party does: fetch the key and a fresh checkpoint, verify the signature, keep both. */
async function takeCheckpoint(h: Harness): Promise<SavedCheckpoint> {
  const res = await h.request('POST', '/v1/audit/checkpoints');
  expect(res.status).toBe(201);
  const { publicKey, name } = parseVerifierKey((await h.request('GET', '/v1/audit/checkpoints')).body.verifierKey);
  expect(name).toBe(ORIGIN);
  const verified = verifyNote(res.body.note, ORIGIN, publicKey);
  expect(verified).not.toBeNull();
  const body = parseCheckpoint(verified!.text);
  expect(body.origin).toBe(ORIGIN);
  expect(body.size).toBe(res.body.size);
  expect(hex(body.root)).toBe(hex(b64(res.body.root)));
  return { note: res.body.note, size: body.size, root: body.root };
}

let patientSeq = 0;
/** Audited activity: patients created and updated (each command appends entries in its transaction). */
async function activity(h: Harness, patients: number): Promise<void> {
  for (let i = 0; i < patients; i++) {
    const id = `p${++patientSeq}`;
    expect((await h.request('PUT', `/v1/patients/${id}`, samplePatient())).status).toBe(201);
    expect((await h.request('PUT', `/v1/patients/${id}`, samplePatient({ language: 'es' }))).status).toBeLessThan(300);
  }
}

async function entries(h: Harness, size: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < size; i++) {
    const res = await h.request('GET', `/v1/audit/entries/${i}`);
    expect(res.status).toBe(200);
    expect(res.body.index).toBe(i);
    out.push(res.body.entry);
  }
  return out;
}

const leafOf = (entry: string) => leafHash(Buffer.from(entry, 'utf8'));

describe('audit log API (checkpoints, proofs, entries)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost(ENV);
  });
  afterAll(() => h?.close());

  it('serves C2SP signed checkpoints and RFC 9162 proofs that verify with merkle.ts', async () => {
    await activity(h, 4);
    const cp1 = await takeCheckpoint(h);
    expect(cp1.size).toBeGreaterThan(4);

    // The latest checkpoint is served as the signed note itself.
    const latest = await h.request('GET', '/v1/audit/checkpoint');
    expect(latest.status).toBe(200);
    expect(latest.headers['content-type']).toMatch(/^text\/plain/);
    expect(latest.text).toBe(cp1.note);

    // Every entry hashes to the leaf its inclusion proof proves under the signed root.
    const all1 = await entries(h, cp1.size);
    expect(hex(rootFromLeafHashes(all1.map(leafOf)))).toBe(hex(cp1.root));
    for (let i = 0; i < cp1.size; i++) {
      const p = await h.request('GET', `/v1/audit/proof/inclusion?index=${i}&size=${cp1.size}`);
      expect(p.status).toBe(200);
      expect(p.body.leafHash).toBe(Buffer.from(leafOf(all1[i])).toString('base64'));
      expect(hex(b64(p.body.root))).toBe(hex(cp1.root));
      expect(verifyInclusion(leafOf(all1[i]), i, cp1.size, p.body.proof.map(b64), cp1.root)).toBe(true);
      // …and not for any other leaf or position.
      if (cp1.size > 1) {
        expect(verifyInclusion(leafOf(all1[(i + 1) % cp1.size]), i, cp1.size, p.body.proof.map(b64), cp1.root)).toBe(
          false,
        );
        expect(verifyInclusion(leafOf(all1[i]), (i + 1) % cp1.size, cp1.size, p.body.proof.map(b64), cp1.root)).toBe(
          false,
        );
      }
      const entry = JSON.parse(all1[i]);
      expect(entry).toMatchObject({ v: 1, tenant: 'default' });
    }

    await activity(h, 5);
    const cp2 = await takeCheckpoint(h);
    expect(cp2.size).toBeGreaterThan(cp1.size);
    const all2 = await entries(h, cp2.size);
    expect(all2.slice(0, cp1.size)).toEqual(all1);
    expect(hex(rootFromLeafHashes(all2.map(leafOf)))).toBe(hex(cp2.root));

    // The history lists both signed checkpoints, oldest first.
    const history = await h.request('GET', '/v1/audit/checkpoints');
    const sizes = history.body.items.map((c: { size: number }) => c.size);
    expect(sizes).toEqual([...sizes].sort((a, b) => a - b));
    expect(sizes).toEqual(expect.arrayContaining([cp1.size, cp2.size]));
    expect(history.body.items.find((c: { size: number }) => c.size === cp1.size).note).toBe(cp1.note);

    // Consistency between the two checkpoints, and between every intermediate size and the newer one
    // (roots of intermediate sizes computed by us from the entries, not taken from the server).
    const c = await h.request('GET', `/v1/audit/proof/consistency?from=${cp1.size}&to=${cp2.size}`);
    expect(c.status).toBe(200);
    expect(verifyConsistency(cp1.size, cp2.size, cp1.root, cp2.root, c.body.proof.map(b64))).toBe(true);
    expect(verifyConsistency(cp1.size, cp2.size, cp2.root, cp1.root, c.body.proof.map(b64))).toBe(false);
    for (let from = 1; from <= cp2.size; from++) {
      const p = await h.request('GET', `/v1/audit/proof/consistency?from=${from}&to=${cp2.size}`);
      expect(p.status).toBe(200);
      const root1 = rootFromLeafHashes(all2.slice(0, from).map(leafOf));
      expect(hex(b64(p.body.root1))).toBe(hex(root1));
      expect(hex(b64(p.body.root2))).toBe(hex(cp2.root));
      expect(verifyConsistency(from, cp2.size, root1, cp2.root, p.body.proof.map(b64))).toBe(true);
    }
    const same = await h.request('GET', `/v1/audit/proof/consistency?from=${cp2.size}&to=${cp2.size}`);
    expect(same.body.proof).toEqual([]);
    expect(verifyConsistency(cp2.size, cp2.size, cp2.root, cp2.root, [])).toBe(true);

    // A request for a checkpoint when nothing new was integrated returns the same one. Two requests
    // back to back (checkpoints are not audited, so nothing is appended between them): the reads
    // above may have appended entries since cp2, so the first may sign a newer size; the second
    // must return that same checkpoint, not sign another.
    const first = await h.request('POST', '/v1/audit/checkpoints');
    const again = await h.request('POST', '/v1/audit/checkpoints');
    expect([first.status, again.status]).toEqual([201, 201]);
    expect(first.body.size).toBeGreaterThanOrEqual(cp2.size);
    expect(again.body).toEqual(first.body);
  });

  it('rejects bad proof parameters with 400', async () => {
    const size = (await takeCheckpoint(h)).size; // everything so far is integrated and signed
    const cases: [string, string][] = [
      [`/v1/audit/proof/inclusion?index=${size}&size=${size}`, 'SP_AUDIT_PROOF_INVALID'], // index ≥ size
      [`/v1/audit/proof/inclusion?index=0&size=${size + 1000}`, 'SP_AUDIT_PROOF_INVALID'], // size beyond the log
      [`/v1/audit/proof/inclusion?index=0&size=0`, 'SP_REQ_VALIDATION'],
      [`/v1/audit/proof/inclusion?index=-1&size=${size}`, 'SP_REQ_VALIDATION'],
      [`/v1/audit/proof/inclusion?index=1.5&size=${size}`, 'SP_REQ_VALIDATION'],
      [`/v1/audit/proof/inclusion?index=abc&size=${size}`, 'SP_REQ_VALIDATION'],
      [`/v1/audit/proof/inclusion?index=0`, 'SP_REQ_VALIDATION'],
      [`/v1/audit/proof/inclusion?index=0&size=${size}&extra=1`, 'SP_REQ_VALIDATION'],
      [`/v1/audit/proof/consistency?from=2&to=1`, 'SP_AUDIT_PROOF_INVALID'], // from > to
      [`/v1/audit/proof/consistency?from=1&to=${size + 1000}`, 'SP_AUDIT_PROOF_INVALID'],
      [`/v1/audit/proof/consistency?from=0&to=${size}`, 'SP_REQ_VALIDATION'], // from the empty tree: meaningless
      [`/v1/audit/proof/consistency?from=1.5&to=${size}`, 'SP_REQ_VALIDATION'],
      [`/v1/audit/proof/consistency?from=1&to=`, 'SP_REQ_VALIDATION'],
      [`/v1/audit/proof/consistency?from=1&to=99999999999999999999`, 'SP_REQ_VALIDATION'],
    ];
    for (const [path, code] of cases) {
      const res = await h.request('GET', path);
      expect({ path, status: res.status, code: res.body?.code }).toEqual({ path, status: 400, code });
    }
    expect((await h.request('GET', `/v1/audit/entries/${size + 1000}`)).status).toBe(404);
    expect((await h.request('GET', '/v1/audit/entries/-1')).status).toBe(400);
    expect((await h.request('GET', '/v1/audit/entries/1.5')).status).toBe(400);
  });

  it('requires an API key with the audit (or admin) scope', async () => {
    const narrow = await createApiKey(h.app.store, 'default', 'x', ['integration'], new Date());
    const auditor = await createApiKey(h.app.store, 'default', 'auditor', ['audit'], new Date());
    const routes: [string, string][] = [
      ['GET', '/v1/audit/checkpoint'],
      ['GET', '/v1/audit/checkpoints'],
      ['POST', '/v1/audit/checkpoints'],
      ['GET', '/v1/audit/proof/inclusion?index=0&size=1'],
      ['GET', '/v1/audit/proof/consistency?from=1&to=1'],
      ['GET', '/v1/audit/entries/0'],
    ];
    for (const [method, path] of routes) {
      expect({ path, status: (await h.request(method, path, undefined, { authorization: '' })).status }).toEqual({
        path,
        status: 401,
      });
      const forbidden = await h.request(method, path, undefined, { authorization: `Bearer ${narrow}` });
      expect({ path, status: forbidden.status, code: forbidden.body?.code }).toEqual({
        path,
        status: 403,
        code: 'SP_AUTH_FORBIDDEN',
      });
      const ok = await h.request(method, path, undefined, { authorization: `Bearer ${auditor}` });
      expect({ path, status: ok.status }).toEqual({ path, status: method === 'POST' ? 201 : 200 });
    }
  });
});

/** Opens a second writer on the live database, as someone with file access would. */
function openLive(dataDir: string): Sqlite.Database {
  const db = new Sqlite(join(dataDir, 'sealpost.db'));
  db.pragma('busy_timeout = 10000');
  return db;
}

/**
 * Rewrites entry `index` and makes the stored tree agree with it: its leaf hash, then every stored
 * perfect subtree above it (audit_nodes), so the table alone looks untouched.
 */
function rewriteEntryConsistently(
  db: Sqlite.Database,
  index: number,
  edit: (e: Record<string, unknown>) => void,
): string {
  const row = db.prepare('select entry from audit_entries where idx = ?').get(index + 1) as { entry: string };
  const parsed = JSON.parse(row.entry);
  edit(parsed);
  const forged = JSON.stringify(parsed); // key order kept: still the canonical form
  const node = (level: number, j: number): Buffer | undefined =>
    level === 0
      ? (db.prepare('select leaf_hash as h from audit_entries where idx = ?').get(j + 1) as { h: Buffer } | undefined)
          ?.h
      : (
          db.prepare('select hash as h from audit_nodes where level = ? and idx = ?').get(level, j) as
            { h: Buffer } | undefined
        )?.h;
  db.transaction(() => {
    db.prepare('update audit_entries set entry = ?, leaf_hash = ? where idx = ?').run(
      forged,
      Buffer.from(leafHash(Buffer.from(forged, 'utf8'))),
      index + 1,
    );
    for (let level = 1; ; level++) {
      const j = Math.floor(index / 2 ** level);
      if (!node(level, j)) break; // not integrated yet: the integrator will hash the forged leaf itself
      const h = hashChildren(node(level - 1, 2 * j)!, node(level - 1, 2 * j + 1)!);
      db.prepare('update audit_nodes set hash = ? where level = ? and idx = ?').run(Buffer.from(h), level, j);
    }
  })();
  return forged;
}

describe('a checkpoint saved by an outside party', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost(ENV);
  });
  afterAll(() => h?.close());

  it('proves an edit made later directly in the database, even when the table was made self-consistent', async () => {
    await activity(h, 3);
    const saved = await takeCheckpoint(h); // the outsider keeps note + size + root
    expect(saved.size).toBeGreaterThan(3);

    await activity(h, 3);
    const before = await takeCheckpoint(h);
    const ok = await h.request('GET', `/v1/audit/proof/consistency?from=${saved.size}&to=${before.size}`);
    expect(verifyConsistency(saved.size, before.size, saved.root, before.root, ok.body.proof.map(b64))).toBe(true);
    const target = 1;
    const incl = await h.request('GET', `/v1/audit/proof/inclusion?index=${target}&size=${saved.size}`);
    const originalEntry = (await h.request('GET', `/v1/audit/entries/${target}`)).body.entry as string;
    expect(verifyInclusion(leafOf(originalEntry), target, saved.size, incl.body.proof.map(b64), saved.root)).toBe(true);

    // Someone with write access to the database rewrites an early entry while the server runs.
    const db = openLive(h.dataDir);
    let forged: string;
    try {
      forged = rewriteEntryConsistently(db, target, (e) => {
        e.actor = 'system:nobody';
        e.outcome = 'failure';
      });
    } finally {
      db.close();
    }
    const served = await h.request('GET', `/v1/audit/entries/${target}`);
    expect(served.body.entry).toBe(forged);
    expect(served.body.leafHash).toBe(Buffer.from(leafOf(forged)).toString('base64')); // self-consistent row

    // The log keeps going and signs new checkpoints over the altered tree…
    await activity(h, 2);
    const after = await takeCheckpoint(h);
    expect(after.size).toBeGreaterThan(before.size);

    // …but none of them can be proven to extend what the outsider saved.
    const c = await h.request('GET', `/v1/audit/proof/consistency?from=${saved.size}&to=${after.size}`);
    expect(c.status).toBe(200);
    expect(verifyConsistency(saved.size, after.size, saved.root, after.root, c.body.proof.map(b64))).toBe(false);
    expect(verifyConsistency(saved.size, after.size, saved.root, b64(c.body.root2), c.body.proof.map(b64))).toBe(false);
    expect(hex(b64(c.body.root1))).not.toBe(hex(saved.root)); // the server's tree of the saved size changed
    const c2 = await h.request('GET', `/v1/audit/proof/consistency?from=${saved.size}&to=${before.size}`);
    expect(verifyConsistency(saved.size, before.size, saved.root, b64(c2.body.root2), c2.body.proof.map(b64))).toBe(
      false,
    );

    // And the served entry is not the one the saved root commits to.
    const incl2 = await h.request('GET', `/v1/audit/proof/inclusion?index=${target}&size=${saved.size}`);
    expect(verifyInclusion(leafOf(forged!), target, saved.size, incl2.body.proof.map(b64), saved.root)).toBe(false);
    // (the original entry still is: the outsider can show exactly what was changed)
    expect(verifyInclusion(leafOf(originalEntry), target, saved.size, incl.body.proof.map(b64), saved.root)).toBe(true);
  });
});
