import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { query } from '../helpers/db-snapshot.js';

const tag = randomBytes(4).toString('hex');
const MINE = `ct-mine-${tag}`;
const OTHER = `ct-other-${tag}`;
const REMINDER = { type: 'appointment_reminder', data: { start: '2031-02-03T15:30:00-06:00', location: 'Clinic A' } };
const RESULT = { type: 'test_result_ready', data: { testName: 'Lipid panel' } };
const BILL = { type: 'billing_statement', data: { amount: '12.50', dueDate: '2031-04-01', statementId: 'S1' } };

describe('care teams: the patient relationship of physicians and nurses', () => {
  let h: Harness;
  let admin: TestPerson,
    physician: TestPerson,
    nurse: TestPerson,
    receptionist: TestPerson,
    billing: TestPerson,
    auditor: TestPerson;
  const as = (p: TestPerson) => (method: string, path: string, body?: unknown) =>
    h.request(method, path, body, p.headers);
  const auditCount = (action: string) =>
    query(h.dataDir, 'select count(*) as n from audit_entries where action = ?', action)[0].n as number;

  beforeAll(async () => {
    h = await startSealpost();
    [admin, physician, nurse, receptionist, billing, auditor] = await Promise.all([
      staffWithSession(h, ['admin']),
      staffWithSession(h, ['physician']),
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['receptionist']),
      staffWithSession(h, ['billing']),
      staffWithSession(h, ['auditor']),
    ]);
    for (const id of [MINE, OTHER])
      expect((await h.request('PUT', `/v1/patients/${id}`, samplePatient())).status).toBe(201);
  }, 120_000);
  afterAll(() => h?.close());

  it('an administrator adds a physician; the physician then reads that patient and is refused every other one', async () => {
    const before = auditCount('care_team.member_added');
    const r = await as(admin)('PUT', `/v1/patients/${MINE}/care-team/${physician.userId}`);
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ userId: physician.userId, addedBy: `user:${admin.userId}` });
    expect((await as(admin)('PUT', `/v1/patients/${MINE}/care-team/${physician.userId}`)).status).toBe(200);
    expect(auditCount('care_team.member_added')).toBe(before + 1);

    expect((await as(physician)('GET', `/v1/patients/${MINE}`)).status).toBe(200);
    const refused = await as(physician)('GET', `/v1/patients/${OTHER}`);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('SP_AUTH_NO_RELATIONSHIP');
    expect(refused.text).not.toContain('Lopez');
    // Nor may a clinician replace a patient outside the care team, or register one.
    expect((await as(physician)('PUT', `/v1/patients/${OTHER}`, samplePatient({ language: 'es' }))).body.code).toBe(
      'SP_AUTH_NO_RELATIONSHIP',
    );
    expect((await as(physician)('PUT', `/v1/patients/new-${tag}`, samplePatient())).body.code).toBe(
      'SP_AUTH_NO_RELATIONSHIP',
    );
    expect(query(h.dataDir, 'select count(*) as n from patients where id = ?', `new-${tag}`)[0].n).toBe(0);
  });

  it('an integration holding careteam.manage (the admin API key) assigns members too; the team lists ids and times only', async () => {
    expect((await h.request('PUT', `/v1/patients/${MINE}/care-team/${nurse.userId}`)).status).toBe(201);
    const team = await as(admin)('GET', `/v1/patients/${MINE}/care-team`);
    expect(team.status).toBe(200);
    expect(team.body.items.map((m: { userId: string }) => m.userId).sort()).toEqual(
      [physician.userId, nurse.userId].sort(),
    );
    expect(team.body.items.find((m: { userId: string }) => m.userId === nurse.userId).addedBy).toMatch(/^api-key:/);
    expect(team.text).not.toContain('@staff.test');
  });

  it("only an existing clinical user of the same tenant can join an existing patient's team, and refusals change nothing", async () => {
    const stranger = await staffWithSession(h, ['physician'], `other-${tag}`);
    const rows = () => query(h.dataDir, 'select count(*) as n from care_team_members')[0].n as number;
    const n = rows();
    const cases: [string, number, string][] = [
      [`/v1/patients/${OTHER}/care-team/${receptionist.userId}`, 400, 'SP_CARETEAM_INVALID_MEMBER'],
      [`/v1/patients/${OTHER}/care-team/${auditor.userId}`, 400, 'SP_CARETEAM_INVALID_MEMBER'],
      [`/v1/patients/${OTHER}/care-team/u-nobody-${tag}`, 404, 'SP_USER_NOT_FOUND'],
      [`/v1/patients/${OTHER}/care-team/${stranger.userId}`, 404, 'SP_USER_NOT_FOUND'],
      [`/v1/patients/nobody-${tag}/care-team/${physician.userId}`, 404, 'SP_PATIENT_NOT_FOUND'],
      [`/v1/patients/${OTHER}/care-team/bad%20id`, 400, 'SP_REQ_VALIDATION'],
    ];
    for (const [path, status, code] of cases) {
      const r = await as(admin)('PUT', path);
      expect([path, r.status, r.body.code]).toEqual([path, status, code]);
    }
    expect(rows()).toBe(n);
    // The permission is careteam.manage: clinicians cannot put themselves on a team.
    const self = await as(physician)('PUT', `/v1/patients/${OTHER}/care-team/${physician.userId}`);
    expect([self.status, self.body.code]).toEqual([403, 'SP_AUTH_FORBIDDEN']);
    expect(rows()).toBe(n);
  });

  it('a physician reaches the notifications, proofs and appointments of team patients only', async () => {
    const mine = await h.request('POST', '/v1/notifications', { patientId: MINE, ...RESULT });
    const other = await h.request('POST', '/v1/notifications', { patientId: OTHER, ...RESULT });
    expect([mine.status, other.status]).toEqual([202, 202]);
    const p = as(physician);
    expect((await p('GET', `/v1/notifications/${mine.body.id}`)).status).toBe(200);
    expect((await p('GET', `/v1/notifications/${mine.body.id}/proof?include=content`)).status).toBe(200);
    for (const [m, path] of [
      ['GET', `/v1/notifications/${other.body.id}`],
      ['GET', `/v1/notifications/${other.body.id}/proof`],
      ['POST', `/v1/notifications/${other.body.id}/cancel`],
    ]) {
      const r = await p(m!, path!);
      expect([path, r.status, r.body.code]).toEqual([path, 403, 'SP_AUTH_NO_RELATIONSHIP']);
    }
    const created = await p('POST', '/v1/notifications', { patientId: MINE, ...RESULT });
    expect(created.status).toBe(202);
    const refused = await p('POST', '/v1/notifications:batch', {
      items: [
        { patientId: MINE, ...RESULT },
        { patientId: OTHER, ...RESULT },
      ],
    });
    expect([refused.status, refused.body.code]).toEqual([403, 'SP_AUTH_NO_RELATIONSHIP']);

    const appt = { patientId: OTHER, start: '2031-03-01T10:00:00-05:00' };
    expect((await h.request('PUT', `/v1/appointments/a-${tag}`, appt)).status).toBe(201);
    expect((await p('GET', `/v1/appointments/a-${tag}`)).body.code).toBe('SP_AUTH_NO_RELATIONSHIP');
    expect((await p('DELETE', `/v1/appointments/a-${tag}`)).body.code).toBe('SP_AUTH_NO_RELATIONSHIP');
    expect((await p('PUT', `/v1/appointments/b-${tag}`, appt)).body.code).toBe('SP_AUTH_NO_RELATIONSHIP');
    expect((await p('PUT', `/v1/appointments/b-${tag}`, { ...appt, patientId: MINE })).status).toBe(201);
    const reads = auditCount('appointment.read');
    expect((await h.request('GET', `/v1/appointments/a-${tag}`)).body.status).toBe('booked');
    // The schedule's read is on the record, as the FHIR read is.
    expect(auditCount('appointment.read')).toBe(reads + 1);
  });

  it('receptionists handle appointment reminders only and billing staff billing statements only, whatever the patient', async () => {
    const clinical = await h.request('POST', '/v1/notifications', { patientId: OTHER, ...RESULT });
    const bill = await h.request('POST', '/v1/notifications', { patientId: OTHER, ...BILL });
    const r = as(receptionist);
    expect((await r('POST', '/v1/notifications', { patientId: OTHER, ...REMINDER })).status).toBe(202);
    expect((await r('POST', '/v1/notifications', { patientId: OTHER, ...RESULT })).body.code).toBe('SP_AUTH_FORBIDDEN');
    expect((await r('GET', `/v1/notifications/${clinical.body.id}`)).body.code).toBe('SP_AUTH_FORBIDDEN');
    expect((await r('POST', `/v1/notifications/${clinical.body.id}/cancel`)).body.code).toBe('SP_AUTH_FORBIDDEN');
    expect((await r('GET', `/v1/patients/${OTHER}`)).status).toBe(200);
    const b = as(billing);
    expect((await b('POST', '/v1/notifications', { patientId: OTHER, ...BILL })).status).toBe(202);
    expect((await b('GET', `/v1/notifications/${bill.body.id}`)).status).toBe(200);
    expect((await b('GET', `/v1/notifications/${clinical.body.id}`)).body.code).toBe('SP_AUTH_FORBIDDEN');
    expect((await b('POST', '/v1/notifications', { patientId: OTHER, ...REMINDER })).body.code).toBe(
      'SP_AUTH_FORBIDDEN',
    );
    // An auditor reads a proof's identifiers and hashes, never its content.
    expect((await as(auditor)('GET', `/v1/notifications/${clinical.body.id}/proof`)).status).toBe(200);
    expect((await as(auditor)('GET', `/v1/notifications/${clinical.body.id}/proof?include=content`)).body.code).toBe(
      'SP_AUTH_FORBIDDEN',
    );
  });

  it('removing a member ends their access at once, and the removal is audited', async () => {
    const before = auditCount('care_team.member_removed');
    expect((await as(admin)('DELETE', `/v1/patients/${MINE}/care-team/${nurse.userId}`)).status).toBe(204);
    expect((await as(admin)('DELETE', `/v1/patients/${MINE}/care-team/${nurse.userId}`)).status).toBe(204);
    expect(auditCount('care_team.member_removed')).toBe(before + 1);
    expect((await as(nurse)('GET', `/v1/patients/${MINE}`)).body.code).toBe('SP_AUTH_NO_RELATIONSHIP');
    expect((await as(physician)('GET', `/v1/patients/${MINE}`)).status).toBe(200);
  });

  it("erasing a patient ends its care team: an id registered again later is another person, reached by nobody's old membership", async () => {
    const id = `ct-erased-${tag}`;
    expect((await h.request('PUT', `/v1/patients/${id}`, samplePatient())).status).toBe(201);
    expect((await as(admin)('PUT', `/v1/patients/${id}/care-team/${nurse.userId}`)).status).toBe(201);
    expect((await as(nurse)('GET', `/v1/patients/${id}`)).status).toBe(200);
    const erased = await h.request('DELETE', `/v1/patients/${id}?erase=true`);
    expect(erased.status).toBe(202);
    expect(erased.body.counts.careTeamMembers).toBe(1);
    expect(query(h.dataDir, 'select count(*) as n from care_team_members where patient_id = ?', id)[0].n).toBe(0);
    expect(
      (await h.request('PUT', `/v1/patients/${id}`, samplePatient({ name: { given: ['Someone'], family: 'Else' } })))
        .status,
    ).toBe(201);
    expect((await as(nurse)('GET', `/v1/patients/${id}`)).body.code).toBe('SP_AUTH_NO_RELATIONSHIP');
  });
});
