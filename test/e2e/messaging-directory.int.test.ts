import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, describeEachBackend, type TestDatabase } from '../helpers/backends.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { MlsTestDevice } from '../helpers/mls-test-client.js';
import { createTenant } from '../../src/auth/tenants.js';

/**
 * GET /v1/messaging/directory: the colleagues a staff member may message (the console's picker and
 * the names of a conversation's members). Names and ids only; staff callers only.
 */
describeEachBackend('the messaging directory', (backend) => {
  let db: TestDatabase;
  let h: Harness;
  let nurse: TestPerson, billing: TestPerson, auditor: TestPerson, archiver: TestPerson, gone: TestPerson;
  let stranger: TestPerson;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    h = await startSealpost(db.env);
    [nurse, billing, auditor, archiver, gone] = [
      await staffWithSession(h, ['nurse']),
      await staffWithSession(h, ['billing']),
      await staffWithSession(h, ['auditor']),
      await staffWithSession(h, ['archiver']),
      await staffWithSession(h, ['physician']),
    ];
    await createTenant(h.app.store, 'tenant-dir', 'Other organisation', new Date());
    stranger = await staffWithSession(h, ['nurse'], 'tenant-dir');
    await MlsTestDevice.register(h, nurse.headers, { count: 1 });
    await h.app.store.transaction((tx) => tx.users.update('default', gone.userId, { status: 'disabled' }));
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  it('lists the active staff of the tenant who message, with whether each has a messaging device', async () => {
    const r = await h.request('GET', '/v1/messaging/directory', undefined, billing.headers);
    expect(r.status).toBe(200);
    const ids = r.body.items.map((i: { id: string }) => i.id);
    // Billing messages too (message.use): any staff member may message any other of the tenant.
    expect(ids).toEqual(expect.arrayContaining([nurse.userId, billing.userId]));
    // No auditor (no message.use), no archive member, no disabled account, nobody of another tenant.
    for (const absent of [auditor, archiver, gone, stranger]) expect(ids).not.toContain(absent.userId);
    const n = r.body.items.find((i: { id: string }) => i.id === nurse.userId);
    expect(n).toEqual({ kind: 'user', id: nurse.userId, displayName: `Staff ${nurse.userId}`, reachable: true });
    expect(r.body.items.find((i: { id: string }) => i.id === billing.userId).reachable).toBe(false);
    // Names only: no e-mail address, no roles.
    expect(r.text).not.toContain('@staff.test');
    expect(r.text).not.toContain('billing');
  });

  it('shows each tenant only its own staff', async () => {
    const r = await h.request('GET', '/v1/messaging/directory', undefined, stranger.headers);
    expect(r.status).toBe(200);
    expect(r.body.items.map((i: { id: string }) => i.id)).toEqual([stranger.userId]);
  });

  it('refuses a role without message.use, a patient, and a request without a session', async () => {
    const a = await h.request('GET', '/v1/messaging/directory', undefined, auditor.headers);
    expect(a.status).toBe(403);
    expect(a.body.code).toBe('SP_AUTH_FORBIDDEN');
    const account = `pa-${randomBytes(4).toString('hex')}`;
    const token = await h.app.store.transaction(async (tx) => {
      await tx.patientAccounts.insert({
        id: account,
        tenant_id: 'default',
        patient_id: 'p-dir',
        contact_system: 'email',
        contact_bidx: `bidx-${account}`,
        contact_ct: Buffer.alloc(0),
        status: 'active',
        created_at: Date.now(),
      });
      const s = await h.app.sessions.issue(tx, {
        tenantId: 'default',
        subjectType: 'patient',
        subjectId: account,
        transport: 'bearer',
        stage: 'active',
        amr: ['otp'],
      });
      return s.token;
    });
    const p = await h.request('GET', '/v1/messaging/directory', undefined, { authorization: `Bearer ${token}` });
    expect(p.status).toBe(403);
    expect(p.body.code).toBe('SP_AUTH_FORBIDDEN');
    expect((await h.request('GET', '/v1/messaging/directory', undefined, { authorization: '' })).status).toBe(401);
  });
});
