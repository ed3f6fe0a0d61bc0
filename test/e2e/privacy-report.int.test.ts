import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, describeEachBackend, type TestDatabase } from '../helpers/backends.js';
import { eventually, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { samplePatient } from '../helpers/sample-patient.js';
import { cli } from '../helpers/sealpost-cli.js';
import { PHI_MARKER } from '../../src/core/templates/template-test-fixtures.js';
import { buildAccessReport, parseReportRequest } from '../../src/audit/privacy/access-report.js';
import { verifyReportDir } from '../../src/audit/privacy/report-verify.js';
import { signReport } from '../../src/audit/privacy/report-signature.js';
import type { AuditEvent } from '../../src/audit/audit-entry.js';

const T0 = Date.parse('2024-03-01T00:00:00Z');
const H = 3_600_000;
const FROM = '2024-03-01T00:00:00Z';
const TO = '2024-03-02T00:00:00Z';

/**
 * The breach investigation report through the real server: a crafted log (entries of two people,
 * an API key, addresses, patients, inside and outside the window, another tenant), the report for
 * each scope holding exactly the entries in scope, the API and the CLI, offline verification and
 * its failures on any change.
 */
describeEachBackend('breach investigation report', (backend) => {
  let db: TestDatabase;
  let h: Harness;
  let officer: TestPerson;
  let nurse: TestPerson;
  const P1 = 'mrn-report-1';
  const P2 = 'mrn-report-2';
  const tmp = mkdtempSync(join(tmpdir(), 'sealpost-report-'));
  /** Crafted entries, each marked by its request id: `in:<scope>:<n>` or `out:<n>`. */
  const crafted: AuditEvent[] = [];
  let dbEnv: Record<string, string> = {};

  beforeAll(async () => {
    // One database for the whole file (the CLI opens it beside the running server).
    db = await createTestDatabase(backend, { migrated: true });
    dbEnv = db.env;
    h = await startSealpost({ ...db.env, SEALPOST_ORGANISATION_NAME: 'Riverside Clinic' });
    officer = await staffWithSession(h, ['privacy_officer']);
    nurse = await staffWithSession(h, ['nurse']);
    const marked = { name: { given: [PHI_MARKER], family: `${PHI_MARKER}-family` }, birthDate: '1911-11-11' };
    expect((await h.request('PUT', `/v1/patients/${P1}`, samplePatient(marked))).status).toBe(201);
    expect((await h.request('PUT', `/v1/patients/${P2}`, samplePatient(marked))).status).toBe(201);
    const sent = await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: P1,
      data: { testName: PHI_MARKER },
    });
    expect(sent.status).toBe(202);
    await eventually(
      async () => (await h.request('GET', `/v1/notifications/${sent.body.id}`)).body.status === 'delivered',
      'the delivery',
    );

    const svc = h.app.services.privacyReports.reportDeps();
    const ref = (id: string) => svc.patientRef('default', id);
    const at = (hours: number) => new Date(T0 + hours * H);
    const e = (over: Partial<AuditEvent> & { requestId: string }): AuditEvent => ({
      tenantId: 'default',
      at: at(1),
      actor: 'user:someone-else',
      action: 'patient.read',
      outcome: 'success',
      ...over,
    });
    const A = `user:${nurse.userId}`;
    crafted.push(
      e({
        requestId: 'in:user:1',
        actor: A,
        patientRef: ref(P1),
        targetType: 'patient',
        targetId: 'x',
        sourceIp: '10.0.0.7',
      }),
      e({
        requestId: 'in:user:2',
        actor: A,
        action: 'auth.login_succeeded',
        targetType: 'session',
        targetId: 's-1',
        at: at(2),
      }),
      e({ requestId: 'in:user:3', actor: A, action: 'patient.contact_points_read', patientRef: ref(P2), at: at(3) }),
      e({
        requestId: 'in:user:4',
        actor: 'user:admin-1',
        action: 'user.roles_changed',
        targetType: 'user',
        targetId: nurse.userId,
      }),
      e({ requestId: 'in:address:1', actor: 'api-key:k-1', sourceIp: '10.9.8.7', patientRef: ref(P2), at: at(4) }),
      e({
        requestId: 'in:address:2',
        actor: 'user:third',
        sourceIp: '10.9.8.7',
        action: 'auth.login_failed',
        outcome: 'failure',
      }),
      e({ requestId: 'out:1', actor: A, patientRef: ref(P1), at: at(30) }),
      e({ requestId: 'out:2', actor: A, patientRef: ref(P1), at: at(-1) }),
      e({ requestId: 'out:3', tenantId: 'other', actor: A, patientRef: ref(P1) }),
      e({ requestId: 'in:tenant:1', actor: 'user:third', sourceIp: '10.9.8.70' }),
      // The nurse's messaging device, registered before the window, acknowledges a message in it.
      e({
        requestId: 'reg:1',
        actor: A,
        action: 'messaging.device.registered',
        targetType: 'device',
        targetId: 'dev-nurse',
        at: at(-48),
      }),
      e({
        requestId: 'in:user:6',
        actor: 'device:dev-nurse',
        action: 'message.delivered',
        patientRef: ref(P2),
        at: at(5),
      }),
      // Another person's device is not the nurse's.
      e({
        requestId: 'reg:2',
        actor: 'user:third',
        action: 'device.registered',
        targetType: 'device',
        targetId: 'dev-third',
        at: at(-48),
      }),
      e({ requestId: 'in:tenant:2', actor: 'device:dev-third', action: 'message.delivered', at: at(5) }),
      // A refused read: an attempt, not a patient affected.
      e({
        requestId: 'in:user:7',
        actor: A,
        action: 'access.denied',
        outcome: 'failure',
        patientRef: ref('mrn-report-refused'),
        details: { code: 'SP_AUTH_NO_RELATIONSHIP', method: 'GET', route: '/v1/patients/:id' },
        at: at(6),
      }),
      // A dual-stack socket logs an IPv4 peer IPv4-mapped.
      e({
        requestId: 'in:address:3',
        actor: 'user:third',
        sourceIp: '::ffff:10.9.8.7',
        action: 'user.read',
        at: at(6),
      }),
    );
    await h.app.store.transaction(async (tx) => {
      await tx.tenants.ensure('other', 'other', Date.now());
      for (const c of crafted) await tx.audit.append(c);
    });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    await db?.drop();
    rmSync(tmp, { recursive: true, force: true });
  });

  const requests = (r: { entries: { entry: string }[] }) =>
    r.entries.map((x) => JSON.parse(x.entry).request as string | null).filter((q) => q?.includes(':'));

  it('holds every entry of the scope and window and none outside it, for each kind of scope', async () => {
    const deps = h.app.services.privacyReports.reportDeps();
    const run = (extra: Record<string, unknown>) =>
      buildAccessReport(deps, parseReportRequest({ tenantId: 'default', from: FROM, to: TO, ...extra }), {
        showPatientIds: true,
      });
    const byUser = await run({ user: nurse.userId });
    expect(requests(byUser).sort()).toEqual([
      'in:user:1',
      'in:user:2',
      'in:user:3',
      'in:user:4',
      'in:user:6',
      'in:user:7',
    ]);
    expect(byUser.scope.devices).toEqual(['dev-nurse']);
    expect(byUser.deviceRegistrations?.map((x) => JSON.parse(x.entry).request)).toEqual(['reg:1']);
    // The refused read is listed as an attempt; only successful accesses count as patients affected.
    expect(byUser.patients).toMatchObject({ count: 2, ids: [P1, P2] });
    expect(byUser.facts.refused).toEqual({
      attempts: 1,
      patientRefs: [deps.patientRef('default', 'mrn-report-refused')],
    });
    expect(byUser.facts.phi.map((p) => p.kind)).toContain('contact details');
    expect(byUser.facts.signIns.succeeded).toBe(1);
    expect(byUser.facts.sessions.map((s) => s.id)).toEqual(['s-1']);

    for (const address of ['10.9.8.7', '::ffff:10.9.8.7']) {
      const byAddress = await run({ address });
      expect(byAddress.scope.value).toBe('10.9.8.7');
      expect(requests(byAddress).sort()).toEqual(['in:address:1', 'in:address:2', 'in:address:3']);
    }

    const byPatients = await run({ patients: [P2] });
    expect(requests(byPatients).sort()).toEqual(['in:address:1', 'in:user:3', 'in:user:6']);
    expect(byPatients.deviceRegistrations).toBeUndefined();

    const all = await run({});
    const inside = crafted.filter((c) => c.requestId!.startsWith('in:')).map((c) => c.requestId);
    expect(requests(all).sort()).toEqual(inside.sort());
    for (const x of all.entries) expect(x.inclusion.length).toBeGreaterThan(0);
  });

  it('answers a signed report over the API to a privacy officer, audits the run without the patient list, and it verifies offline', async () => {
    const before = await h.app.store.read.auditLog.size();
    const res = await h.request(
      'POST',
      '/v1/privacy/reports',
      { from: FROM, to: TO, patients: [P1, P2] },
      officer.headers,
    );
    expect(res.status).toBe(200);
    expect(res.body.patients).toBe(2);
    const dir = join(tmp, `api-${backend}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'report.json'), res.body.reportJson);
    writeFileSync(join(dir, 'report.sig.json'), JSON.stringify(res.body.signature));
    const keys = (await h.request('GET', '/.well-known/sealpost-keys.json', undefined, { authorization: '' })).body;
    const v = verifyReportDir(dir, keys);
    expect(v.problems).toEqual([]);
    expect(v).toMatchObject({ ok: true, consistent: true, pinned: true });
    // Without the published keys it is only self-consistent.
    expect(verifyReportDir(dir)).toMatchObject({ ok: false, consistent: true, pinned: false });
    expect(res.body.reportJson).not.toContain(PHI_MARKER);

    await h.app.store.read.auditLog.catchUp();
    const runs = await h.app.store.read.auditQueries.search({
      tenantId: 'default',
      action: { exact: 'privacy.report_run' },
      afterIdx: before,
      limit: 10,
    });
    expect(runs).toHaveLength(1);
    const entry = JSON.parse(runs[0].entry);
    expect(entry.actor).toBe(`user:${officer.userId}`);
    expect(entry.details).toMatchObject({ scope: 'patients', entries: 4, patients: 2 });
    expect(runs[0].entry).not.toContain(P1);
  });

  it('refuses bad requests with a clear code and writes nothing', async () => {
    await h.app.store.read.auditLog.catchUp();
    const before = await h.app.store.read.auditLog.size();
    const cases: [Record<string, unknown>, number, string][] = [
      [{ from: TO, to: FROM }, 400, 'SP_PRIVACY_REPORT_INVALID'],
      [{ from: '2023-01-01T00:00:00Z', to: TO }, 400, 'SP_PRIVACY_REPORT_WINDOW'],
      [{ from: FROM, to: TO, user: nurse.userId, address: '10.0.0.1' }, 400, 'SP_PRIVACY_REPORT_INVALID'],
      [{ from: FROM, to: TO, user: 'no-such-user' }, 400, 'SP_PRIVACY_REPORT_UNKNOWN_SUBJECT'],
      [{ from: FROM, to: TO, address: 'not-an-ip' }, 400, 'SP_PRIVACY_REPORT_INVALID'],
      [{ from: 'yesterday', to: TO }, 400, 'SP_PRIVACY_REPORT_INVALID'],
      // No offset: local time of which zone?
      [{ from: '2024-03-01T00:00', to: TO }, 400, 'SP_PRIVACY_REPORT_INVALID'],
      [{ from: '2024-03-01T00:00:00', to: TO }, 400, 'SP_PRIVACY_REPORT_INVALID'],
      // A day that does not exist is refused, not rolled over into March.
      [{ from: '2024-02-30T00:00:00Z', to: TO }, 400, 'SP_PRIVACY_REPORT_INVALID'],
      [{ from: FROM, to: TO, address: '999.1.1.1' }, 400, 'SP_PRIVACY_REPORT_INVALID'],
      [{ from: FROM, to: TO, address: '1.2.3.4.5.6' }, 400, 'SP_PRIVACY_REPORT_INVALID'],
      [{ from: FROM, to: TO, address: 'a:b' }, 400, 'SP_PRIVACY_REPORT_INVALID'],
    ];
    for (const [body, status, code] of cases) {
      const res = await h.request('POST', '/v1/privacy/reports', body, officer.headers);
      expect([res.status, res.body.code], JSON.stringify(body)).toEqual([status, code]);
    }
    expect((await h.request('POST', '/v1/privacy/reports', { from: FROM, to: TO }, nurse.headers)).status).toBe(403);
    await h.app.store.read.auditLog.catchUp();
    const runs = await h.app.store.read.auditQueries.search({
      tenantId: 'default',
      action: { exact: 'privacy.report_run' },
      afterIdx: before,
      limit: 10,
    });
    expect(runs).toEqual([]);
  });

  it('writes and signs the report through the CLI; verify-report passes, and fails on any change to an entry, the signature or the HTML', async () => {
    const env = {
      ...dbEnv,
      SEALPOST_KEYRING_FILE: h.app.config.keys.file,
      SEALPOST_DATABASE_URL: h.app.config.database.url,
      // The audit log's origin (the checkpoint key's name) comes from the public URL, as the server's does.
      SEALPOST_PUBLIC_URL: h.url,
      SEALPOST_ORGANISATION_NAME: 'Riverside Clinic',
    };
    const out = join(tmp, `cli-${backend}`);
    const run = await cli(env, [
      'report',
      'access',
      '--from',
      FROM,
      '--to',
      TO,
      '--user',
      nurse.userId,
      '--out',
      out,
      '--contact-phone',
      '1-800-555-0100',
      // Chromium prints the PDF once (SQLite); the PostgreSQL run needs no browser.
      ...(backend === 'postgres' ? ['--no-pdf'] : []),
      '--json',
    ]);
    expect(run.stderr + run.stdout).not.toMatch(/error/i);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ entries: 6, patients: 2 });
    if (backend === 'sqlite' && existsSync('/usr/bin/chromium'))
      expect(readFileSync(join(out, 'report.pdf')).subarray(0, 5).toString()).toBe('%PDF-');

    const html = readFileSync(join(out, 'report.html'), 'utf8');
    const notice = readFileSync(join(out, 'notice.html'), 'utf8');
    expect(html).toContain('Riverside Clinic');
    expect(html).not.toMatch(/<script/i);
    expect(notice).toContain('1-800-555-0100');
    expect(notice).toContain('contact details');
    expect(notice).toContain('TO BE COMPLETED BY THE ORGANISATION');
    for (const f of ['report.json', 'report.html', 'notice.html'])
      expect(readFileSync(join(out, f), 'utf8'), f).not.toMatch(
        new RegExp(`${PHI_MARKER}|1911-11-11|ana@example.com|4155552671`),
      );

    // Unpinned: consistent, but not called authentic (exit 2).
    const unpinned = await cli({}, ['verify-report', out]);
    expect(unpinned.stdout).toContain('NOT AUTHENTICATED: the keys were not pinned');
    expect(unpinned.stdout).not.toMatch(/ OK/);
    expect(unpinned.code).toBe(2);
    // Pinned to the key set the installation publishes, written offline by `sealpost keys published`.
    const keysFile = join(tmp, `keys-${backend}.json`);
    const published = await cli(env, ['keys', 'published', '--out', keysFile]);
    expect(published.code, published.stderr + published.stdout).toBe(0);
    const wellKnownKeys = await h.request('GET', '/.well-known/sealpost-keys.json', undefined, { authorization: '' });
    expect(JSON.parse(readFileSync(keysFile, 'utf8'))).toEqual(wellKnownKeys.body);
    const ok = await cli({}, ['verify-report', out, '--keys', keysFile]);
    expect(ok.stdout).toContain('OK');
    expect(ok.code).toBe(0);
    const notAKeySet = await cli({}, ['verify-report', out, '--keys', join(out, 'report.html')]);
    expect(notAKeySet.code).toBe(1);
    expect(notAKeySet.stdout).toContain('--keys: not a readable JSON file');

    // Bad input on the command line: a clear error, nothing written.
    for (const [flag, value] of [
      ['--from', '2024-03-01T00:00'],
      ['--from', '2024-02-30T00:00:00Z'],
    ] as const) {
      const dir = join(tmp, `refused-${backend}-${value.replace(/\W/g, '')}`);
      const r = await cli(env, ['report', 'access', '--from', FROM, '--to', TO, flag, value, '--out', dir]);
      expect(r.code, value).not.toBe(0);
      expect(r.stderr + r.stdout).toContain('SP_PRIVACY_REPORT_INVALID');
      expect(existsSync(dir)).toBe(false);
    }
    const badAddress = join(tmp, `refused-${backend}-address`);
    const ra = await cli(env, [
      'report',
      'access',
      '--from',
      FROM,
      '--to',
      TO,
      '--address',
      '999.1.1.1',
      '--out',
      badAddress,
    ]);
    expect(ra.code).not.toBe(0);
    expect(ra.stderr + ra.stdout).toContain('address: must be an IPv4 or IPv6 address');
    expect(existsSync(badAddress)).toBe(false);

    const tampered = (name: string, change: (dir: string) => void) => {
      const dir = join(tmp, `${backend}-${name}`);
      cpSync(out, dir, { recursive: true });
      change(dir);
      return dir;
    };
    const oneEntry = tampered('entry', (dir) => {
      const p = join(dir, 'report.json');
      const r = JSON.parse(readFileSync(p, 'utf8'));
      r.entries[0].entry = r.entries[0].entry.replace('"outcome":"success"', '"outcome":"failure"');
      writeFileSync(p, JSON.stringify(r, null, 1) + '\n');
    });
    const bad = await cli({}, ['verify-report', oneEntry, '--keys', keysFile]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('report.json was changed after signing');

    // Even re-signed with the notary key itself, a changed entry fails its inclusion proof.
    const resigned = tampered('resigned', () => {});
    {
      const p = join(resigned, 'report.json');
      const r = JSON.parse(readFileSync(p, 'utf8'));
      r.entries[0].entry = r.entries[0].entry.replace('"ip":"10.0.0.7"', '"ip":"10.0.0.8"');
      writeFileSync(p, JSON.stringify(r, null, 1) + '\n');
      const svc = h.app.services.privacyReports;
      const files: Record<string, Buffer> = {};
      for (const f of ['report.json', 'report.html', 'notice.html', 'report.pdf'])
        if (existsSync(join(resigned, f))) files[f] = readFileSync(join(resigned, f));
      const sig = await signReport(svc.signer(), svc.checkpointKey(), result.report, new Date(), files);
      writeFileSync(join(resigned, 'report.sig.json'), JSON.stringify(sig));
    }
    expect(verifyReportDir(resigned).problems[0]).toMatch(/inclusion proof does not lead to the checkpoint/);

    const otherSignature = tampered('sig', (dir) => {
      const p = join(dir, 'report.sig.json');
      const s = JSON.parse(readFileSync(p, 'utf8'));
      s.signature = Buffer.alloc(64, 7).toString('base64url');
      writeFileSync(p, JSON.stringify(s));
    });
    expect(verifyReportDir(otherSignature).problems[0]).toMatch(/notary signature/);

    const editedHtml = tampered('html', (dir) => {
      const p = join(dir, 'report.html');
      writeFileSync(p, readFileSync(p, 'utf8').replace('Riverside Clinic', 'Riverside Clinlc'));
    });
    expect(verifyReportDir(editedHtml).problems[0]).toMatch(/report.html was changed/);

    // Pinned keys: the published key set verifies; another installation's key set does not.
    const wellKnown = await h.request('GET', '/.well-known/sealpost-keys.json', undefined, { authorization: '' });
    expect(wellKnown.status).toBe(200);
    expect(verifyReportDir(out, wellKnown.body).ok).toBe(true);
    const forged = { ...wellKnown.body, keys: wellKnown.body.keys.map((k: any) => ({ ...k, x: 'A'.repeat(43) })) };
    expect(verifyReportDir(out, forged).ok).toBe(false);
  }, 300_000);
});
