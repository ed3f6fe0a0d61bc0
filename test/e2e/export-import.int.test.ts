import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { createTestDatabase, type TestDatabase } from '../helpers/backends.js';

/**
 * The documented path from an embedded SQLite installation to PostgreSQL (docs/migrating-to-postgres.md),
 * run with the real CLI against real databases: export, import with the same keyring, and the server
 * reads the old data (ciphertext copied as is), keeps numbering and keeps a verifiable audit log.
 */

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
// The checkpoint origin derives from the public URL unless set; servers and CLI runs here share one.
const ORIGIN = 'sealpost.test/transfer';
const PHI = ['Lopez', '+14155552671', 'ana@example.com', '1980-04-02', 'Lipid panel', 'Clinic B'];

function cli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SEALPOST_')));
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['bin/sealpost.js', ...args], {
      cwd: ROOT,
      env: { ...base, SEALPOST_AUDIT_ORIGIN: ORIGIN, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

/** Row lines of an export per table, sorted: the same data gives the same lines whatever the backend. */
function rowsOf(file: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  for (const line of lines.slice(1, -1)) (out[(JSON.parse(line) as { table: string }).table] ??= []).push(line);
  for (const k of Object.keys(out)) out[k]!.sort();
  return out;
}

/** Leases are a running node's state, not data: they are not exported. */
const dataCounts = ({ leases: _, ...rest }: Record<string, number>) => rest;

// Each step runs the real CLI (tsx start-up) several times: generous bounds for a loaded machine.
describe('sealpost export / import moves an installation between SQLite and PostgreSQL', { timeout: 240_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-transfer-'));
  const dump = join(dir, 'sqlite.export');
  let src: TestDatabase;
  let pgDb: TestDatabase;
  const extra: TestDatabase[] = [];
  let apiKey = '';
  let keyring = '';
  let notificationId = '';
  let h: Harness | null = null;
  const targetEnv = (db: TestDatabase) => ({ ...db.env, SEALPOST_KEYRING_FILE: keyring });
  const verify = async (db: TestDatabase) => {
    const r = await cli(['audit', 'verify', '--json'], targetEnv(db));
    return {
      code: r.code,
      report: JSON.parse(r.stdout.trim().split('\n').pop()!) as { ok: boolean; entries: number; checkpoints: number },
    };
  };
  const api = (method: string, path: string, body?: unknown) =>
    h!.request(method, path, body, { authorization: `Bearer ${apiKey}` });
  const delivered = (id: string) =>
    eventually(async () => {
      const v = (await api('GET', `/v1/notifications/${id}`)).body;
      return v.deliveries.every((d: { status: string }) => d.status === 'delivered') ? v : null;
    }, 'every delivery delivered');
  const maxOutboxId = async (db: TestDatabase) =>
    Number((await db.query<{ n: number }>('select max(id) as n from dev_outbox'))[0]!.n);

  beforeAll(async () => {
    src = await createTestDatabase('sqlite', 'sealpost-transfer-src-');
    pgDb = await createTestDatabase('postgres', 'sealpost-transfer-pg-');
    keyring = join(src.dataDir, 'keyring.json');
    h = await startSealpost({ ...src.env, SEALPOST_AUDIT_ORIGIN: ORIGIN });
    apiKey = h.apiKey;
    expect((await api('PUT', '/v1/patients/p1', samplePatient())).status).toBe(201);
    expect(
      (
        await api(
          'PUT',
          '/v1/patients/p2',
          samplePatient({ telecom: [{ system: 'email', value: 'ana@example.com', rank: 1 }] }),
        )
      ).status,
    ).toBe(201);
    const n = await api('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'p1',
      data: { testName: 'Lipid panel', orderingClinician: 'Dr. Rivera' },
      channels: ['sms', 'email'],
    });
    expect(n.status).toBe(202);
    notificationId = n.body.id;
    const start = new Date(Date.now() + 30 * 86_400_000).toISOString();
    expect(
      (await api('PUT', '/v1/appointments/appt-1', { patientId: 'p1', start, location: 'Clinic B, room 4' })).status,
    ).toBe(201);
    await delivered(notificationId);
    await h.app.auditLog.checkpoint();
    await h.close();
    h = null;
  }, 240_000);

  afterAll(async () => {
    await h?.close();
    for (const db of [src, pgDb, ...extra]) await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exports the stopped SQLite installation to a 0600 file holding ciphertext only, and refuses to overwrite it without --force', async () => {
    const r = await cli(['export', '--out', dump, '--progress'], src.env);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('exported patients: 2 rows');
    expect(statSync(dump).mode & 0o777).toBe(0o600);
    const text = readFileSync(dump, 'utf8');
    for (const phi of PHI) expect(text).not.toContain(phi);
    const header = JSON.parse(text.split('\n')[0]!);
    expect(header).toMatchObject({ format: 'sealpost-export', version: 1, source: 'sqlite' });
    expect(header.tables.map((t: { name: string }) => t.name)).not.toContain('leases');
    expect(header.tables.find((t: { name: string }) => t.name === 'settings').rows).toBeGreaterThan(0);

    const again = await cli(['export', '--out', dump], src.env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('SP_TRANSFER_OUTPUT_EXISTS');
    expect(readFileSync(dump, 'utf8')).toBe(text);
    expect((await cli(['export', '--out', dump, '--force'], src.env)).code).toBe(0);
  });

  it('imports into a new PostgreSQL database with every row as it was, and the audit log verifies there', async () => {
    const before = await verify(src);
    expect(before.report.ok).toBe(true);
    const r = await cli(['import', '--in', dump, '--progress'], targetEnv(pgDb));
    expect(r.stderr + r.stdout).not.toContain('SP_');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('imported patients: 2 rows');
    expect(dataCounts(await pgDb.rowCounts())).toEqual(dataCounts(await src.rowCounts()));

    const after = await verify(pgDb);
    expect(after).toEqual({
      code: 0,
      report: expect.objectContaining({
        ok: true,
        entries: before.report.entries,
        checkpoints: before.report.checkpoints,
      }),
    });

    // Exported again from PostgreSQL, every table holds the same rows, byte for byte in the file.
    const back = join(dir, 'pg-check.export');
    expect((await cli(['export', '--out', back], targetEnv(pgDb))).code).toBe(0);
    expect(rowsOf(back)).toEqual(rowsOf(dump));
  });

  it('serves the imported data on PostgreSQL: decrypts it with the same keyring, continues ids and keeps the audit log verifiable', async () => {
    const outboxBefore = await maxOutboxId(pgDb);
    const entriesBefore = (await verify(pgDb)).report.entries;
    h = await startSealpost({ ...targetEnv(pgDb), SEALPOST_AUDIT_ORIGIN: ORIGIN });
    const p = await api('GET', '/v1/patients/p1');
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ name: { family: 'Lopez' }, birthDate: '1980-04-02' });
    expect((await api('GET', `/v1/notifications/${notificationId}`)).body.status).toBe('delivered');
    const appointment = (await api('GET', '/v1/appointments/appt-1')).body;
    expect(appointment.reminders).toHaveLength(3);
    expect((await api('GET', `/v1/notifications/${appointment.reminders[0].notificationId}`)).status).toBe(200);
    const outbox = (await api('GET', '/v1/dev/outbox')).body.items as { recipient: string }[];
    expect(outbox.map((m) => m.recipient)).toContain('+14155552671');

    const n = await api('POST', '/v1/notifications', {
      type: 'follow_up',
      patientId: 'p2',
      data: { reason: 'Blood pressure check', dueDate: '2030-01-01' },
      channels: ['email'],
    });
    expect(n.status).toBe(202);
    await delivered(n.body.id);
    expect(await maxOutboxId(pgDb)).toBe(outboxBefore + 1);
    await h.app.auditLog.checkpoint();
    await h.close();
    h = null;
    const v = await verify(pgDb);
    expect(v.code).toBe(0);
    expect(v.report.ok).toBe(true);
    expect(v.report.entries).toBeGreaterThan(entriesBefore);
  });

  describe('refuses bad input with a code, exit 1, and leaves the target as it was', () => {
    let empty: TestDatabase;
    const lines = () => readFileSync(dump, 'utf8').split('\n');
    const write = (name: string, text: string | Buffer) => {
      const f = join(dir, name);
      writeFileSync(f, text);
      return f;
    };
    const refused = async (db: TestDatabase, file: string, code: string) => {
      const before = await db.rowCounts();
      const r = await cli(['import', '--in', file], targetEnv(db));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(code);
      expect(await db.rowCounts()).toEqual(before);
    };

    beforeAll(async () => {
      empty = await createTestDatabase('postgres', 'sealpost-transfer-empty-');
      extra.push(empty);
      expect((await cli(['migrate'], empty.env)).code).toBe(0);
    });

    it('a file cut in the middle of a line', async () => {
      const whole = readFileSync(dump);
      await refused(
        empty,
        write('cut.export', whole.subarray(0, Math.floor(whole.length / 2))),
        'SP_TRANSFER_FILE_CORRUPT',
      );
    });

    it('a file that lost its last lines', async () => {
      await refused(empty, write('short.export', lines().slice(0, -3).join('\n') + '\n'), 'SP_TRANSFER_FILE_CORRUPT');
    });

    it('a file with one byte flipped inside a row', async () => {
      const bytes = Buffer.from(readFileSync(dump));
      const at = bytes.indexOf(Buffer.from('"table":"audit_entries"')) + 40;
      bytes[at] = bytes[at]! ^ 0x01;
      await refused(empty, write('flipped.export', bytes), 'SP_TRANSFER_FILE_CORRUPT');
    });

    it('a file that is not an export', async () => {
      await refused(empty, write('other.csv', 'id,name\n1,x\n'), 'SP_TRANSFER_FORMAT_UNKNOWN');
      const l = lines();
      const header = { ...JSON.parse(l[0]!), version: 2 };
      await refused(
        empty,
        write('v2.export', [JSON.stringify(header), ...l.slice(1)].join('\n')),
        'SP_TRANSFER_FORMAT_UNKNOWN',
      );
    });

    it('a well-formed file written at other migrations', async () => {
      const l = lines().filter(Boolean);
      const header = JSON.parse(l[0]!);
      header.migrations = header.migrations.slice(0, -1);
      const body = [JSON.stringify(header), ...l.slice(1, -1)].map((x) => `${x}\n`).join('');
      const trailer = { ...JSON.parse(l[l.length - 1]!), sha256: createHash('sha256').update(body).digest('hex') };
      await refused(
        empty,
        write('old.export', `${body}${JSON.stringify(trailer)}\n`),
        'SP_TRANSFER_MIGRATIONS_MISMATCH',
      );
    });

    it('a target already migrated by a newer version', async () => {
      await empty.query("insert into kysely_migration (name, timestamp) values ('999-from-the-future', now()::text)");
      await refused(empty, dump, 'SP_TRANSFER_MIGRATIONS_MISMATCH');
      await empty.query("delete from kysely_migration where name = '999-from-the-future'");
    });

    it('a missing file', async () => {
      await refused(empty, join(dir, 'missing.export'), 'SP_TRANSFER_FILE_UNREADABLE');
    });

    it('a target that already holds data', async () => {
      const tables = await pgDb.query<{ n: string }>('select count(*) as n from audit_entries');
      await refused(pgDb, dump, 'SP_TRANSFER_TARGET_NOT_EMPTY');
      expect(await pgDb.query('select count(*) as n from audit_entries')).toEqual(tables);
      expect((await verify(pgDb)).report.ok).toBe(true);
    });
  });

  it('moves a PostgreSQL installation back to SQLite (the format is backend-neutral)', async () => {
    const fromPg = join(dir, 'pg.export');
    expect((await cli(['export', '--out', fromPg], targetEnv(pgDb))).code).toBe(0);
    const lite = await createTestDatabase('sqlite', 'sealpost-transfer-back-');
    extra.push(lite);
    const r = await cli(['import', '--in', fromPg], targetEnv(lite));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(dataCounts(await lite.rowCounts())).toEqual(dataCounts(await pgDb.rowCounts()));
    expect((await verify(lite)).report.ok).toBe(true);

    const outboxBefore = await maxOutboxId(lite);
    h = await startSealpost({ ...targetEnv(lite), SEALPOST_AUDIT_ORIGIN: ORIGIN });
    expect((await api('GET', '/v1/patients/p2')).body.telecom[0].value).toBe('ana@example.com');
    const n = await api('POST', '/v1/notifications', {
      type: 'follow_up',
      patientId: 'p2',
      data: { reason: 'Check-up', dueDate: '2030-02-01' },
      channels: ['email'],
    });
    expect(n.status).toBe(202);
    await delivered(n.body.id);
    expect(await maxOutboxId(lite)).toBe(outboxBefore + 1);
    await h.close();
    h = null;
    expect((await verify(lite)).report.ok).toBe(true);
  });
});
