import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { createTestDatabase, describeEachBackend, type TestDatabase } from '../helpers/backends.js';
import { staffWithSession } from '../helpers/identity.js';
import { asBearer, auditEvents } from '../helpers/staff-sign-in.js';

/**
 * An administrator sees a user's live sessions and ends one of them (GET /v1/users/{id}/sessions,
 * DELETE /v1/users/{id}/sessions/{sessionId}, permission user.manage): the ended session stops
 * working at once, the others go on, and the change is on the audit log.
 */
describeEachBackend("an administrator and a user's sessions", (backend) => {
  let db: TestDatabase;
  let h: Harness;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    h = await startSealpost(db.env);
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  it('lists the live sessions of a user without tokens, and ends one of them; the other keeps working', async () => {
    const admin = await staffWithSession(h, ['admin']);
    const nurse = await staffWithSession(h, ['nurse']);
    // A second session of the same nurse: the one the administrator will end.
    const second = await staffWithSession(h, ['nurse'], 'default', `other-${nurse.userId}@staff.test`);
    const list = await asBearer(h, admin.token, 'GET', `/v1/users/${nurse.userId}/sessions`);
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(1);
    const [s] = list.body.items;
    expect(s).toMatchObject({ transport: 'bearer', amr: expect.any(Array) });
    expect(Object.keys(s).sort()).toEqual(
      ['amr', 'createdAt', 'expiresAt', 'id', 'lastSeenAt', 'stage', 'transport'].sort(),
    );
    expect(list.text).not.toContain(nurse.token);

    // Another person's session is not the nurse's: refused, nothing ended.
    const other = (await asBearer(h, admin.token, 'GET', `/v1/users/${second.userId}/sessions`)).body.items[0].id;
    const wrong = await asBearer(h, admin.token, 'DELETE', `/v1/users/${nurse.userId}/sessions/${other}`);
    expect(wrong.status).toBe(404);
    expect(wrong.body.code).toBe('SP_AUTH_SESSION_NOT_FOUND');
    expect((await asBearer(h, second.token, 'GET', '/v1/me')).status).toBe(200);

    const del = await asBearer(h, admin.token, 'DELETE', `/v1/users/${nurse.userId}/sessions/${s.id}`);
    expect(del.status).toBe(204);
    expect((await asBearer(h, nurse.token, 'GET', '/v1/me')).status).toBe(401);
    expect((await asBearer(h, second.token, 'GET', '/v1/me')).status).toBe(200);
    expect((await asBearer(h, admin.token, 'GET', `/v1/users/${nurse.userId}/sessions`)).body.items).toEqual([]);

    // Ending it again: it is over already.
    const again = await asBearer(h, admin.token, 'DELETE', `/v1/users/${nurse.userId}/sessions/${s.id}`);
    expect(again.status).toBe(404);
    const entries = (await auditEvents(h, 'user.session_revoked')).filter((e) => e.target?.id === s.id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actor: `user:${admin.userId}`, details: { user: nurse.userId } });
  });

  it('refuses people without user.manage, unknown users and malformed ids, and changes nothing', async () => {
    const nurse = await staffWithSession(h, ['nurse']);
    const auditor = await staffWithSession(h, ['auditor']);
    const admin = await staffWithSession(h, ['admin']);
    for (const who of [nurse, auditor]) {
      expect((await asBearer(h, who.token, 'GET', `/v1/users/${nurse.userId}/sessions`)).status).toBe(403);
      const sid = (await asBearer(h, admin.token, 'GET', `/v1/users/${nurse.userId}/sessions`)).body.items[0].id;
      const r = await asBearer(h, who.token, 'DELETE', `/v1/users/${nurse.userId}/sessions/${sid}`);
      expect(r.status).toBe(403);
      expect((await asBearer(h, nurse.token, 'GET', '/v1/me')).status).toBe(200);
    }
    const unknown = await asBearer(h, admin.token, 'GET', '/v1/users/no-such-user/sessions');
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('SP_USER_NOT_FOUND');
    const bad = await asBearer(h, admin.token, 'DELETE', `/v1/users/${nurse.userId}/sessions/bad%20id`);
    expect(bad.status).toBe(400);
    expect((await asBearer(h, nurse.token, 'GET', '/v1/me')).status).toBe(200);
  });
});
