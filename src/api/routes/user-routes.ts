import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { problems } from '../schemas.js';
import { STAFF_ROLES } from '../../core/domain.js';
import type { UserService } from '../../auth/user-service.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const UserView = Type.Object({
  id: Type.String(),
  email: Type.String(),
  displayName: Type.String(),
  roles: Type.Array(Type.String()),
  status: Type.Union([
    Type.Literal('invited'),
    Type.Literal('active'),
    Type.Literal('locked'),
    Type.Literal('disabled'),
  ]),
  lockedUntil: Nullable(Type.String()),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const Roles = Type.Array(Type.Enum([...STAFF_ROLES]), {
  minItems: 1,
  maxItems: STAFF_ROLES.length,
  uniqueItems: true,
  description: `Staff roles: ${STAFF_ROLES.join(', ')}`,
});
/** No control characters, bidi overrides, isolates or marks, no lone surrogates (assertDisplayName holds the same rule). */
const DisplayName = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '^[^\\x00-\\x1F\\x7F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069\\uD800-\\uDFFF]+$',
});
const UserId = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }) });
const Invited = Type.Object({
  user: UserView,
  enrolmentUrl: Type.String({
    description:
      'One-time link; the token is in the fragment (after `#`) so it never reaches a server log. Shown once.',
  }),
});

export interface UserRouteOptions {
  users: UserService;
}

/** Administration of staff users (permission user.manage). Every change is audited in its transaction. */
export const userRoutes: RoutePlugin<UserRouteOptions> = async (app, { users }) => {
  app.post(
    '',
    {
      config: { permission: 'user.manage' },
      schema: {
        tags: ['users'],
        summary: 'Invite a staff user: answers the one-time enrolment link to hand to them',
        description:
          'The user is `invited` until they open the link and choose a password (POST /v1/auth/enrol); the link expires after SEALPOST_INVITE_TTL_HOURS.',
        body: Type.Object(
          { email: Type.String({ minLength: 3, maxLength: 254 }), displayName: DisplayName, roles: Roles },
          { additionalProperties: false },
        ),
        response: { 201: Invited, ...problems(400, 401, 403, 409) },
      },
    },
    async (req, reply) => reply.code(201).send(await users.invite(requestContext(req), req.body)),
  );

  app.get(
    '',
    {
      config: { permission: 'user.manage' },
      schema: {
        tags: ['users'],
        summary: "List the tenant's users",
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
            cursor: Type.Optional(Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9-]+$' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(UserView), nextCursor: Nullable(Type.String()) }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => users.list(requestContext(req).tenantId, req.query.cursor ?? '', req.query.limit ?? 100),
  );

  app.get(
    '/:id',
    {
      config: { permission: 'user.manage' },
      schema: {
        tags: ['users'],
        summary: 'One user',
        params: UserId,
        response: { 200: UserView, ...problems(401, 403, 404) },
      },
    },
    async (req) => users.get(requestContext(req).tenantId, req.params.id),
  );

  app.patch(
    '/:id',
    {
      config: { permission: 'user.manage' },
      schema: {
        tags: ['users'],
        summary: "Change a user's display name or roles; a role change ends every session of the user",
        params: UserId,
        body: Type.Object(
          { displayName: Type.Optional(DisplayName), roles: Type.Optional(Roles) },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: UserView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => users.update(requestContext(req), req.params.id, req.body),
  );

  const Session = Type.Object({
    id: Type.String(),
    transport: Type.String({ description: '`cookie` (a browser) or `bearer` (an app or script)' }),
    stage: Type.String({ description: '`full`, or a sign-in step short of the second factor' }),
    amr: Type.Array(Type.String(), { description: 'RFC 8176 methods used so far (pwd, otp, hwk, sso…)' }),
    createdAt: Type.String(),
    lastSeenAt: Type.String(),
    expiresAt: Type.String(),
  });

  app.get(
    '/:id/sessions',
    {
      config: { permission: 'user.manage' },
      schema: {
        tags: ['users'],
        summary: "A user's live sessions, newest first (no tokens)",
        params: UserId,
        response: { 200: Type.Object({ items: Type.Array(Session) }), ...problems(401, 403, 404) },
      },
    },
    async (req) => ({ items: await users.listSessions(requestContext(req).tenantId, req.params.id) }),
  );

  app.delete(
    '/:id/sessions/:sessionId',
    {
      config: { permission: 'user.manage' },
      schema: {
        tags: ['users'],
        summary: "End one of a user's sessions now (audited); the others stay",
        params: Type.Object({
          id: UserId.properties.id,
          sessionId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' }),
        }),
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await users.revokeSession(requestContext(req), req.params.id, req.params.sessionId);
      return reply.code(204).send(null);
    },
  );

  const Counts = Type.Object({ sessions: Type.Integer(), devices: Type.Integer() });
  type Ctx = ReturnType<typeof requestContext>;
  const action = (
    verb: string,
    summary: string,
    response: typeof UserView | typeof Counts | typeof Invited,
    fn: (ctx: Ctx, id: string) => Promise<unknown>,
    codes = [401, 403, 404],
  ) =>
    app.post(
      `/:id/${verb}`,
      {
        config: { permission: 'user.manage' },
        schema: { tags: ['users'], summary, params: UserId, response: { 200: response, ...problems(...codes) } },
      },
      // The response schema above serializes (and so checks) what `fn` answers.
      async (req) => (await fn(requestContext(req), req.params.id)) as never,
    );

  action(
    'disable',
    'Disable a user: every session, device registration and push token ends at once',
    UserView,
    (ctx, id) => users.disable(ctx, id),
  );
  action(
    'enable',
    'Re-enable a disabled user (active again, or invited when they never enrolled)',
    UserView,
    (ctx, id) => users.enable(ctx, id),
  );
  action('unlock', 'Unlock a user locked out after repeated failed sign-ins', UserView, (ctx, id) =>
    users.unlock(ctx, id),
  );
  action(
    'revoke-sessions',
    '"Remote wipe": revoke every session, device registration and push token of the user',
    Counts,
    (ctx, id) => users.revokeSessions(ctx, id),
  );
  action(
    'invite',
    'Issue a new enrolment link for an invited user (earlier links stop working)',
    Invited,
    (ctx, id) => users.reinvite(ctx, id),
    [401, 403, 404, 409],
  );
};
