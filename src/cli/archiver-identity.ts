import { v7 as uuidv7 } from 'uuid';
import type { Store } from '../store/store.js';
import type { SessionService } from '../auth/session-service.js';
import { AppError } from '../core/errors.js';
import type { UserRow } from '../store/repositories/user-repository.js';
import { ARCHIVER_ROLE } from '../messaging/archive-policy.js';

/**
 * The tenant's archive identity, written through the store by the command line on the server host:
 * a user of the single role `archiver` (permission `message.use` only) with no password and no second
 * factor, so it can never sign in; its e-mail address is under `.invalid` (RFC 2606), so no reset or
 * invitation link can reach anyone. It gets bearer sessions only from `sealpost archiver run`, which
 * mints them here with the server's database and keys: the credential of the unattended archiver
 * is access to the server host, as for every `sealpost` command, and nothing that could be phished.
 */

export const archiverEmail = (tenantId: string) => `archiver@${tenantId.toLowerCase()}.archive.invalid`;

/** The tenant's archiver user (active), or null when `archiver init` was never run (or it was disabled). */
export async function findArchiver(store: Store, tenantId: string): Promise<UserRow | null> {
  const [u] = await store.read.users.activeWithRole(tenantId, ARCHIVER_ROLE);
  return u ?? null;
}

/**
 * Creates the archiver user of `tenantId`, audited `archiver.created`; an existing one is returned
 * as it is (init may be run again to recreate a lost archive directory, not a second identity).
 */
export async function ensureArchiver(
  store: Store,
  tenantId: string,
  actor: string,
  now: Date,
): Promise<{ user: UserRow; created: boolean }> {
  if (!(await store.read.tenants.exists(tenantId))) throw new AppError('SP_REQ_VALIDATION', '--tenant: no such tenant');
  return store.transaction(async (tx) => {
    const email = archiverEmail(tenantId);
    const existing = await tx.users.byEmail(tenantId, email);
    if (existing) {
      if (existing.roles !== ARCHIVER_ROLE)
        throw new AppError('SP_REQ_VALIDATION', `${email} exists and is not the archiver; refusing to change it`);
      return { user: existing, created: false };
    }
    const user = {
      id: uuidv7(),
      tenant_id: tenantId,
      email,
      display_name: 'Archive',
      roles: ARCHIVER_ROLE,
      status: 'active',
      password_hash: null,
      locked_until: null,
      sso_issuer: null,
      sso_subject: null,
      created_at: now.getTime(),
      updated_at: now.getTime(),
    };
    await tx.users.insert(user);
    await tx.audit.append({
      tenantId,
      at: now,
      actor,
      action: 'archiver.created',
      outcome: 'success',
      targetType: 'user',
      targetId: user.id,
      details: { roles: [ARCHIVER_ROLE] },
    });
    return { user: (await tx.users.byId(tenantId, user.id))!, created: true };
  });
}

/**
 * A bearer session for the archiver (stage `active`, amr `swk`: the host's keys stand for it),
 * audited `archiver.session_issued`. Refused when the user is not active or holds any other role
 * (an administrator who changed its roles must not turn the archiver into a broader credential).
 */
export async function issueArchiverSession(
  store: Store,
  sessions: SessionService,
  tenantId: string,
  actor: string,
  now: Date,
): Promise<{ userId: string; token: string; expiresAt: Date }> {
  const u = await findArchiver(store, tenantId);
  if (!u) throw new AppError('SP_REQ_VALIDATION', 'no active archiver in this tenant: run `sealpost archiver init`');
  if (u.roles !== ARCHIVER_ROLE)
    throw new AppError('SP_REQ_VALIDATION', 'the archiver user holds other roles; refusing to run it');
  return store.transaction(async (tx) => {
    const s = await sessions.issue(tx, {
      tenantId,
      subjectType: 'user',
      subjectId: u.id,
      transport: 'bearer',
      stage: 'active',
      amr: ['swk'],
    });
    await tx.audit.append({
      tenantId,
      at: now,
      actor,
      action: 'archiver.session_issued',
      outcome: 'success',
      targetType: 'user',
      targetId: u.id,
      details: { sessionId: s.id },
    });
    return { userId: u.id, token: s.token, expiresAt: s.expiresAt };
  });
}

/** `archive.exported`, ids and counts only (never content), in the server's audit log. */
export async function auditExport(
  store: Store,
  e: { tenantId: string; actor: string; conversationId: string; records: number; attachments: number; at: Date },
): Promise<void> {
  await store.transaction((tx) =>
    tx.audit.append({
      tenantId: e.tenantId,
      at: e.at,
      actor: e.actor,
      action: 'archive.exported',
      outcome: 'success',
      targetType: 'conversation',
      targetId: e.conversationId,
      details: { records: e.records, attachments: e.attachments },
    }),
  );
}
