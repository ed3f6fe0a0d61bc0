import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { createTestDatabase, describeEachBackend, type TestDatabase } from '../helpers/backends.js';

/** `GET /v1/units`: every role assignment of the caller's tenant, for the console's units view. */
describeEachBackend('listing unit role assignments', (backend) => {
  let h: Harness;
  let db: TestDatabase;
  let admin: TestPerson, nurse: TestPerson, auditor: TestPerson, stranger: TestPerson;
  const as = (p: TestPerson) => (method: string, path: string, body?: unknown) =>
    h.request(method, path, body, p.headers);

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    h = await startSealpost(db.env);
    [admin, nurse, auditor, stranger] = await Promise.all([
      staffWithSession(h, ['admin']),
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['auditor']),
      staffWithSession(h, ['admin'], 'other-tenant'),
    ]);
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  it('lists the assignments by unit then role, to alert.read only, and never another tenant’s', async () => {
    expect((await as(admin)('GET', '/v1/units')).body).toEqual({ items: [] });
    expect((await as(admin)('PUT', '/v1/units/5-east/roles/charge_nurse', { userIds: [nurse.userId] })).status).toBe(
      201,
    );
    expect((await as(admin)('PUT', '/v1/units/4-west/roles/rapid', { userIds: [nurse.userId] })).status).toBe(201);
    expect((await as(stranger)('PUT', '/v1/units/4-west/roles/other', { userIds: [stranger.userId] })).status).toBe(
      201,
    );
    expect((await as(auditor)('GET', '/v1/units')).status).toBe(403);
    const list = await as(nurse)('GET', '/v1/units');
    expect(list.status).toBe(200);
    expect(list.body.items.map((r: { unit: string; role: string }) => `${r.role}@${r.unit}`)).toEqual([
      'rapid@4-west',
      'charge_nurse@5-east',
    ]);
    expect(list.body.items[0]).toMatchObject({
      userIds: [nurse.userId],
      scheduleId: null,
      updatedBy: expect.stringContaining(admin.userId),
    });
    expect((await as(stranger)('GET', '/v1/units')).body.items).toHaveLength(1);
    // A removed assignment leaves the list.
    expect((await as(admin)('DELETE', '/v1/units/4-west/roles/rapid')).status).toBe(204);
    expect((await as(nurse)('GET', '/v1/units')).body.items.map((r: { role: string }) => r.role)).toEqual([
      'charge_nurse',
    ]);
  });
});
