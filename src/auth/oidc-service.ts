import * as oidc from 'openid-client';
import { v7 as uuidv7 } from 'uuid';
import type { Config } from '../config/config.js';
import type { Store, StoreTx } from '../store/store.js';
import type { UserRow } from '../store/repositories/user-repository.js';
import { AppError, type ErrorCode } from '../core/errors.js';
import { hashToken } from '../crypto/tokens.js';
import { outboundDispatcher } from '../channels/outbound-tls.js';
import type { SessionService } from './session-service.js';
import type { SessionStage } from './principal.js';
import { normalizeEmail } from './user-service.js';
import { idTokenIdentity, idpAssertsMfa, rolesForGroups, type SsoIdentity } from './oidc-claims.js';
import { isDisplayName } from './user-service.js';

export type OidcSettings = NonNullable<Config['identity']['oidc']>;

/**
 * Where the browser goes once the callback is done: the sign-in page in both cases, which continues
 * at the stage the session is at (second factor, enrolment, or "signed in"). No page is served at `/`.
 */
export const AFTER_SSO = { active: '/login', pending: '/login' } as const;
const PURPOSE = 'oidc';
const PENDING_MS = 10 * 60_000;

export interface OidcServiceOptions {
  settings: OidcSettings;
  /** `${publicUrl}/v1/auth/oidc/callback` is the registered redirect URI. */
  publicUrl: string;
  /** SEALPOST_INSECURE_SKIP_TLS_VERIFY: the issuer's certificate is not checked (logged at start). */
  insecureSkipTlsVerify: boolean;
  /** Extra trusted CAs, PEM (SEALPOST_OUTBOUND_CA_FILE), e.g. an in-house identity provider's CA. */
  ca?: string;
  timeoutMs: number;
  /** The tenant failures are recorded under when the request names none we know. */
  defaultTenant: string;
}

export interface SsoResult {
  token: string;
  expiresAt: Date;
  stage: SessionStage;
  userId: string;
}

interface Meta {
  requestId?: string;
  sourceIp?: string;
}

/**
 * OpenID Connect single sign-on for staff: authorization code flow with PKCE (S256), `state` and
 * `nonce` (OIDC Core §3.1, RFC 7636, RFC 9700 §2.1). The pending request lives server-side
 * (`auth_challenges`, keyed by the SHA-256 of `state`, ten minutes, single use) and is bound to the
 * browser that started it by a cookie holding `state` (login CSRF, RFC 9700 §4.7). The ID token is
 * checked by openid-client (signature, `iss`, `aud`, `exp`, `nonce`); groups map to roles on every
 * sign-in; MFA is still required unless the identity provider asserts it in `amr` (RFC 8176).
 */
export class OidcService {
  private configuration: Promise<oidc.Configuration> | null = null;
  private readonly dispatcher: ReturnType<typeof outboundDispatcher>;

  constructor(
    private readonly store: Store,
    private readonly sessions: SessionService,
    private readonly o: OidcServiceOptions,
    private readonly clock: () => Date,
  ) {
    this.dispatcher = outboundDispatcher(o);
  }

  get redirectUri(): string {
    return `${this.o.publicUrl}/v1/auth/oidc/callback`;
  }

  /**
   * Starts a sign-in for `tenantId`: stores the pending request and returns the identity provider's
   * authorization URL and the `state` the caller binds to the browser. SP_AUTH_SSO_FAILED for an
   * unknown tenant, SP_AUTH_SSO_UNAVAILABLE when discovery fails.
   */
  async start(tenantId: string): Promise<{ location: string; state: string }> {
    // One identity provider serves one tenant: anyone it accepts must not pick another organisation
    // (just-in-time provisioning would otherwise create them there).
    if (tenantId !== this.o.settings.tenant || !(await this.store.read.tenants.exists(tenantId)))
      throw new AppError('SP_AUTH_SSO_FAILED');
    const config = await this.discover();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const now = this.clock().getTime();
    await this.store.transaction(async (tx) => {
      // Anyone can start a sign-in, so expired requests are swept here rather than left to pile up.
      await tx.challenges.purge(PURPOSE, now);
      const id = hashToken(state);
      await tx.challenges.insert({
        id,
        tenant_id: tenantId,
        purpose: PURPOSE,
        subject: id,
        challenge: JSON.stringify({ v: verifier, n: nonce }),
        created_at: now,
        expires_at: now + PENDING_MS,
        used_at: null,
      });
    });
    const scopes = ['openid', 'email', 'profile'];
    if (config.serverMetadata().scopes_supported?.includes('groups')) scopes.push('groups');
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri,
      scope: scopes.join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { location: url.href, state };
  }

  /**
   * Completes a sign-in from the callback's raw query string. `boundState` is the browser's cookie;
   * `previousToken` a session cookie the browser still carries (revoked: one browser, one session).
   * Every outcome is audited; on failure nothing is created or changed.
   */
  async finish(
    query: string,
    boundState: string | undefined,
    previousToken: string | undefined,
    meta: Meta,
  ): Promise<SsoResult> {
    const params = new URLSearchParams(query);
    const state = params.get('state') ?? '';
    const now = this.clock().getTime();
    if (!state || !boundState || hashToken(state) !== hashToken(boundState)) {
      return this.refuse(this.o.defaultTenant, 'anonymous', 'state_mismatch', 'SP_AUTH_SSO_FAILED', meta);
    }
    const pending = await this.store.transaction((tx) => tx.challenges.takeById(hashToken(state), PURPOSE, now));
    if (!pending) return this.refuse(this.o.defaultTenant, 'anonymous', 'state_unknown', 'SP_AUTH_SSO_FAILED', meta);
    const tenantId = pending.tenant_id;
    const { v: verifier, n: nonce } = JSON.parse(pending.challenge) as { v: string; n: string };
    if (params.has('error')) return this.refuse(tenantId, 'anonymous', 'idp_error', 'SP_AUTH_SSO_FAILED', meta);

    const config = await this.discover();
    let identity: SsoIdentity;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, new URL(`${this.redirectUri}?${query}`), {
        pkceCodeVerifier: verifier,
        expectedNonce: nonce,
        expectedState: state,
        idTokenExpected: true,
      });
      const claims = tokens.claims()!;
      // Many providers put groups (and sometimes the e-mail) in the userinfo answer only.
      const needUserinfo = claims[this.o.settings.groupsClaim] === undefined || claims.email === undefined;
      const userinfo =
        needUserinfo && config.serverMetadata().userinfo_endpoint
          ? await oidc.fetchUserInfo(config, tokens.access_token, claims.sub)
          : {};
      identity = idTokenIdentity(claims, userinfo, this.o.settings.groupsClaim);
    } catch (e) {
      if (isUnreachable(e)) throw new AppError('SP_AUTH_SSO_UNAVAILABLE', undefined, { cause: e });
      const reason =
        e instanceof oidc.ResponseBodyError
          ? 'code_rejected'
          : e instanceof oidc.AuthorizationResponseError
            ? 'idp_error'
            : 'response_invalid';
      return this.refuse(tenantId, 'anonymous', reason, 'SP_AUTH_SSO_FAILED', meta, errorCode(e));
    }
    const issuer = config.serverMetadata().issuer;
    const actor = `sso:${hashToken(`${issuer}\u0000${identity.sub}`).slice(0, 16)}`;
    if (!identity.email) return this.refuse(tenantId, actor, 'no_email', 'SP_AUTH_SSO_FAILED', meta);
    const roles = rolesForGroups(identity.groups, this.o.settings.groupRoles);
    if (!roles.length) return this.refuse(tenantId, actor, 'no_role', 'SP_AUTH_SSO_NO_ROLE', meta);

    const mfa = this.o.settings.trustIdpMfa && idpAssertsMfa(identity.amr);
    const outcome = await this.store.transaction(async (tx) => {
      const found = await this.resolveUser(tx, tenantId, issuer, identity, meta, now);
      if (found === 'refused') {
        // Committed with nothing but this record: the refusal changes no user and creates none.
        await this.auditFailure(tx, tenantId, actor, 'account_unavailable', meta, now);
        return null;
      }
      const user = found;
      const ctx = { tenantId, actor: `user:${user.id}`, ...meta, at: new Date(now) };
      const before = user.roles.split(' ').filter(Boolean);
      if (before.join(' ') !== roles.join(' ')) {
        await tx.users.update(tenantId, user.id, { roles: roles.join(' '), updated_at: now });
        // A privilege change ends the user's other sessions (ASVS 7.2.4); this sign-in gets a new one below.
        const revoked = await tx.sessions.revokeAllOf(tenantId, 'user', user.id, now, 'role_change');
        await tx.audit.append({
          ...ctx,
          action: 'user.roles_changed',
          outcome: 'success',
          targetType: 'user',
          targetId: user.id,
          details: { from: before, to: roles, source: 'sso', sessionsRevoked: revoked },
        });
      }
      if (previousToken) {
        const old = await tx.sessions.byTokenHash(hashToken(previousToken));
        if (old && old.revoked_at == null) await tx.sessions.revoke(old.tenant_id, old.id, now, 'replaced');
      }
      const factors = await tx.users.secondFactors(tenantId, user.id);
      const stage: SessionStage = mfa ? 'active' : factors.totp || factors.webauthn ? 'mfa' : 'mfa_enrol';
      // The provider's own `mfa` counts only when trusted: a session's `mfa` means MFA was verified.
      const amr = ['sso', ...identity.amr.filter((a) => a !== 'mfa'), ...(mfa ? ['mfa'] : [])];
      const s = await this.sessions.issue(tx, {
        tenantId,
        subjectType: 'user',
        subjectId: user.id,
        transport: 'cookie',
        stage,
        amr,
      });
      await tx.audit.append({
        ...ctx,
        action: 'user.sso_login',
        outcome: 'success',
        targetType: 'session',
        targetId: s.id,
        details: { userId: user.id, stage, idpAmr: identity.amr, roles },
      });
      return { token: s.token, expiresAt: s.expiresAt, stage, userId: user.id };
    });
    await this.store.durable();
    if (!outcome) throw new AppError('SP_AUTH_LOGIN_FAILED');
    return outcome;
  }

  /**
   * The user for this identity: linked by (tenant, issuer, subject); else the user with the same
   * e-mail and no link yet (linked now, only when the provider asserts `email_verified: true`: an
   * address a person could type in at the provider must not hand them a clinician's account); else a
   * new active user without a password (just-in-time provisioning). 'refused' for disabled, locked or
   * otherwise unusable accounts.
   */
  private async resolveUser(
    tx: StoreTx,
    tenantId: string,
    issuer: string,
    id: SsoIdentity,
    meta: Meta,
    now: number,
  ): Promise<UserRow | 'refused'> {
    const ctx = { tenantId, ...meta, at: new Date(now) };
    let user = await tx.oidc.userBySso(tenantId, issuer, id.sub);
    if (!user) {
      const email = normalizeEmail(id.email!);
      const byEmail = await tx.users.byEmail(tenantId, email);
      if (byEmail) {
        if (byEmail.sso_subject != null || id.emailVerified !== true || !usable(byEmail, now)) return 'refused';
        if (!(await tx.oidc.linkSso(tenantId, byEmail.id, issuer, id.sub, now))) return 'refused';
        const activated = byEmail.status === 'invited';
        if (activated) {
          await tx.users.update(tenantId, byEmail.id, { status: 'active', updated_at: now });
          await tx.users.voidTokens(tenantId, byEmail.id, null, now);
        }
        await tx.audit.append({
          ...ctx,
          actor: `user:${byEmail.id}`,
          action: 'user.sso_linked',
          outcome: 'success',
          targetType: 'user',
          targetId: byEmail.id,
          details: { activated },
        });
      } else {
        const userId = uuidv7();
        await tx.users.insert({
          id: userId,
          tenant_id: tenantId,
          email,
          // The provider's name claim is shown to others: one that could read as something else
          // (bidi overrides, control characters, lone surrogates) gives way to the e-mail address.
          display_name: id.name && isDisplayName(id.name) ? id.name : email,
          roles: '',
          status: 'active',
          password_hash: null,
          locked_until: null,
          sso_issuer: issuer,
          sso_subject: id.sub,
          created_at: now,
          updated_at: now,
        });
        await tx.audit.append({
          ...ctx,
          actor: `user:${userId}`,
          action: 'user.sso_provisioned',
          outcome: 'success',
          targetType: 'user',
          targetId: userId,
        });
      }
      user = (await tx.oidc.userBySso(tenantId, issuer, id.sub))!;
    }
    if (!usable(user, now)) return 'refused';
    if (user.status === 'locked') {
      // A lockout for failed passwords that has run out ends at the next sign-in, as with passwords.
      await tx.users.updateIfStatus(tenantId, user.id, 'locked', {
        status: 'active',
        locked_until: null,
        failed_logins: 0,
        updated_at: now,
      });
      await tx.audit.append({
        ...ctx,
        actor: 'system:lockout',
        action: 'user.unlocked',
        outcome: 'success',
        targetType: 'user',
        targetId: user.id,
        details: { by: 'time' },
      });
    }
    return { ...user, status: 'active' };
  }

  private async auditFailure(
    tx: StoreTx,
    tenantId: string,
    actor: string,
    reason: string,
    meta: Meta,
    now: number,
    cause?: string,
  ): Promise<void> {
    await tx.audit.append({
      tenantId,
      at: new Date(now),
      actor,
      ...meta,
      action: 'user.sso_login',
      outcome: 'failure',
      details: { reason, ...(cause ? { cause } : {}) },
    });
  }

  /** Records a refused sign-in (its own transaction, so the record survives the refusal) and throws. */
  private async refuse(
    tenantId: string,
    actor: string,
    reason: string,
    code: ErrorCode,
    meta: Meta,
    cause?: string,
  ): Promise<never> {
    const now = this.clock().getTime();
    await this.store.transaction((tx) => this.auditFailure(tx, tenantId, actor, reason, meta, now, cause));
    await this.store.durable();
    throw new AppError(code);
  }

  /** Discovery once, then cached (with the provider's keys); a failed attempt is retried next time. */
  private discover(): Promise<oidc.Configuration> {
    this.configuration ??= (async () => {
      const { issuer, clientId, clientSecret } = this.o.settings;
      const auth = clientSecret ? oidc.ClientSecretBasic(clientSecret) : oidc.None();
      const dispatcher = this.dispatcher;
      const customFetch: oidc.CustomFetch = (url, init) =>
        fetch(url, { ...init, ...(dispatcher ? { dispatcher } : {}) } as RequestInit);
      return oidc.discovery(new URL(issuer), clientId, undefined, auth, {
        [oidc.customFetch]: customFetch,
        timeout: Math.ceil(this.o.timeoutMs / 1000),
      });
    })().catch((e: unknown) => {
      this.configuration = null;
      throw new AppError('SP_AUTH_SSO_UNAVAILABLE', undefined, { cause: e });
    });
    return this.configuration;
  }

  async close(): Promise<void> {
    await this.dispatcher?.close();
  }
}

/** Active, invited (the provider vouches for them now), or locked with a lockout that has run out. */
function usable(u: UserRow, now: number): boolean {
  if (u.status === 'active' || u.status === 'invited') return true;
  return u.status === 'locked' && u.locked_until != null && Number(u.locked_until) <= now;
}

/** Network, TLS and timeout failures talking to the provider (not a refusal by it). */
function isUnreachable(e: unknown): boolean {
  if (e instanceof AppError) return e.code === 'SP_AUTH_SSO_UNAVAILABLE';
  const name = (e as Error)?.name;
  return e instanceof TypeError || name === 'TimeoutError' || name === 'AbortError';
}

/** The library's error code (e.g. OAUTH_JWT_CLAIM_COMPARISON_FAILED), never its message. */
function errorCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown; error?: unknown })?.code ?? (e as { error?: unknown })?.error;
  return typeof c === 'string' ? c.slice(0, 64) : undefined;
}
