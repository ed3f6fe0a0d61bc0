import { randomBytes } from 'node:crypto';
import type { Harness } from './sealpost-harness.js';
import type { Role } from '../../src/core/domain.js';

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
export async function staffWithSession(
  h: Harness,
  roles: Role[],
  tenantId = 'default',
  email?: string,
): Promise<TestPerson> {
  const app = h.app;
  const userId = `u-${randomBytes(6).toString('hex')}`;
  const now = Date.now();
  const s = await app.store.transaction(async (tx) => {
    await tx.tenants.ensure(tenantId, tenantId, now);
    await tx.users.insert({
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
    return app.sessions.issue(tx, {
      tenantId,
      subjectType: 'user',
      subjectId: userId,
      transport: 'bearer',
      stage: 'active',
      amr: ['pwd', 'otp', 'mfa'],
    });
  });
  return { userId, token: s.token, headers: { authorization: `Bearer ${s.token}` } };
}

/**
 * A staff user with a password (argon2id) and no second factor yet, written to the store: sign in
 * through `POST /v1/auth/login`, which answers a session at stage `mfa_enrol`.
 */
export async function staffWithPassword(
  h: Harness,
  roles: Role[],
  password = 'correct horse battery staple',
  tenantId = 'default',
): Promise<{ userId: string; email: string; password: string; displayName: string }> {
  const { hashPassword } = await import('../../src/auth/passwords.js');
  const userId = `u-${randomBytes(6).toString('hex')}`;
  const email = `${userId}@staff.test`;
  const displayName = `Dr ${userId.slice(2, 8)}`;
  const now = Date.now();
  const passwordHash = await hashPassword(password);
  await h.app.store.transaction(async (tx) => {
    await tx.tenants.ensure(tenantId, tenantId, now);
    await tx.users.insert({
      id: userId,
      tenant_id: tenantId,
      email,
      display_name: displayName,
      roles: roles.join(' '),
      status: 'active',
      password_hash: passwordHash,
      locked_until: null,
      sso_issuer: null,
      sso_subject: null,
      created_at: now,
      updated_at: now,
    });
  });
  return { userId, email, password, displayName };
}
