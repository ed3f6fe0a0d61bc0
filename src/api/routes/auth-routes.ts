import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { problems } from '../schemas.js';
import { AppError } from '../../core/errors.js';
import type { Store } from '../../store/store.js';
import type { SessionService } from '../../auth/session-service.js';
import type { SignInService } from '../../auth/sign-in-service.js';
import { clearSessionCookie, SessionAnswer, sendSession } from '../session-reply.js';
import { DEFAULT_TENANT } from '../../core/domain.js';

const Tenant = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[a-z0-9-]+$',
  default: DEFAULT_TENANT,
  description: 'Tenant id (default `default`)',
});
/** Any string: a malformed token is refused like an unknown one (401), never as a validation error. */
const Token = Type.String({
  minLength: 1,
  maxLength: 200,
  description: 'The one-time token from the fragment of the link (after `#`)',
});
/** Length is the policy's business (12–128 characters, SP_USER_PASSWORD_WEAK); this only bounds the body. */
const Password = Type.String({ minLength: 1, maxLength: 1024 });
const Transport = Type.Optional(
  Type.Union([Type.Literal('cookie'), Type.Literal('bearer')], {
    default: 'bearer',
    description: '`cookie` for the web (HttpOnly `__Host-` cookie), `bearer` for apps (token in the body)',
  }),
);
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const SessionItem = Type.Object({
  id: Type.String(),
  current: Type.Boolean(),
  transport: Type.String(),
  stage: Type.String(),
  amr: Type.Array(Type.String()),
  createdAt: Type.String(),
  lastSeenAt: Type.String(),
  expiresAt: Type.String(),
});

export interface AuthRouteOptions {
  signIn: SignInService;
  sessions: SessionService;
  store: Store;
  publicUrl: string;
  clock: () => Date;
}

/**
 * Staff sign-in (password step), enrolment, password reset, sign-out and the caller's own sessions.
 * The second factor and the step to an `active` session are the MFA routes'.
 */
export const authRoutes: RoutePlugin<AuthRouteOptions> = async (app, d) => {
  const publicOrigin = new URL(d.publicUrl).origin;
  const origin = (req: FastifyRequest) => ({ requestId: req.id, sourceIp: req.ip });
  // A cookie set by a cross-site form post would sign the victim into the attacker's account (login
  // CSRF): cookie sessions are handed out only to our own origin (ASVS 3.5.1).
  const assertCookieOrigin = (req: FastifyRequest, transport: string) => {
    if (
      transport === 'cookie' &&
      req.headers.origin !== publicOrigin &&
      req.headers['sec-fetch-site'] !== 'same-origin'
    )
      throw new AppError('SP_AUTH_FORBIDDEN');
  };

  app.post(
    '/auth/login',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['auth'],
        summary: 'Password step of staff sign-in; the session it starts still needs a second factor',
        description:
          'Answers a session at stage `mfa` (verify a second factor next; `methods` lists the enrolled ones) or `mfa_enrol` (enrol one first). ' +
          'Any failure — unknown e-mail, wrong password, locked, disabled or not enrolled account, too many attempts — is the same 401 SP_AUTH_LOGIN_FAILED.',
        security: [],
        body: Type.Object(
          {
            tenant: Type.Optional(Tenant),
            email: Type.String({ minLength: 1, maxLength: 320 }),
            password: Password,
            transport: Transport,
          },
          { additionalProperties: false },
        ),
        response: { 200: SessionAnswer, ...problems(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const transport = req.body.transport ?? 'bearer';
      assertCookieOrigin(req, transport);
      const s = await d.signIn.login(
        req.body.tenant ?? DEFAULT_TENANT,
        req.body.email,
        req.body.password,
        transport,
        origin(req),
      );
      return sendSession(reply, d.sessions, { ...s, transport });
    },
  );

  app.post(
    '/auth/enrol',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['auth'],
        summary: 'Accept an invitation: set the first password with the enrolment token',
        description:
          'Starts a session at stage `mfa_enrol`. A bad, used or expired token is 401 SP_AUTH_TOKEN_INVALID; a weak password is 400 SP_USER_PASSWORD_WEAK and the token stays usable.',
        security: [],
        body: Type.Object(
          { tenant: Type.Optional(Tenant), token: Token, password: Password, transport: Transport },
          { additionalProperties: false },
        ),
        response: { 200: SessionAnswer, ...problems(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const transport = req.body.transport ?? 'bearer';
      assertCookieOrigin(req, transport);
      const s = await d.signIn.enrol(
        req.body.tenant ?? DEFAULT_TENANT,
        req.body.token,
        req.body.password,
        transport,
        origin(req),
      );
      return sendSession(reply, d.sessions, { ...s, transport });
    },
  );

  app.post(
    '/auth/password-reset',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['auth'],
        summary: 'Ask for a password-reset link by e-mail; the answer is the same whether or not the address is known',
        security: [],
        body: Type.Object(
          { tenant: Type.Optional(Tenant), email: Type.String({ minLength: 1, maxLength: 320 }) },
          { additionalProperties: false },
        ),
        response: { 202: Type.Object({ status: Type.Literal('accepted') }), ...problems(400) },
      },
    },
    async (req, reply) => {
      await d.signIn.requestReset(req.body.tenant ?? DEFAULT_TENANT, req.body.email, origin(req));
      return reply.code(202).send({ status: 'accepted' });
    },
  );

  app.post(
    '/auth/password-reset/complete',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['auth'],
        summary: 'Set a new password with a reset token; every session of the user ends',
        security: [],
        body: Type.Object(
          { tenant: Type.Optional(Tenant), token: Token, password: Password },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), ...problems(400, 401) },
      },
    },
    async (req, reply) => {
      await d.signIn.completeReset(req.body.tenant ?? DEFAULT_TENANT, req.body.token, req.body.password, origin(req));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/auth/link-check',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['auth'],
        summary:
          'Whether an enrolment or password-reset link is still usable, without using it (204, or 401 SP_AUTH_TOKEN_INVALID)',
        description:
          'The sign-in pages ask before showing a password form. A bad token is audited and counts against the address like a bad use.',
        security: [],
        body: Type.Object(
          {
            tenant: Type.Optional(Tenant),
            purpose: Type.Union([Type.Literal('enrolment'), Type.Literal('password_reset')]),
            token: Token,
          },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), ...problems(400, 401) },
      },
    },
    async (req, reply) => {
      await d.signIn.checkLink(req.body.tenant ?? DEFAULT_TENANT, req.body.purpose, req.body.token, origin(req));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/auth/logout',
    {
      config: { permission: 'authenticated', stages: ['mfa', 'mfa_enrol'] },
      schema: {
        tags: ['auth'],
        summary: 'Sign out: the current session ends now and its cookie is cleared',
        response: { 204: Type.Null(), ...problems(401, 403) },
      },
    },
    async (req, reply) => {
      const p = req.principal!;
      if (!p.session) throw new AppError('SP_AUTH_FORBIDDEN', "only a person's session can sign out");
      await d.signIn.logout(requestContext(req), p.session.id);
      if (p.session.transport === 'cookie') clearSessionCookie(reply, d.sessions);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/me',
    {
      config: { permission: 'authenticated', stages: ['mfa', 'mfa_enrol'] },
      schema: {
        tags: ['auth'],
        summary:
          'Who the caller is: id, kind, roles, permissions and the session (stage, methods, expiry); never secrets',
        response: {
          200: Type.Object({
            id: Type.String(),
            kind: Type.String(),
            tenantId: Type.String(),
            roles: Type.Array(Type.String()),
            scopes: Type.Array(Type.String()),
            permissions: Type.Array(Type.String()),
            session: Nullable(
              Type.Object({
                id: Type.String(),
                stage: Type.String(),
                amr: Type.Array(Type.String()),
                transport: Type.String(),
                expiresAt: Type.String(),
                mfaAt: Nullable(Type.String()),
                idleTimeoutSeconds: Type.Integer({
                  description: 'The session ends after this long without a request (SEALPOST_SESSION_IDLE_MINUTES)',
                }),
              }),
            ),
          }),
          ...problems(401),
        },
      },
    },
    async (req) => {
      const p = req.principal!;
      const row = p.session ? await d.store.read.sessions.byId(p.tenantId, p.session.id) : undefined;
      return {
        id: p.id,
        kind: p.kind,
        tenantId: p.tenantId,
        roles: [...p.roles],
        scopes: [...p.scopes],
        permissions: [...p.permissions].sort(),
        session:
          p.session && row
            ? {
                id: p.session.id,
                stage: p.session.stage,
                amr: [...p.session.amr],
                transport: p.session.transport,
                expiresAt: new Date(Number(row.expires_at)).toISOString(),
                mfaAt: p.session.mfaAt == null ? null : new Date(p.session.mfaAt).toISOString(),
                idleTimeoutSeconds: Math.round(d.sessions.policy.idleMs / 1000),
              }
            : null,
      };
    },
  );

  const subjectOf = (req: FastifyRequest) => {
    const p = req.principal!;
    if (!p.session || (p.kind !== 'user' && p.kind !== 'patient'))
      throw new AppError('SP_AUTH_FORBIDDEN', 'only people have sessions');
    return { type: p.kind, id: p.id, current: p.session.id };
  };

  app.post(
    '/me/password',
    {
      config: { permission: 'authenticated' },
      schema: {
        tags: ['auth'],
        summary:
          "Change the signed-in user's password (the current one is required); every other session of the user ends",
        description:
          'A wrong current password is 401 SP_AUTH_LOGIN_FAILED and counts toward the lockout; a weak new one is 400 SP_USER_PASSWORD_WEAK. Users who sign in through single sign-on have no password here: 409 SP_USER_NO_PASSWORD (not counted toward the lockout). A change voids outstanding password-reset links.',
        body: Type.Object({ currentPassword: Password, newPassword: Password }, { additionalProperties: false }),
        response: { 200: Type.Object({ sessionsRevoked: Type.Integer() }), ...problems(400, 401, 403, 409) },
      },
    },
    async (req) => {
      const p = req.principal!;
      if (p.kind !== 'user' || !p.session)
        throw new AppError('SP_AUTH_FORBIDDEN', 'only a staff member has a password');
      return d.signIn.changePassword(
        requestContext(req),
        p.id,
        p.session.id,
        req.body.currentPassword,
        req.body.newPassword,
      );
    },
  );

  app.get(
    '/me/sessions',
    {
      config: { permission: 'authenticated' },
      schema: {
        tags: ['auth'],
        summary: "The caller's live sessions (no tokens)",
        response: { 200: Type.Object({ items: Type.Array(SessionItem) }), ...problems(401, 403) },
      },
    },
    async (req) => {
      const s = subjectOf(req);
      const rows = await d.store.read.sessions.listLive(req.principal!.tenantId, s.type, s.id, d.clock().getTime());
      const iso = (ms: number | string) => new Date(Number(ms)).toISOString();
      return {
        items: rows.map((r) => ({
          id: r.id,
          current: r.id === s.current,
          transport: r.transport,
          stage: r.stage,
          amr: r.amr.split(' ').filter(Boolean),
          createdAt: iso(r.created_at),
          lastSeenAt: iso(r.last_seen_at),
          expiresAt: iso(r.expires_at),
        })),
      };
    },
  );

  app.delete(
    '/me/sessions/:id',
    {
      config: { permission: 'authenticated' },
      schema: {
        tags: ['auth'],
        summary: "End one of the caller's own sessions (e.g. a lost phone)",
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 204: Type.Null(), ...problems(401, 403, 404) },
      },
    },
    async (req, reply) => {
      const s = subjectOf(req);
      await d.signIn.revokeOwnSession(requestContext(req), s, req.params.id);
      if (req.params.id === s.current && req.principal!.session!.transport === 'cookie')
        clearSessionCookie(reply, d.sessions);
      return reply.code(204).send(null);
    },
  );
};
