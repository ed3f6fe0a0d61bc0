import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Sqlite from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { samplePatient, startSealpost } from '../helpers/sealpost-harness.js';
import { leafHash } from '../../src/audit/merkle.js';

/**
 * `sealpost audit verify` (the real CLI, on a stopped server's data) catches every way of altering
 * the audit table or the checkpoints directly in SQLite, and names the first bad index.
 *
 * What "first bad index" means for each kind of tampering (leaf index = audit_entries.idx − 1):
 * - an entry whose text no longer matches its own leaf hash: exactly that index;
 * - a row removed (a gap in idx): exactly the index of the removed row;
 * - a stored leaf hash that changed too (entry rewritten with a matching leaf hash, two rows
 *   swapped, a row inserted and the rest renumbered): the stored hashes above the leaves only
 *   identify the pair of leaves under a level-1 node, so the index is the pair's first one,
 *   2·⌊i/2⌋ (the exact index when i is even);
 * - a checkpoint whose signature or stored root was altered: size − 1 of that checkpoint (the last
 *   leaf it covers), as no entry is wrong;
 * - the last row removed: caught only because a checkpoint covers it, reported as that
 *   checkpoint's size − 1, which is the removed index.
 * Deleting a checkpoint from the middle of the history is not an alteration of the log: the
 * remaining checkpoints are still signed and consistent with each other (an outsider who kept the
 * deleted one can still prove consistency with the log), so verify passes.
 */

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const ORIGIN = 'sealpost.test/audit';

interface Report {
  ok: boolean;
  entries: number;
  checkpoints: number;
  firstBadIndex: number | null;
  problems: string[];
}

function runVerify(dataDir: string): Promise<{ code: number | null; report: Report; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SEALPOST_')));
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['bin/sealpost.js', 'audit', 'verify', '--json'], {
      cwd: ROOT,
      env: { ...env, SEALPOST_DATA_DIR: dataDir, SEALPOST_AUDIT_ORIGIN: ORIGIN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', rej);
    child.on('close', (code) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        res({ code, report: JSON.parse(line) as Report, stderr });
      } catch {
        rej(new Error(`audit verify printed no JSON report (exit ${code}): ${stdout}\n${stderr}`));
      }
    });
  });
}

type Row = {
  idx: number;
  tenant_id: string;
  at: number;
  action: string;
  actor: string;
  patient_ref: string | null;
  entry: string;
  leaf_hash: Buffer;
};
type CheckpointRow = { size: number; root: Buffer; note: string };

const lh = (entry: string) => Buffer.from(leafHash(Buffer.from(entry, 'utf8')));
const rowAt = (db: Sqlite.Database, index: number) =>
  db.prepare('select * from audit_entries where idx = ?').get(index + 1) as Row;
/** A different but well-formed canonical entry (key order of the canonical form kept). */
function forge(entry: string): string {
  const e = JSON.parse(entry);
  e.actor = 'system:nobody';
  e.outcome = e.outcome === 'success' ? 'failure' : 'success';
  return JSON.stringify(e);
}
const middleCheckpoint = (db: Sqlite.Database) => {
  const all = db.prepare('select size, root, note from audit_checkpoints order by size').all() as CheckpointRow[];
  return { all, cp: all[Math.floor(all.length / 2)], i: Math.floor(all.length / 2) };
};

const setEntry = (db: Sqlite.Database, index: number, entry: string, leaf: Buffer) =>
  db.prepare('update audit_entries set entry = ?, leaf_hash = ? where idx = ?').run(entry, leaf, index + 1);

function insertForgedAt(db: Sqlite.Database, index: number): void {
  const model = rowAt(db, index);
  const entry = forge(model.entry);
  // Two steps: idx is unique, so shifting in place would collide midway.
  db.prepare('update audit_entries set idx = -idx where idx >= ?').run(index + 1);
  db.prepare('update audit_entries set idx = 1 - idx where idx < 0').run();
  db.prepare(
    'insert into audit_entries (idx, tenant_id, at, action, actor, patient_ref, entry, leaf_hash) values (?, ?, ?, ?, ?, ?, ?, ?)',
  ).run(index + 1, model.tenant_id, model.at, model.action, 'system:nobody', model.patient_ref, entry, lh(entry));
}

interface Tampering {
  name: string;
  tamper(db: Sqlite.Database): void;
  /** Expected firstBadIndex (null = verify passes). */
  expected(db: { size: number; middleCheckpointSize: number }): number | null;
  /** A problem that must be reported (naming the row), besides the first bad index. */
  problem?: RegExp;
}

/** The columns searches filter by (audit events, disclosures, FHIR AuditEvent), copied from each entry. */
const SEARCHABLE = ['action', 'actor', 'patient_ref', 'at', 'tenant_id'] as const;

/** Another value for a searchable column of a row; its entry and leaf hash stay as they were. */
function otherValue(row: Row, column: (typeof SEARCHABLE)[number]): string | number {
  if (column === 'at') return row.at + 1_000;
  if (column === 'action') return row.action === 'patient.viewed' ? 'patient.updated' : 'patient.viewed';
  return `${row[column] ?? ''}-hidden`;
}

const TAMPERINGS: Tampering[] = [
  {
    name: 'edit an entry (text only)',
    tamper: (db) => db.prepare('update audit_entries set entry = ? where idx = ?').run(forge(rowAt(db, 5).entry), 6),
    expected: () => 5, // exact
  },
  {
    name: 'edit an entry at an odd index and fix its leaf_hash',
    tamper: (db) => {
      const e = forge(rowAt(db, 5).entry);
      setEntry(db, 5, e, lh(e));
    },
    expected: () => 4, // pair start: only the level-1 node over leaves 4 and 5 disagrees
  },
  {
    name: 'edit an entry at an even index and fix its leaf_hash',
    tamper: (db) => {
      const e = forge(rowAt(db, 6).entry);
      setEntry(db, 6, e, lh(e));
    },
    expected: () => 6, // pair start = the index itself
  },
  {
    name: 'delete a row',
    tamper: (db) => db.prepare('delete from audit_entries where idx = ?').run(6),
    expected: () => 5, // exact: the gap
  },
  {
    name: 'delete the last row (covered by the latest checkpoint)',
    tamper: (db) => db.prepare('delete from audit_entries where idx = (select max(idx) from audit_entries)').run(),
    expected: ({ size }) => size - 1,
  },
  {
    name: 'swap two rows (reorder)',
    tamper: (db) => {
      const a = rowAt(db, 5);
      const b = rowAt(db, 9);
      const put = db.prepare(
        'update audit_entries set tenant_id = ?, at = ?, action = ?, actor = ?, patient_ref = ?, entry = ?, leaf_hash = ? where idx = ?',
      );
      put.run(b.tenant_id, b.at, b.action, b.actor, b.patient_ref, b.entry, b.leaf_hash, a.idx);
      put.run(a.tenant_id, a.at, a.action, a.actor, a.patient_ref, a.entry, a.leaf_hash, b.idx);
    },
    expected: () => 4, // pair start of the earlier of the two (5)
  },
  {
    name: 'insert a row in the middle at an even index (renumbering the rest)',
    tamper: (db) => insertForgedAt(db, 6),
    expected: () => 6,
  },
  {
    name: 'insert a row in the middle at an odd index (renumbering the rest)',
    tamper: (db) => insertForgedAt(db, 7),
    expected: () => 6, // pair start
  },
  {
    name: "edit a checkpoint's note (signature)",
    tamper: (db) => {
      const { cp } = middleCheckpoint(db);
      const m = /^(\u2014 \S+ )(\S+)$/m.exec(cp.note)!;
      const sig = Buffer.from(m[2], 'base64');
      sig[sig.length - 1] ^= 0x01;
      db.prepare('update audit_checkpoints set note = ? where size = ?').run(
        cp.note.replace(m[0], m[1] + sig.toString('base64')),
        cp.size,
      );
    },
    expected: ({ middleCheckpointSize }) => middleCheckpointSize - 1,
  },
  {
    name: "edit a checkpoint's note (signed size)",
    tamper: (db) => {
      const { cp } = middleCheckpoint(db);
      const lines = cp.note.split('\n');
      lines[1] = String(cp.size + 1);
      db.prepare('update audit_checkpoints set note = ? where size = ?').run(lines.join('\n'), cp.size);
    },
    expected: ({ middleCheckpointSize }) => middleCheckpointSize - 1,
  },
  {
    name: 'change a stored checkpoint root',
    tamper: (db) => {
      const { all, i, cp } = middleCheckpoint(db);
      db.prepare('update audit_checkpoints set root = ? where size = ?').run(all[i - 1].root, cp.size);
    },
    expected: ({ middleCheckpointSize }) => middleCheckpointSize - 1,
  },
  // The searchable columns are not part of the leaf: editing one hides the row from every search by
  // it (a break-glass access no longer found under its action) while the entry still hashes right.
  ...SEARCHABLE.map((column): Tampering => ({
    name: `edit the searchable ${column} column of a row (entry and leaf hash untouched)`,
    tamper: (db) =>
      db.prepare(`update audit_entries set ${column} = ? where idx = ?`).run(otherValue(rowAt(db, 7), column), 8),
    expected: () => 7, // exact
    problem: new RegExp(`^index 7: searchable column\\(s\\) (.+, )?${column}(, .+)? of row audit_entries\\.idx 8 `),
  })),
  {
    name: 'swap the action columns of two rows (entries untouched)',
    tamper: (db) => {
      const a = rowAt(db, 3);
      const b = (db.prepare('select * from audit_entries where idx > ? order by idx').all(a.idx) as Row[]).find(
        (r) => r.action !== a.action,
      )!;
      const put = db.prepare('update audit_entries set action = ? where idx = ?');
      put.run(b.action, a.idx);
      put.run(a.action, b.idx);
    },
    expected: () => 3,
    problem: /^index 3: searchable column\(s\) action of row audit_entries\.idx 4 /,
  },
  {
    name: 'delete a middle checkpoint (not an alteration: the rest still verify)',
    tamper: (db) => db.prepare('delete from audit_checkpoints where size = ?').run(middleCheckpoint(db).cp.size),
    expected: () => null,
  },
];

describe('sealpost audit verify', () => {
  let prepared: string;
  const copies: string[] = [];
  let facts: { size: number; checkpoints: number; middleCheckpointSize: number };

  /** A fresh copy of the prepared data dir (database + keyring), for one tampering. */
  function copy(): string {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-verify-'));
    copies.push(dir);
    copyFileSync(join(prepared, 'sealpost.db'), join(dir, 'sealpost.db'));
    copyFileSync(join(prepared, 'keyring.json'), join(dir, 'keyring.json'));
    chmodSync(join(dir, 'keyring.json'), 0o600);
    return dir;
  }

  beforeAll(async () => {
    const h = await startSealpost({
      SEALPOST_AUDIT_ORIGIN: ORIGIN,
      SEALPOST_AUDIT_CHECKPOINT_SECONDS: '86400',
      SEALPOST_AUDIT_CHECKPOINT_ENTRIES: '10000000',
    });
    prepared = h.dataDir;
    try {
      let p = 0;
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 3; i++) {
          const id = `p${++p}`;
          expect((await h.request('PUT', `/v1/patients/${id}`, samplePatient())).status).toBe(201);
          expect((await h.request('PUT', `/v1/patients/${id}`, samplePatient({ language: 'es' }))).status).toBeLessThan(
            300,
          );
        }
        expect((await h.request('POST', '/v1/audit/checkpoints')).status).toBe(201);
      }
    } finally {
      await h.app.close(); // not h.close(): that deletes the data dir
    }
    // Fold the WAL into the main file so a copy of sealpost.db alone is the whole database.
    const db = new Sqlite(join(prepared, 'sealpost.db'));
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
      const size = (db.prepare('select max(idx) as n from audit_entries').get() as { n: number }).n;
      const { all, cp } = middleCheckpoint(db);
      facts = { size, checkpoints: all.length, middleCheckpointSize: cp.size };
      expect(all.length).toBeGreaterThanOrEqual(4);
      expect(all[all.length - 1].size).toBe(size); // the latest checkpoint covers every entry
      expect(all[0].size).toBeGreaterThan(0);
      expect(size).toBeGreaterThan(12);
    } finally {
      db.close();
    }
  });

  afterAll(() => {
    for (const d of [...copies, prepared]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('passes an untampered copy (exit 0)', async () => {
    const { code, report } = await runVerify(copy());
    expect(report).toEqual({
      ok: true,
      entries: facts.size,
      checkpoints: facts.checkpoints,
      firstBadIndex: null,
      problems: [],
      pending: 0,
    });
    expect(code).toBe(0);
  });

  for (const t of TAMPERINGS) {
    it(`${t.name}: ${t.expected({ size: 1, middleCheckpointSize: 1 }) === null ? 'still verifies' : 'exit 1 with the first bad index'}`, async () => {
      const dir = copy();
      const db = new Sqlite(join(dir, 'sealpost.db'));
      try {
        db.transaction(() => t.tamper(db))();
      } finally {
        db.close();
      }
      const { code, report } = await runVerify(dir);
      const want = t.expected(facts);
      if (want === null) {
        expect(report.problems).toEqual([]);
        expect(report).toMatchObject({ ok: true, firstBadIndex: null, checkpoints: facts.checkpoints - 1 });
        expect(code).toBe(0);
      } else {
        expect({ ok: report.ok, firstBadIndex: report.firstBadIndex }).toEqual({ ok: false, firstBadIndex: want });
        expect(report.problems.length).toBeGreaterThan(0);
        if (t.problem) expect(report.problems).toContainEqual(expect.stringMatching(t.problem));
        expect(code).toBe(1);
      }
    });
  }
});
