import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { httpsJson, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { createTestDatabase, describeEachBackend, numberAuditEntries, type TestDatabase } from '../helpers/backends.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';

const REMINDER = { type: 'appointment_reminder', data: { start: '2031-02-03T15:30:00-06:00', location: 'Clinic A' } };
const RESULT = { type: 'test_result_ready', data: { testName: 'Lipid panel' } };

/**
 * The routes behind the console's notification and patient screens: notification search (ids,
 * types, statuses; the role's types and the patient relationship), a notification's audit trail,
 * patient lookup by identifier (in the body), masked contact points and their audited reveal.
 */
describeEachBackend('console searches: notifications, patient lookup, contact points', (backend) => {
  const tag = randomBytes(4).toString('hex');
  const MINE = `cs-mine-${tag}`;
  const OTHER = `cs-other-${tag}`;
  const MRN = { system: 'urn:mrn', value: `MRN-${tag}` };
  let h: Harness;
  let db: TestDatabase;
  let admin: TestPerson, nurse: TestPerson, physician: TestPerson, receptionist: TestPerson;
  const ids: Record<string, string> = {};
  const as = (p: TestPerson | null, method: string, path: string, body?: unknown) =>
    httpsJson(h.url, h.cert, method, path, body, { authorization: p ? p.headers.authorization : '' });
  // PostgreSQL lists an audit entry once numbered: number every committed one before counting.
  const settle = () => numberAuditEntries(h.app.store as KyselyStore);
  const auditActions = async (action: string) => {
    await settle();
    return ((await h.request('GET', `/v1/audit/events?action=${action}&limit=500`)).body.items as unknown[]).length;
  };

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    h = await startSealpost(db.env);
    [admin, nurse, physician, receptionist] = await Promise.all([
      staffWithSession(h, ['admin']),
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['physician']),
      staffWithSession(h, ['receptionist']),
    ]);
    expect((await h.request('PUT', `/v1/patients/${MINE}`, samplePatient({ identifiers: [MRN] }))).status).toBe(201);
    expect((await h.request('PUT', `/v1/patients/${OTHER}`, samplePatient())).status).toBe(201);
    expect((await h.request('PUT', `/v1/patients/${MINE}/care-team/${nurse.userId}`)).status).toBe(201);
    for (const [k, body] of [
      ['reminder', { ...REMINDER, patientId: MINE }],
      // Far in the future: it stays `scheduled` while the worker delivers the others.
      ['result', { ...RESULT, patientId: MINE, sendAt: '2099-01-01T00:00:00Z' }],
      ['other', { ...REMINDER, patientId: OTHER }],
    ] as const) {
      const r = await h.request('POST', '/v1/notifications', body);
      expect(r.status).toBe(202);
      ids[k] = r.body.id;
    }
  }, 120_000);

  afterAll(async () => {
    await h?.close();
    await db?.drop();
  }, 120_000);

  it('lists notifications newest first with ids, types and statuses only, filtered and paginated', async () => {
    const all = await h.request('GET', '/v1/notifications?limit=2');
    expect(all.status).toBe(200);
    expect(all.body.items.map((n: { id: string }) => n.id)).toEqual([ids.other, ids.result]);
    expect(Object.keys(all.body.items[0]).sort()).toEqual(
      ['channels', 'createdAt', 'id', 'patientId', 'priority', 'sendAt', 'status', 'type'].sort(),
    );
    expect(all.text).not.toContain('Lipid');
    const next = await h.request('GET', `/v1/notifications?limit=2&cursor=${all.body.nextCursor}`);
    expect(next.body.items.map((n: { id: string }) => n.id)).toEqual([ids.reminder]);
    const byType = await h.request('GET', `/v1/notifications?patientId=${MINE}&type=test_result_ready`);
    expect(byType.body.items.map((n: { id: string }) => n.id)).toEqual([ids.result]);
    expect(byType.body.items[0].status).toBe('scheduled');
    const byStatus = await h.request('GET', `/v1/notifications?patientId=${MINE}&status=scheduled`);
    expect(byStatus.body.items.map((n: { id: string }) => n.id)).toEqual([ids.result]);
    const future = await h.request('GET', '/v1/notifications?from=2099-01-01T00:00:00Z');
    expect(future.body).toEqual({ items: [], nextCursor: null });
  });

  it('refuses bad filters with a clear error', async () => {
    for (const q of [
      'type=nope',
      'status=lost',
      'from=yesterday',
      'limit=0',
      'cursor=!!',
      'cursor=Zm9v',
      'patientId=..',
    ])
      expect((await h.request('GET', `/v1/notifications?${q}`)).body.code, q).toBe('SP_REQ_VALIDATION');
    const reversed = await h.request('GET', '/v1/notifications?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z');
    expect(reversed.body.code).toBe('SP_REQ_VALIDATION');
  });

  it('shows a receptionist appointment reminders but never results, in the list and by id', async () => {
    const list = await as(receptionist, 'GET', '/v1/notifications');
    expect(list.status).toBe(200);
    const types = new Set(list.body.items.map((n: { type: string }) => n.type));
    expect([...types]).toEqual(['appointment_reminder']);
    expect((await as(receptionist, 'GET', '/v1/notifications?type=test_result_ready')).body.code).toBe(
      'SP_AUTH_FORBIDDEN',
    );
    expect((await as(receptionist, 'GET', `/v1/notifications/${ids.result}`)).status).toBe(403);
    expect((await as(receptionist, 'GET', `/v1/notifications/${ids.result}/audit`)).status).toBe(403);
    expect((await as(receptionist, 'GET', `/v1/notifications/${ids.reminder}/audit`)).status).toBe(200);
  });

  it("lists only the care team's patients to a nurse, and refuses another patient by name", async () => {
    const list = await as(nurse, 'GET', '/v1/notifications');
    expect(list.body.items.map((n: { id: string }) => n.id).sort()).toEqual([ids.reminder, ids.result].sort());
    const other = await as(nurse, 'GET', `/v1/notifications?patientId=${OTHER}`);
    expect(other.status).toBe(403);
    expect(other.body.code).toBe('SP_AUTH_NO_RELATIONSHIP');
    expect((await as(physician, 'GET', '/v1/notifications')).body.items).toEqual([]);
  });

  it("gives a notification's audit trail: creation and what followed, ids and hashes only", async () => {
    await settle();
    const r = await as(nurse, 'GET', `/v1/notifications/${ids.result}/audit`);
    expect(r.status).toBe(200);
    expect(r.body.items[0]).toMatchObject({ action: 'notification.created', target: { id: ids.result } });
    expect(r.text).not.toContain('Lipid');
    expect((await as(physician, 'GET', `/v1/notifications/${ids.result}/audit`)).body.code).toBe(
      'SP_AUTH_NO_RELATIONSHIP',
    );
    expect((await h.request('GET', '/v1/notifications/nope/audit')).body.code).toBe('SP_NOTIFICATION_NOT_FOUND');
  });

  it('finds a patient by identifier in the body (audited); refuses a clinician outside the care team', async () => {
    const before = await auditActions('patient.looked_up');
    expect((await as(admin, 'POST', '/v1/patients/lookup', MRN)).body).toEqual({ patientId: MINE, erased: false });
    expect((await as(nurse, 'POST', '/v1/patients/lookup', MRN)).body.patientId).toBe(MINE);
    const refused = await as(physician, 'POST', '/v1/patients/lookup', MRN);
    expect(refused.body.code).toBe('SP_AUTH_NO_RELATIONSHIP');
    expect(await auditActions('patient.looked_up')).toBe(before + 2);
    expect((await as(admin, 'POST', '/v1/patients/lookup', { ...MRN, value: 'unknown' })).body.code).toBe(
      'SP_PATIENT_NOT_FOUND',
    );
    expect((await as(admin, 'POST', '/v1/patients/lookup', { system: 'x' })).body.code).toBe('SP_REQ_VALIDATION');
  });

  it('masks contact points; a nurse on the care team reveals one, audited; others are refused', async () => {
    const before = await auditActions('patient.contact_point_revealed');
    const list = await as(nurse, 'GET', `/v1/patients/${MINE}/contact-points`);
    expect(list.status).toBe(200);
    expect(list.body.items.map((c: { masked: string }) => c.masked)).toEqual(['+1 415 ••• ••71', 'a•••@example.com']);
    expect(list.text).not.toContain('5552671');
    const sms = list.body.items[0].id;
    const shown = await as(nurse, 'POST', `/v1/patients/${MINE}/contact-points/${sms}/reveal`);
    expect(shown.body).toEqual({ id: sms, system: 'sms', value: '+14155552671' });
    expect(await auditActions('patient.contact_point_revealed')).toBe(before + 1);
    const events = await h.request('GET', '/v1/audit/events?action=patient.contact_point_revealed');
    expect(events.body.items.at(-1)).toMatchObject({ actor: `user:${nurse.userId}`, target: { id: sms } });
    expect(JSON.stringify(events.body)).not.toContain('5552671');

    expect((await as(physician, 'POST', `/v1/patients/${MINE}/contact-points/${sms}/reveal`)).body.code).toBe(
      'SP_AUTH_NO_RELATIONSHIP',
    );
    expect((await as(admin, 'POST', `/v1/patients/${MINE}/contact-points/${sms}/reveal`)).status).toBe(403);
    expect((await as(nurse, 'POST', `/v1/patients/${MINE}/contact-points/nope/reveal`)).body.code).toBe(
      'SP_PATIENT_CONTACT_NOT_FOUND',
    );
    const otherCp = (await h.request('GET', `/v1/patients/${OTHER}/contact-points`)).body.items[0].id;
    expect((await as(nurse, 'POST', `/v1/patients/${MINE}/contact-points/${otherCp}/reveal`)).body.code).toBe(
      'SP_PATIENT_CONTACT_NOT_FOUND',
    );
    expect(await auditActions('patient.contact_point_revealed')).toBe(before + 1);
  });
});
