import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { httpsJson, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { createTestDatabase, describeEachBackend, numberAuditEntries, type TestDatabase } from '../helpers/backends.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { totpCode } from '../../src/auth/totp.js';

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
  const RESULTS = `cs-results-${tag}`;
  const GONE = `cs-gone-${tag}`;
  const MRN = { system: 'urn:mrn', value: `MRN-${tag}` };
  const GONE_MRN = { system: 'urn:mrn', value: `MRN-gone-${tag}` };
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
    expect((await h.request('PUT', `/v1/patients/${RESULTS}`, samplePatient())).status).toBe(201);
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
    for (const q of ['type=nope', 'status=lost', 'from=yesterday', 'limit=0', 'cursor=!!', 'patientId=..'])
      expect((await h.request('GET', `/v1/notifications?${q}`)).body.code, q).toBe('SP_REQ_VALIDATION');
    // A cursor the server did not issue (the old unsealed form: base64url of createdAt:id) is refused.
    const forged = Buffer.from(`${Date.now() + 60_000}:${ids.result}`).toString('base64url');
    for (const c of ['Zm9v', forged])
      expect((await h.request('GET', `/v1/notifications?cursor=${c}`)).body.code, c).toBe('SP_REQ_CURSOR_INVALID');
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

  it("lists only the care team's patients to a nurse; another patient by id is an empty page, as an unknown id", async () => {
    const list = await as(nurse, 'GET', '/v1/notifications');
    expect(list.body.items.map((n: { id: string }) => n.id).sort()).toEqual([ids.reminder, ids.result].sort());
    const other = await as(nurse, 'GET', `/v1/notifications?patientId=${OTHER}`);
    const unknown = await as(nurse, 'GET', `/v1/notifications?patientId=nobody-${tag}`);
    expect([other.status, other.body]).toEqual([200, { items: [], nextCursor: null }]);
    expect([unknown.status, unknown.body]).toEqual([200, { items: [], nextCursor: null }]);
    expect((await as(physician, 'GET', '/v1/notifications')).body.items).toEqual([]);
  });

  it('never scans, lists or names in a cursor a type the caller may not read', async () => {
    // Ten results (hidden from a receptionist) for one patient: the old scan ran out of budget on
    // them and answered a cursor naming the last one's id and time.
    for (let i = 0; i < 10; i++)
      expect(
        (
          await h.request('POST', '/v1/notifications', {
            ...RESULT,
            patientId: RESULTS,
            sendAt: '2099-01-01T00:00:00Z',
          })
        ).status,
      ).toBe(202);
    const r = await as(receptionist, 'GET', `/v1/notifications?patientId=${RESULTS}&limit=1`);
    expect([r.status, r.body]).toEqual([200, { items: [], nextCursor: null }]);
    // A page's cursor names only rows the caller could open, and works only for its caller and filters.
    const page = await as(receptionist, 'GET', '/v1/notifications?limit=1');
    expect(page.body.items).toHaveLength(1);
    const cursor: string = page.body.nextCursor;
    expect(cursor).toEqual(expect.any(String));
    const hidden = (await h.request('GET', `/v1/notifications?patientId=${RESULTS}`)).body.items.map(
      (n: { id: string }) => n.id,
    );
    for (const id of [...hidden, ids.result])
      expect(Buffer.from(cursor, 'base64url').toString('latin1')).not.toContain(id);
    expect((await as(receptionist, 'GET', `/v1/notifications?limit=1&cursor=${cursor}`)).status).toBe(200);
    expect((await h.request('GET', `/v1/notifications?limit=1&cursor=${cursor}`)).body.code).toBe(
      'SP_REQ_CURSOR_INVALID',
    );
    expect(
      (await as(receptionist, 'GET', `/v1/notifications?limit=1&patientId=${OTHER}&cursor=${cursor}`)).body.code,
    ).toBe('SP_REQ_CURSOR_INVALID');
  });

  it('puts every search on the record: a keyed hash of the filters, the count, the patient reference', async () => {
    await settle();
    const searched = async () =>
      (await h.request('GET', '/v1/audit/events?action=notification.searched&limit=500')).body.items as {
        actor: string;
        details: Record<string, unknown>;
      }[];
    const before = (await searched()).length;
    expect((await as(nurse, 'GET', `/v1/notifications?patientId=${MINE}`)).body.items).toHaveLength(2);
    expect((await as(nurse, 'GET', `/v1/notifications?patientId=${OTHER}`)).body.items).toHaveLength(0);
    await settle();
    const after = await searched();
    expect(after.length).toBe(before + 2);
    const mine = after.at(-2)!;
    expect(mine).toMatchObject({ actor: `user:${nurse.userId}`, details: { resultCount: 2 } });
    expect(mine.details.filterHash).toMatch(/^[0-9a-f]{32}$/);
    expect(after.at(-1)!.details.resultCount).toBe(0);
    expect(after.at(-1)!.details.filterHash).not.toBe(mine.details.filterHash);
    expect(JSON.stringify(after)).not.toContain(MINE);
    expect(JSON.stringify(after)).not.toContain(OTHER);
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

  it('finds a patient by identifier in the body; unknown, outside the care team and erased are the same 404, each audited', async () => {
    const before = await auditActions('patient.looked_up');
    expect((await as(admin, 'POST', '/v1/patients/lookup', MRN)).body).toEqual({ patientId: MINE, erased: false });
    expect((await as(nurse, 'POST', '/v1/patients/lookup', MRN)).body.patientId).toBe(MINE);
    const refused = await as(physician, 'POST', '/v1/patients/lookup', MRN);
    const unknown = await as(physician, 'POST', '/v1/patients/lookup', { ...MRN, value: `unknown-${tag}` });
    // Erased: the MRN->id link is gone for whoever does not erase; the nurse was on its care team.
    expect((await h.request('PUT', `/v1/patients/${GONE}`, samplePatient({ identifiers: [GONE_MRN] }))).status).toBe(
      201,
    );
    expect((await h.request('PUT', `/v1/patients/${GONE}/care-team/${nurse.userId}`)).status).toBe(201);
    expect((await as(admin, 'DELETE', `/v1/patients/${GONE}?erase=true`)).status).toBe(202);
    const erased = await as(nurse, 'POST', '/v1/patients/lookup', GONE_MRN);
    for (const r of [refused, unknown, erased]) {
      expect(r.status).toBe(404);
      expect({ ...r.body, requestId: null, instance: null }).toEqual({
        ...unknown.body,
        requestId: null,
        instance: null,
      });
    }
    expect((await as(admin, 'POST', '/v1/patients/lookup', GONE_MRN)).body).toEqual({ patientId: GONE, erased: true });
    expect(await auditActions('patient.looked_up')).toBe(before + 6);
    const entries = (await h.request('GET', '/v1/audit/events?action=patient.looked_up&limit=500')).body.items.slice(
      -6,
    );
    expect(entries.map((e: { outcome: string; details: { result: string } }) => [e.outcome, e.details.result])).toEqual(
      [
        ['success', 'found'],
        ['success', 'found'],
        ['failure', 'no_relationship'],
        ['failure', 'not_found'],
        ['failure', 'erased'],
        ['success', 'erased'],
      ],
    );
    const hashes = entries.map((e: { details: { identifierHash: string } }) => e.details.identifierHash);
    expect(hashes[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(hashes).size).toBe(3);
    expect(JSON.stringify(entries)).not.toContain(MRN.value);
    expect(JSON.stringify(entries)).not.toContain(GONE_MRN.value);
    expect((await as(admin, 'POST', '/v1/patients/lookup', { system: 'x' })).body.code).toBe('SP_REQ_VALIDATION');
  });

  it('masks contact points; a nurse on the care team reveals one, audited; others are refused', async () => {
    const before = await auditActions('patient.contact_point_revealed');
    const reads = await auditActions('patient.contact_points_read');
    const list = await as(nurse, 'GET', `/v1/patients/${MINE}/contact-points`);
    expect(list.status).toBe(200);
    // The masked list is PHI too (kinds, area codes, domains): its read is on the record.
    expect(await auditActions('patient.contact_points_read')).toBe(reads + 1);
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

  it('records break-glass use when a grant lets a clinician search a named patient; the unfiltered list leaves such patients out', async () => {
    const er = await staffWithSession(h, ['physician']);
    const setup = await as(er, 'POST', '/v1/auth/mfa/totp/setup');
    const secret: string = setup.body.secret;
    expect(
      (await as(er, 'POST', '/v1/auth/mfa/totp/confirm', { code: await totpCode(secret, Date.now()) })).status,
    ).toBe(200);
    const grant = await as(er, 'POST', `/v1/patients/${MINE}/break-glass`, {
      reason: 'Unconscious in the emergency department, no relatives reachable',
      totp: await totpCode(secret, Date.now() + 30_000),
    });
    expect(grant.status).toBe(201);
    const used = await auditActions('access.break_glass_used');
    const named = await as(er, 'GET', `/v1/notifications?patientId=${MINE}`);
    expect(named.body.items.map((n: { id: string }) => n.id).sort()).toEqual([ids.reminder, ids.result].sort());
    expect(await auditActions('access.break_glass_used')).toBe(used + 1);
    const events = await h.request('GET', '/v1/audit/events?action=access.break_glass_used&limit=500');
    expect(events.body.items.at(-1)).toMatchObject({ actor: `user:${er.userId}`, target: { id: grant.body.grant.id } });
    expect((await as(er, 'GET', '/v1/notifications')).body.items).toEqual([]);
    expect(await auditActions('access.break_glass_used')).toBe(used + 1);
  });
});
