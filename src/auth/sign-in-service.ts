import type { Logger } from 'pino';
import type { Channel } from '../channels/channel.js';
import type { CoreDeps, RequestContext } from '../core/context.js';
import { audit } from '../core/context.js';
import { AppError } from '../core/errors.js';
import type { UserRow, UserTokenRow } from '../store/repositories/user-repository.js';
import { hashToken, randomToken } from '../crypto/tokens.js';
import { assertPasswordPolicy, hashPassword, needsRehash, verifyPassword } from './passwords.js';
import type { SessionStage } from './principal.js';
import type { SessionService } from './session-service.js';
import type { LoginThrottle } from './throttle.js';
import { normalizeEmail, type UserService } from './user-service.js';
import { DEFAULT_TENANT } from '../core/domain.js';

/** Where a request came from (public routes: no principal yet). */
export interface Origin {
  requestId?: string;
  sourceIp: string;
}

export interface IssuedSession {
  token: string;
  expiresAt: Date;
  stage: SessionStage;
  methods: string[];
}

const RESET_TTL_MS = 30 * 60_000;
/** One reset e-mail a minute per user at most: the form must not become a way to flood a mailbox. */
const RESET_EVERY_MS = 60_000;

/**
 * The password step of staff sign-in, enrolment (invitation → password) and password reset.
 * Failures answer one way (SP_AUTH_LOGIN_FAILED / SP_AUTH_TOKEN_INVALID, no detail) and are audited
 * with their reason; sessions are created only on success, and never `active` from a password alone:
 * stage `mfa` (a second factor is due) or `mfa_enrol` (none enrolled yet).
 */
export class SignInService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly sessions: SessionService,
    private readonly throttle: LoginThrottle,
    private readonly users: UserService,
    private readonly email: Channel,
    private readonly log: Logger,
  ) {}

  async login(
    tenantId: string,
    emailTyped: string,
    password: string,
    transport: 'cookie' | 'bearer',
    origin: Origin,
  ): Promise<IssuedSession> {
    const { store, clock } = this.deps;
    const now = clock().getTime();
    const email = normalizeEmail(emailTyped);
    const tenantKnown = await store.read.tenants.exists(tenantId);
    // Attempts against a tenant that does not exist are recorded in the default tenant's log.
    const auditTenant = tenantKnown ? tenantId : DEFAULT_TENANT;
    const keys = this.throttle.keys(
      auditTenant,
      this.users.emailIndex(auditTenant, `${tenantKnown ? '' : `${tenantId}/`}${email}`),
      origin.sourceIp,
    );
    const ctx = (actor: string): RequestContext => ({
      tenantId: auditTenant,
      actor,
      requestId: origin.requestId,
      sourceIp: origin.sourceIp,
    });
    const failed = () => new AppError('SP_AUTH_LOGIN_FAILED');

    let user = tenantKnown ? await store.read.users.byEmail(tenantId, email) : undefined;
    const target = user
      ? { targetType: 'user', targetId: user.id }
      : { targetType: 'login', targetId: keys.account.split(':')[2] };
    if (user && this.throttle.lockExpired(user, now)) {
      const u = user;
      await store.transaction((tx) => this.throttle.unlock(tx, u, keys.account, ctx(`user:${u.id}`), now, 'time'));
      user = await store.read.users.byEmail(tenantId, email);
    }
    const usable = user?.status === 'active' && user.password_hash != null;
    // The attempt takes its place (and counts as a failure) in a committed transaction BEFORE any
    // hashing: parallel attempts each see the delay the ones before them set, so a burst gets no
    // more guesses than attempts one after the other would (ASVS 6.3.1).
    const reservation = await store.transaction(async (tx) => {
      const r = await this.throttle.reserve(tx, keys, usable ? user! : null, now);
      // Refused before any hashing: the delay is the server's, not the client's good will.
      if (r.refused)
        await audit(tx, ctx(user ? `user:${user.id}` : 'anonymous'), new Date(now), {
          action: 'auth.login_throttled',
          outcome: 'failure',
          ...target,
          details: { by: r.refused },
        });
      return r;
    });
    await store.durable();
    if (reservation.refused) throw failed();
    // Unknown, locked, disabled and not-yet-enrolled accounts cost the same hash as a real one.
    const ok = await verifyPassword(usable ? user!.password_hash : null, password);
    if (!ok) {
      const reason = !tenantKnown
        ? 'unknown_tenant'
        : !user
          ? 'unknown_account'
          : user.status !== 'active'
            ? user.status
            : user.password_hash == null
              ? 'no_password'
              : 'bad_password';
      await store.transaction(async (tx) => {
        await audit(tx, ctx(user ? `user:${user.id}` : 'anonymous'), new Date(now), {
          action: user?.status === 'locked' ? 'auth.login_locked_out' : 'auth.login_failed',
          outcome: 'failure',
          ...target,
          details: { reason },
        });
        if (user && reason === 'bad_password')
          await this.throttle.countUserFailure(
            tx,
            user,
            ctx(`user:${user.id}`),
            now,
            reservation.userFailures ?? undefined,
          );
      });
      await store.durable();
      throw failed();
    }
    const u = user!;
    const rehash = needsRehash(u.password_hash!) ? await hashPassword(password) : null;
    const factors = await store.read.users.secondFactors(tenantId, u.id);
    const stage: SessionStage = factors.totp || factors.webauthn ? 'mfa' : 'mfa_enrol';
    const methods =
      stage === 'mfa'
        ? [
            ...(factors.totp ? ['totp'] : []),
            ...(factors.webauthn ? ['webauthn'] : []),
            ...(factors.recovery ? ['recovery'] : []),
          ]
        : ['totp', 'webauthn'];
    const s = await store.transaction(async (tx) => {
      // Re-checked under the user's row lock: a lockout or a disable by a racing request since the
      // password was checked wins, and no session is issued.
      if (!(await this.throttle.reservedSucceeded(tx, keys, reservation, u))) return null;
      if (rehash) await tx.users.update(tenantId, u.id, { password_hash: rehash });
      const s = await this.sessions.issue(tx, {
        tenantId,
        subjectType: 'user',
        subjectId: u.id,
        transport,
        stage,
        amr: ['pwd'],
      });
      await audit(tx, ctx(`user:${u.id}`), new Date(now), {
        action: 'auth.login_succeeded',
        targetType: 'session',
        targetId: s.id,
        details: { step: 'password', stage, transport },
      });
      return s;
    });
    if (!s) {
      await store.transaction((tx) =>
        audit(tx, ctx(`user:${u.id}`), new Date(now), {
          action: 'auth.login_locked_out',
          outcome: 'failure',
          ...target,
          details: { reason: 'status_changed' },
        }),
      );
      await store.durable();
      throw failed();
    }
    await store.durable();
    return { token: s.token, expiresAt: s.expiresAt, stage, methods };
  }

  /** Sets the first password from an enrolment link; the session starts at `mfa_enrol`. */
  async enrol(
    tenantId: string,
    token: string,
    password: string,
    transport: 'cookie' | 'bearer',
    origin: Origin,
  ): Promise<IssuedSession> {
    const { store, clock } = this.deps;
    const now = clock().getTime();
    const { row, user } = await this.usableToken(tenantId, token, 'enrolment', ['invited'], origin, now);
    assertPasswordPolicy(password, user.email);
    const phc = await hashPassword(password);
    const s = await store.transaction(async (tx) => {
      if (!(await tx.users.burnToken(row.id, now))) throw new AppError('SP_AUTH_TOKEN_INVALID');
      if (
        !(await tx.users.updateIfStatus(tenantId, user.id, 'invited', {
          password_hash: phc,
          status: 'active',
          failed_logins: 0,
          updated_at: now,
        }))
      )
        throw new AppError('SP_AUTH_TOKEN_INVALID');
      const s = await this.sessions.issue(tx, {
        tenantId,
        subjectType: 'user',
        subjectId: user.id,
        transport,
        stage: 'mfa_enrol',
        amr: ['pwd'],
      });
      await audit(tx, { tenantId, actor: `user:${user.id}`, ...origin }, new Date(now), {
        action: 'user.enrolled',
        targetType: 'user',
        targetId: user.id,
        details: { session: s.id, transport },
      });
      return s;
    });
    await store.durable();
    return { token: s.token, expiresAt: s.expiresAt, stage: 'mfa_enrol', methods: ['totp', 'webauthn'] };
  }

  /**
   * Sends a reset link when the address belongs to an active or locked user of the tenant, and does nothing
   * visible otherwise: the caller answers the same 202 either way. The e-mail is sent after the
   * answer so its cost does not tell whether the account exists.
   */
  async requestReset(tenantId: string, emailTyped: string, origin: Origin): Promise<void> {
    const { store, clock, newId, config } = this.deps;
    const now = clock().getTime();
    const email = normalizeEmail(emailTyped);
    if (!(await store.read.tenants.exists(tenantId))) return;
    const user = await store.read.users.byEmail(tenantId, email);
    const ctx = { tenantId, actor: user ? `user:${user.id}` : 'anonymous', ...origin };
    const token = await store.transaction(async (tx) => {
      // A locked user may ask too: completing the reset proves the mailbox and ends the lockout.
      if (!user || (user.status !== 'active' && user.status !== 'locked')) {
        await audit(tx, ctx, new Date(now), {
          action: 'auth.password_reset_refused',
          outcome: 'failure',
          ...(user
            ? { targetType: 'user', targetId: user.id }
            : { targetType: 'login', targetId: this.users.emailIndex(tenantId, email) }),
          details: { reason: user ? user.status : 'unknown_account' },
        });
        return null;
      }
      const last = await tx.users.latestToken(tenantId, user.id, 'password_reset');
      if (last && Number(last.created_at) + RESET_EVERY_MS > now) return null;
      await tx.users.voidTokens(tenantId, user.id, 'password_reset', now);
      const token = randomToken(32);
      await tx.users.insertToken({
        id: newId(),
        tenant_id: tenantId,
        user_id: user.id,
        purpose: 'password_reset',
        token_hash: hashToken(token),
        created_at: now,
        expires_at: now + RESET_TTL_MS,
        used_at: null,
      });
      await audit(tx, ctx, new Date(now), {
        action: 'auth.password_reset_requested',
        targetType: 'user',
        targetId: user.id,
      });
      return token;
    });
    await store.durable();
    if (!token || !user) return;
    const text = `${config.organisationName}: a password reset was requested for your account. Open ${config.publicUrl}/reset#${token} within 30 minutes to choose a new password. If you did not ask for this, ignore this message and tell your administrator.`;
    void this.email
      .send(
        {
          deliveryId: `pwreset-${newId()}`,
          notificationId: `user-${user.id}`,
          tenantId,
          channel: 'email',
          to: user.email,
          subject: 'Password reset',
          text,
        },
        AbortSignal.timeout(config.channels.timeoutMs),
      )
      .catch((e: unknown) =>
        this.log.warn({ code: (e as { code?: string })?.code, userId: user.id }, 'password reset e-mail not sent'),
      );
  }

  /** Sets a new password from a reset link and ends every session of the user. */
  async completeReset(tenantId: string, token: string, password: string, origin: Origin): Promise<void> {
    const { store, clock } = this.deps;
    const now = clock().getTime();
    const { row, user } = await this.usableToken(tenantId, token, 'password_reset', ['active', 'locked'], origin, now);
    assertPasswordPolicy(password, user.email);
    const phc = await hashPassword(password);
    await store.transaction(async (tx) => {
      if (!(await tx.users.burnToken(row.id, now))) throw new AppError('SP_AUTH_TOKEN_INVALID');
      // Proving control of the mailbox also ends a lockout (the counters start again).
      if (
        !(await tx.users.updateIfStatus(tenantId, user.id, user.status, {
          password_hash: phc,
          status: 'active',
          locked_until: null,
          failed_logins: 0,
          updated_at: now,
        }))
      )
        throw new AppError('SP_AUTH_TOKEN_INVALID');
      await tx.users.clearThrottle([
        this.throttle.keys(tenantId, this.users.emailIndex(tenantId, user.email), '').account,
      ]);
      const revoked = await tx.sessions.revokeAllOf(tenantId, 'user', user.id, now, 'password_reset');
      await audit(tx, { tenantId, actor: `user:${user.id}`, ...origin }, new Date(now), {
        action: 'user.password_reset',
        targetType: 'user',
        targetId: user.id,
        details: { sessionsRevoked: revoked },
      });
    });
    await store.durable();
  }

  /**
   * Whether an enrolment or reset link is still usable, without using it (the pages ask before
   * showing a form). A bad link is audited and counted against the address like a bad use.
   */
  async checkLink(
    tenantId: string,
    purpose: 'enrolment' | 'password_reset',
    token: string,
    origin: Origin,
  ): Promise<void> {
    await this.usableToken(
      tenantId,
      token,
      purpose,
      purpose === 'enrolment' ? ['invited'] : ['active', 'locked'],
      origin,
      this.deps.clock().getTime(),
    );
  }

  /**
   * The token row and its user when the token is live and the user in one of `statuses`; else an
   * audited SP_AUTH_TOKEN_INVALID that also counts against the address (no guessing at speed).
   */
  private async usableToken(
    tenantId: string,
    token: string,
    purpose: string,
    statuses: string[],
    origin: Origin,
    now: number,
  ): Promise<{ row: UserTokenRow; user: UserRow }> {
    const { store } = this.deps;
    const keys = this.throttle.keys(tenantId, 'token', origin.sourceIp);
    const invalid = async (reason: string) => {
      if (await store.read.tenants.exists(tenantId)) {
        await store.transaction(async (tx) => {
          await this.throttle.recordIpFailure(tx, keys.ip, now);
          await audit(tx, { tenantId, actor: 'anonymous', ...origin }, new Date(now), {
            action: 'auth.token_invalid',
            outcome: 'failure',
            details: { purpose, reason },
          });
        });
        await store.durable();
      }
      return new AppError('SP_AUTH_TOKEN_INVALID');
    };
    if ((await this.throttle.blocked(keys, now)) === 'ip') throw await invalid('throttled');
    const row = await store.read.users.tokenByHash(hashToken(token));
    if (!row || row.tenant_id !== tenantId || row.purpose !== purpose) throw await invalid('unknown');
    if (row.used_at != null) throw await invalid('used');
    if (Number(row.expires_at) <= now) throw await invalid('expired');
    const user = await store.read.users.byId(tenantId, row.user_id);
    if (!user || !statuses.includes(user.status)) throw await invalid('user_state');
    return { row, user };
  }

  /**
   * A signed-in user changes their password: the current one must be given (a session left open
   * must not be enough, ASVS 6.2.3), the new one meets the policy, and every other session of the
   * user ends, and so do outstanding reset links. A wrong current password counts toward lockout
   * like a sign-in failure; a user without a password (single sign-on) gets SP_USER_NO_PASSWORD.
   */
  async changePassword(
    ctx: RequestContext,
    userId: string,
    sessionId: string,
    current: string,
    next: string,
  ): Promise<{ sessionsRevoked: number }> {
    const { store, clock } = this.deps;
    const user = await store.read.users.byId(ctx.tenantId, userId);
    if (!user || user.status !== 'active') throw new AppError('SP_AUTH_UNAUTHENTICATED');
    // Single sign-on users have no password to change: a plain answer, and no lockout count (there
    // is nothing to guess, and counting would let anyone with their session lock them out).
    if (user.password_hash == null) throw new AppError('SP_USER_NO_PASSWORD');
    const now = clock().getTime();
    if (!(await verifyPassword(user.password_hash, current))) {
      await store.transaction(async (tx) => {
        await audit(tx, ctx, new Date(now), {
          action: 'user.password_change_failed',
          outcome: 'failure',
          targetType: 'user',
          targetId: user.id,
        });
        await this.throttle.countUserFailure(tx, user, ctx, now);
      });
      await store.durable();
      throw new AppError('SP_AUTH_LOGIN_FAILED');
    }
    assertPasswordPolicy(next, user.email);
    const phc = await hashPassword(next);
    const revoked = await store.transaction(async (tx) => {
      await tx.users.update(ctx.tenantId, user.id, { password_hash: phc, updated_at: now });
      // A reset link asked for before the change must not set another password afterwards.
      const voided = await tx.users.voidTokens(ctx.tenantId, user.id, 'password_reset', now);
      let n = 0;
      for (const s of await tx.sessions.listLive(ctx.tenantId, 'user', user.id, now))
        if (s.id !== sessionId && (await this.sessions.revoke(tx, ctx.tenantId, s.id, 'password_changed'))) n++;
      await audit(tx, ctx, new Date(now), {
        action: 'user.password_changed',
        targetType: 'user',
        targetId: user.id,
        details: { sessionsRevoked: n, resetLinksVoided: voided },
      });
      return n;
    });
    await store.durable();
    return { sessionsRevoked: revoked };
  }

  /** Signs out: the session the request came with ends now (audited). */
  async logout(ctx: RequestContext, sessionId: string): Promise<void> {
    const now = this.deps.clock();
    await this.deps.store.transaction(async (tx) => {
      if (await this.sessions.revoke(tx, ctx.tenantId, sessionId, 'logout'))
        await audit(tx, ctx, now, { action: 'auth.logout', targetType: 'session', targetId: sessionId });
    });
    await this.deps.store.durable();
  }

  /** Ends one of the caller's own sessions; SP_AUTH_SESSION_NOT_FOUND when it is not theirs or not live. */
  async revokeOwnSession(
    ctx: RequestContext,
    subject: { type: 'user' | 'patient'; id: string },
    sessionId: string,
  ): Promise<void> {
    const now = this.deps.clock();
    await this.deps.store.transaction(async (tx) => {
      const s = await tx.sessions.byId(ctx.tenantId, sessionId);
      if (!s || s.subject_type !== subject.type || s.subject_id !== subject.id || s.revoked_at != null)
        throw new AppError('SP_AUTH_SESSION_NOT_FOUND');
      await this.sessions.revoke(tx, ctx.tenantId, sessionId, 'signed_out_elsewhere');
      await audit(tx, ctx, now, { action: 'auth.session_revoked', targetType: 'session', targetId: sessionId });
    });
    await this.deps.store.durable();
  }
}
