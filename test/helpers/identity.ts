import { randomBytes } from 'node:crypto';
import type { Harness } from './sealpost-harness.js';
import type { Role } from '../../src/auth/permissions.js';

export interface TestPerson {
  userId: string;
  /** Bearer session token (`sps_…`), stage `active`, amr pwd+otp+mfa. */
  token: string;
  headers: { authorization: string };
}

/**
 * A staff user with these roles and a signed-in session, written straight to the store. For tests of
 * authorization (what a role may do); how people sign in is tested through the sign-in routes.
 */
export async function staffWithSession(h: Harness, roles: Role[], tenantId = 'default', email?: string): Promise<TestPerson> {
  const app = h.app;
  const userId = `u-${randomBytes(6).toString('hex')}`;
  const now = Date.now();
  const s = await app.store.transaction(async (tx) => {
    await tx.ensureTenant(tenantId, tenantId, now);
    await tx.sessions.insertUserForTest({
      id: userId,
      tenant_id: tenantId,
      email: email ?? `${userId}@staff.test`,
      display_name: `Staff ${userId}`,
      roles: roles.join(' '),
      status: 'active',
      password_hash: null,
      locked_until: null,
      sso_issuer: null,
      sso_subject: null,
      created_at: now,
      updated_at: now,
    });
    return app.sessions.issue(tx, { tenantId, subjectType: 'user', subjectId: userId, transport: 'bearer', stage: 'active', amr: ['pwd', 'otp', 'mfa'] });
  });
  return { userId, token: s.token, headers: { authorization: `Bearer ${s.token}` } };
}
