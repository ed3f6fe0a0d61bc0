import { Type } from 'typebox';
import { assertMayDelegate, smartScopesPermissions } from '../../auth/permissions.js';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { problems } from '../schemas.js';
import type { OAuthClientService } from '../../auth/oauth-client-service.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const Jwk = Type.Record(Type.String(), Type.String());

const ClientView = Type.Object({
  clientId: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  jwks: Nullable(
    Type.Object({ keys: Type.Array(Jwk) }, { description: 'The registered public keys (public members only)' }),
  ),
  jwksUrl: Nullable(Type.String()),
  createdAt: Type.String(),
  revokedAt: Nullable(Type.String()),
  lastUsedAt: Nullable(Type.String()),
});

const ClientId = Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{32}$' }) });

export interface OAuthClientRouteOptions {
  clients: OAuthClientService;
}

/** Registration and revocation of SMART Backend Services clients (permission client.manage); audited. */
export const oauthClientRoutes: RoutePlugin<OAuthClientRouteOptions> = async (app, { clients }) => {
  app.post(
    '',
    {
      config: { permission: 'client.manage' },
      schema: {
        tags: ['oauth'],
        summary: 'Register a SMART backend-services client (private_key_jwt) with its public keys and system scopes',
        description:
          'Exactly one of `jwks` (inline public keys: RSA ≥ 2048 bits for RS384, EC P-384 for ES384, each with a `kid`; private members are refused) ' +
          'or `jwksUrl` (https; fetched with a timeout and cached briefly). `scopes` are SMART system scopes (`system/Patient.rs`, `system/Communication.c`, `system/*.rs`). ' +
          'The client then obtains access tokens at /oauth2/token.',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[\\x20-\\x7E]+$' }),
            scopes: Type.Array(Type.String({ minLength: 1, maxLength: 100 }), {
              minItems: 1,
              maxItems: 20,
              uniqueItems: true,
            }),
            jwks: Type.Optional(
              Type.Object(
                { keys: Type.Array(Type.Object({}, { additionalProperties: true }), { maxItems: 10 }) },
                { additionalProperties: false },
              ),
            ),
            jwksUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: ClientView, ...problems(400, 401, 403) },
      },
    },
    async (req, reply) => {
      assertMayDelegate(req.principal!.permissions, smartScopesPermissions(req.body.scopes));
      const view = await clients.register(requestContext(req), req.body);
      return reply.code(201).send(view);
    },
  );

  app.get(
    '',
    {
      config: { permission: 'client.manage' },
      schema: {
        tags: ['oauth'],
        summary: "List the tenant's SMART backend-services clients",
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
            cursor: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(ClientView), nextCursor: Nullable(Type.String()) }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => clients.list(req.principal!.tenantId, req.query.cursor ?? '', req.query.limit ?? 100),
  );

  app.get(
    '/:id',
    {
      config: { permission: 'client.manage' },
      schema: {
        tags: ['oauth'],
        summary: 'One SMART backend-services client',
        params: ClientId,
        response: { 200: ClientView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => clients.get(req.principal!.tenantId, req.params.id),
  );

  app.post(
    '/:id/revoke',
    {
      config: { permission: 'client.manage' },
      schema: {
        tags: ['oauth'],
        summary: 'Revoke a client: new assertions are refused at once, its access tokens within seconds on every node',
        params: ClientId,
        response: { 200: ClientView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => clients.revoke(requestContext(req), req.params.id),
  );
};
