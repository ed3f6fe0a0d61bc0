import type { CoreDeps, RequestContext } from '../core/context.js';
import { audit } from '../core/context.js';
import { AppError } from '../core/errors.js';
import type { StoreTx } from '../store/store.js';
import type { UserRow } from '../store/repositories/user-repository.js';
import { hashToken, randomToken } from '../crypto/tokens.js';
import { STAFF_ROLES, type Role } from '../core/domain.js';
import type { SessionService } from './session-service.js';
import type { LoginThrottle } from './throttle.js';

/** What an administrator sees of a user: never the password hash, tokens or counters' keys. */
export interface UserView {
  id: string;
  email: string;
  displayName: string;
  roles: Role[];
  status: 'invited' | 'active' | 'locked' | 'disabled';
  lockedUntil: string | null;
  createdAt: string;
  updatedAt: string;
}

export function userView(u: UserRow): UserView {
  const iso = (ms: number | string | null) => (ms == null ? null : new Date(Number(ms)).toISOString());
  return {
    id: u.id,
    email: u.email,
    displayName: u.display_name,
    roles: u.roles.split(' ').filter(Boolean) as Role[],
    status: u.status as UserView['status'],
    lockedUntil: iso(u.locked_until),
    createdAt: iso(u.created_at)!,
    updatedAt: iso(u.updated_at)!,
  };
}

/** One live session of a user, as an administrator sees it (no token). */
export interface UserSessionView {
  id: string;
  transport: string;
  stage: string;
  amr: string[];
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
}

/** Plain `local@domain`, as the address is compared (trimmed, lower case). */
const EMAIL =
  /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function assertEmail(email: string): string {
  const e = normalizeEmail(email);
  if (e.length > 254 || !EMAIL.test(e)) throw new AppError('SP_USER_INVALID_EMAIL');
  return e;
}

/**
 * Display names are shown to other people (lists, audit views, authenticator prompts): 1-200
 * characters of well-formed Unicode, without control characters or the bidirectional overrides,
 * embeddings, isolates and marks that can make a name read as something else.
 */
const DISPLAY_NAME_REFUSED = /[\u0000-\u001F\u007F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uD800-\uDFFF]/u;

/** Whether `name` is an acceptable display name (what `assertDisplayName` accepts). */
export function isDisplayName(name: string): boolean {
  return name.length > 0 && name.length <= 200 && !DISPLAY_NAME_REFUSED.test(name);
}

export function assertDisplayName(name: string): string {
  // With the `u` flag a surrogate range matches lone surrogates only (pairs are one code point).
  if (!isDisplayName(name)) throw new AppError('SP_USER_INVALID_DISPLAY_NAME');
  return name;
}

/** Staff roles only (patients have accounts of their own), at least one, no repeats. */
export function assertStaffRoles(roles: readonly string[]): Role[] {
  const set = [...new Set(roles)];
  if (!set.length || !set.every((r) => (STAFF_ROLES as readonly string[]).includes(r)))
    throw new AppError('SP_USER_INVALID_ROLE', `expected one or more of ${STAFF_ROLES.join(', ')}`);
  return set as Role[];
}

/**
 * Administration of staff users (user.manage): invitations with one-time enrolment links, role
 * changes (which end the user's sessions: a new token on every change of privilege, ASVS 7.2.4),
 * disable/enable, unlock, and "remote wipe". Each change and its audit entry share one transaction,
 * and `store.durable()` is awaited before the caller answers.
 */
export class UserService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly sessions: SessionService,
    private readonly throttle: LoginThrottle,
  ) {}

  /** Keyed hash of an e-mail as typed at sign-in: the account key of the throttle, and audit target of unknown addresses. */
  emailIndex(tenantId: string, email: string): string {
    return this.deps.cipher.blindIndex(tenantId, 'login.email', normalizeEmail(email)).slice(0, 32);
  }

  async invite(
    ctx: RequestContext,
    input: { email: string; displayName: string; roles: string[] },
  ): Promise<{ user: UserView; enrolmentUrl: string }> {
    const email = assertEmail(input.email);
    const displayName = assertDisplayName(input.displayName);
    const roles = assertStaffRoles(input.roles);
    const { store, clock, newId } = this.deps;
    const now = clock().getTime();
    const id = newId();
    const { token, row } = await store
      .transaction(async (tx) => {
        if (await tx.users.byEmail(ctx.tenantId, email)) throw new AppError('SP_USER_EXISTS');
        await tx.users.insert({
          id,
          tenant_id: ctx.tenantId,
          email,
          display_name: displayName,
          roles: roles.join(' '),
          status: 'invited',
          password_hash: null,
          locked_until: null,
          sso_issuer: null,
          sso_subject: null,
          created_at: now,
          updated_at: now,
        });
        const token = await this.issueEnrolment(tx, ctx.tenantId, id, now);
        await audit(tx, ctx, new Date(now), {
          action: 'user.invited',
          targetType: 'user',
          targetId: id,
          details: { roles },
        });
        return { token, row: (await tx.users.byId(ctx.tenantId, id))! };
      })
      .catch((e: unknown) => {
        // Two invitations of one address racing: the unique index decides, the loser gets the same 409.
        if (!(e instanceof AppError) && /unique|duplicate/i.test(String((e as Error)?.message)))
          throw new AppError('SP_USER_EXISTS');
        throw e;
      });
    await store.durable();
    return { user: userView(row), enrolmentUrl: this.enrolmentUrl(token) };
  }

  /** A fresh enrolment link for an invited user; every earlier link stops working. */
  async reinvite(ctx: RequestContext, id: string): Promise<{ user: UserView; enrolmentUrl: string }> {
    const now = this.deps.clock().getTime();
    const { token, row } = await this.deps.store.transaction(async (tx) => {
      const u = await this.require(tx, ctx.tenantId, id);
      if (u.status !== 'invited') throw new AppError('SP_USER_NOT_INVITED');
      const voided = await tx.users.voidTokens(ctx.tenantId, id, 'enrolment', now);
      const token = await this.issueEnrolment(tx, ctx.tenantId, id, now);
      await audit(tx, ctx, new Date(now), {
        action: 'user.reinvited',
        targetType: 'user',
        targetId: id,
        details: { linksVoided: voided },
      });
      return { token, row: u };
    });
    await this.deps.store.durable();
    return { user: userView(row), enrolmentUrl: this.enrolmentUrl(token) };
  }

  async get(tenantId: string, id: string): Promise<UserView> {
    return userView(await this.require(this.deps.store.read, tenantId, id));
  }

  async list(
    tenantId: string,
    cursor: string,
    limit: number,
  ): Promise<{ items: UserView[]; nextCursor: string | null }> {
    const rows = await this.deps.store.read.users.list(tenantId, cursor, limit + 1);
    const page = rows.slice(0, limit);
    return { items: page.map(userView), nextCursor: rows.length > limit ? page[page.length - 1]!.id : null };
  }

  /** Changes the display name and/or roles; a role change revokes every session of the user. */
  async update(ctx: RequestContext, id: string, change: { displayName?: string; roles?: string[] }): Promise<UserView> {
    const roles = change.roles === undefined ? undefined : assertStaffRoles(change.roles);
    if (change.displayName !== undefined) assertDisplayName(change.displayName);
    const now = this.deps.clock().getTime();
    const row = await this.deps.store.transaction(async (tx) => {
      const u = await this.require(tx, ctx.tenantId, id);
      const before = u.roles.split(' ').filter(Boolean);
      const rolesChanged = roles !== undefined && [...before].sort().join(' ') !== [...roles].sort().join(' ');
      const nameChanged = change.displayName !== undefined && change.displayName !== u.display_name;
      if (!rolesChanged && !nameChanged) return u;
      await tx.users.update(ctx.tenantId, id, {
        ...(rolesChanged ? { roles: roles!.join(' ') } : {}),
        ...(nameChanged ? { display_name: change.displayName } : {}),
        updated_at: now,
      });
      if (nameChanged)
        await audit(tx, ctx, new Date(now), {
          action: 'user.updated',
          targetType: 'user',
          targetId: id,
          details: { fields: ['displayName'] },
        });
      if (rolesChanged) {
        // Privilege changed: the user signs in again and gets a new token (ASVS 7.2.4).
        const revoked = await tx.sessions.revokeAllOf(ctx.tenantId, 'user', id, now, 'role_change');
        await audit(tx, ctx, new Date(now), {
          action: 'user.roles_changed',
          targetType: 'user',
          targetId: id,
          details: { from: before, to: roles!, sessionsRevoked: revoked },
        });
      }
      return (await tx.users.byId(ctx.tenantId, id))!;
    });
    await this.deps.store.durable();
    return userView(row);
  }

  /** Disables a user and ends, at once, every session, device registration and push token of theirs. */
  async disable(ctx: RequestContext, id: string): Promise<UserView> {
    return this.change(ctx, id, async (tx, u, now) => {
      if (u.status === 'disabled') return;
      await tx.users.update(ctx.tenantId, id, { status: 'disabled', locked_until: null, updated_at: now });
      const voided = await tx.users.voidTokens(ctx.tenantId, id, null, now);
      const r = await this.sessions.revokeAll(tx, ctx.tenantId, 'user', id, 'disabled');
      await audit(tx, ctx, new Date(now), {
        action: 'user.disabled',
        targetType: 'user',
        targetId: id,
        details: { from: u.status, sessionsRevoked: r.sessions, devicesRevoked: r.devices, linksVoided: voided },
      });
    });
  }

  /** Re-enables a disabled user: `active` when they had enrolled, else `invited` (send a new link). */
  async enable(ctx: RequestContext, id: string): Promise<UserView> {
    return this.change(ctx, id, async (tx, u, now) => {
      if (u.status !== 'disabled') return;
      const to = u.password_hash || u.sso_subject ? 'active' : 'invited';
      await tx.users.update(ctx.tenantId, id, { status: to, failed_logins: 0, updated_at: now });
      await tx.users.clearThrottle([
        this.throttle.keys(ctx.tenantId, this.emailIndex(ctx.tenantId, u.email), '').account,
      ]);
      await audit(tx, ctx, new Date(now), {
        action: 'user.enabled',
        targetType: 'user',
        targetId: id,
        details: { to },
      });
    });
  }

  async unlock(ctx: RequestContext, id: string): Promise<UserView> {
    return this.change(ctx, id, async (tx, u, now) => {
      await this.throttle.unlock(
        tx,
        u,
        this.throttle.keys(ctx.tenantId, this.emailIndex(ctx.tenantId, u.email), '').account,
        ctx,
        now,
        'admin',
      );
    });
  }

  /** "Remote wipe": every session, device registration and push token of the user, revoked now. */
  async revokeSessions(ctx: RequestContext, id: string): Promise<{ sessions: number; devices: number }> {
    const now = this.deps.clock().getTime();
    const r = await this.deps.store.transaction(async (tx) => {
      await this.require(tx, ctx.tenantId, id);
      const r = await this.sessions.revokeAll(tx, ctx.tenantId, 'user', id, 'remote_wipe');
      await audit(tx, ctx, new Date(now), {
        action: 'user.sessions_revoked',
        targetType: 'user',
        targetId: id,
        details: { sessionsRevoked: r.sessions, devicesRevoked: r.devices },
      });
      return r;
    });
    await this.deps.store.durable();
    return r;
  }

  /**
   * The user's live sessions (not revoked, not past their absolute expiry), newest first: how each
   * was opened and when it was last seen. Never a token (only their hashes are stored anyway).
   */
  async listSessions(tenantId: string, id: string): Promise<UserSessionView[]> {
    const read = this.deps.store.read;
    await this.require(read, tenantId, id);
    const rows = await read.sessions.listLive(tenantId, 'user', id, this.deps.clock().getTime());
    const iso = (ms: number | string) => new Date(Number(ms)).toISOString();
    return rows.map((r) => ({
      id: r.id,
      transport: r.transport,
      stage: r.stage,
      amr: r.amr.split(' ').filter(Boolean),
      createdAt: iso(r.created_at),
      lastSeenAt: iso(r.last_seen_at),
      expiresAt: iso(r.expires_at),
    }));
  }

  /** Ends one live session of the user (audited); SP_AUTH_SESSION_NOT_FOUND when it is not theirs or already over. */
  async revokeSession(ctx: RequestContext, id: string, sessionId: string): Promise<void> {
    const now = this.deps.clock();
    await this.deps.store.transaction(async (tx) => {
      await this.require(tx, ctx.tenantId, id);
      const s = await tx.sessions.byId(ctx.tenantId, sessionId);
      if (!s || s.subject_type !== 'user' || s.subject_id !== id || s.revoked_at != null)
        throw new AppError('SP_AUTH_SESSION_NOT_FOUND');
      await this.sessions.revoke(tx, ctx.tenantId, sessionId, 'admin');
      await audit(tx, ctx, now, {
        action: 'user.session_revoked',
        targetType: 'session',
        targetId: sessionId,
        details: { user: id },
      });
    });
    await this.deps.store.durable();
  }

  private async change(
    ctx: RequestContext,
    id: string,
    fn: (tx: StoreTx, u: UserRow, now: number) => Promise<void>,
  ): Promise<UserView> {
    const now = this.deps.clock().getTime();
    const row = await this.deps.store.transaction(async (tx) => {
      await fn(tx, await this.require(tx, ctx.tenantId, id), now);
      return (await tx.users.byId(ctx.tenantId, id))!;
    });
    await this.deps.store.durable();
    return userView(row);
  }

  private async require(tx: StoreTx, tenantId: string, id: string): Promise<UserRow> {
    const u = await tx.users.byId(tenantId, id);
    if (!u) throw new AppError('SP_USER_NOT_FOUND');
    return u;
  }

  /** A 256-bit enrolment token, stored as its SHA-256 only; returned once. */
  private async issueEnrolment(tx: StoreTx, tenantId: string, userId: string, now: number): Promise<string> {
    const token = randomToken(32);
    const ttl = this.deps.config.identity.inviteTtlHours * 3_600_000;
    await tx.users.insertToken({
      id: this.deps.newId(),
      tenant_id: tenantId,
      user_id: userId,
      purpose: 'enrolment',
      token_hash: hashToken(token),
      created_at: now,
      expires_at: now + ttl,
      used_at: null,
    });
    return token;
  }

  /** The token rides in the fragment, which browsers never send: it cannot reach a server or proxy log. */
  private enrolmentUrl(token: string): string {
    return `${this.deps.config.publicUrl}/enrol#${token}`;
  }
}
