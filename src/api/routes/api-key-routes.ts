import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { problems } from '../schemas.js';
import type { Store } from '../../store/store.js';
import {
  API_KEY_SCOPE_NAMES,
  MAX_API_KEY_DAYS,
  apiKeyView,
  issueApiKey,
  revokeApiKey,
  rotateApiKey,
} from '../../auth/api-keys.js';
import { apiKeyPermissions, assertMayDelegate, SMART_SCOPE_PATTERN } from '../../auth/permissions.js';
import { parseClientCertBinding } from '../../auth/client-cert.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const ClientCertBody = Type.Union([
  Type.Object(
    {
      fingerprintSha256: Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'SHA-256 of the client certificate (DER), hex, colons allowed',
      }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      issuerCaPem: Type.String({
        minLength: 1,
        maxLength: 20_000,
        description: 'PEM of the CA that directly issues the client certificates',
      }),
    },
    { additionalProperties: false },
  ),
]);

const ApiKeyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  createdAt: Type.String(),
  expiresAt: Nullable(Type.String()),
  revokedAt: Nullable(Type.String()),
  lastUsedAt: Nullable(Type.String()),
  rotatedFrom: Nullable(Type.String({ description: 'The key this one replaced' })),
  clientCert: Nullable(
    Type.Union([
      Type.Object({ fingerprintSha256: Type.String() }),
      Type.Object({ issuerCaSha256: Type.String({ description: 'SHA-256 of the bound CA certificate' }) }),
    ]),
  ),
});

const KeyId = Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{16}$' }) });

const ExpiresInDays = Type.Optional(
  Type.Integer({
    minimum: 1,
    maximum: MAX_API_KEY_DAYS,
    description: 'The key stops working this many days from now; omitted: until revoked',
  }),
);

export interface ApiKeyRouteOptions {
  store: Store;
  clock: () => Date;
}

/** Management of system clients' API keys (admin scope). Every change is audited in its transaction. */
export const apiKeyRoutes: RoutePlugin<ApiKeyRouteOptions> = async (app, { store, clock }) => {
  app.post(
    '',
    {
      config: { permission: 'apikey.manage' },
      schema: {
        tags: ['api-keys'],
        summary: 'Create an API key for a system client, optionally bound to a client certificate (admin scope)',
        description:
          'The key (`sp_<id>_<secret>`) is returned once and never again; only its hash is stored, so there is no Idempotency-Key replay. ' +
          'With `clientCert` the key works only on TLS connections that present that certificate (`fingerprintSha256`) or one issued directly by that CA (`issuerCaPem`); ' +
          'otherwise requests are refused with SP_AUTH_CLIENT_CERT_REQUIRED (401) or SP_AUTH_CLIENT_CERT_MISMATCH (403).',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[\\x20-\\x7E]+$' }),
            scopes: Type.Array(
              Type.Union([
                Type.Enum([...API_KEY_SCOPE_NAMES]),
                Type.String({ pattern: SMART_SCOPE_PATTERN.source, maxLength: 100 }),
              ]),
              {
                maxItems: 20,
                uniqueItems: true,
                default: [],
                description: `Key scopes (${API_KEY_SCOPE_NAMES.join(', ')}) and/or SMART system scopes (system/Patient.rs, system/Communication.c…); none: an integration key`,
              },
            ),
            expiresInDays: ExpiresInDays,
            clientCert: Type.Optional(ClientCertBody),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ key: Type.String({ description: 'Shown once' }), apiKey: ApiKeyView }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req, reply) => {
      const ctx = requestContext(req);
      assertMayDelegate(req.principal!.permissions, apiKeyPermissions(req.body.scopes ?? []));
      const now = clock();
      const clientCert = req.body.clientCert ? parseClientCertBinding(req.body.clientCert, now) : null;
      const { id, key } = await issueApiKey(
        store,
        {
          tenantId: ctx.tenantId,
          name: req.body.name,
          scopes: req.body.scopes ?? [],
          expiresInDays: req.body.expiresInDays,
          clientCert,
          actor: ctx.actor,
          requestId: ctx.requestId,
          sourceIp: ctx.sourceIp,
        },
        now,
      );
      const row = (await store.read.apiKeys.get(id))!;
      return reply.code(201).send({ key, apiKey: apiKeyView(row) });
    },
  );

  app.get(
    '',
    {
      config: { permission: 'apikey.manage' },
      schema: {
        tags: ['api-keys'],
        summary: "List the tenant's API keys without their secrets (admin scope)",
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
            cursor: Type.Optional(Type.String({ pattern: '^[0-9a-f]{16}$' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(ApiKeyView), nextCursor: Nullable(Type.String()) }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => {
      const limit = req.query.limit ?? 100;
      const rows = await store.read.apiKeys.list(req.principal!.tenantId, req.query.cursor ?? '', limit + 1);
      const page = rows.slice(0, limit);
      return { items: page.map(apiKeyView), nextCursor: rows.length > limit ? page[page.length - 1]!.id : null };
    },
  );

  app.post(
    '/:id/rotate',
    {
      config: { permission: 'apikey.manage' },
      // An empty POST means the defaults.
      preValidation: async (req) => {
        req.body ??= {};
      },
      schema: {
        tags: ['api-keys'],
        summary:
          'Rotate an API key: a new key with the same name, scopes and binding; the old one keeps working for graceHours (admin scope)',
        description:
          'The new key is returned once. The old key stops working `graceHours` from now (default 24, 0: at once; sooner if it already expires sooner). ' +
          'A key is rotated once (SP_APIKEY_ALREADY_ROTATED): rotate its successor next.',
        params: KeyId,
        body: Type.Object(
          {
            graceHours: Type.Optional(Type.Integer({ minimum: 0, maximum: 24 * 30, default: 24 })),
            expiresInDays: ExpiresInDays,
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            key: Type.String({ description: 'Shown once' }),
            apiKey: ApiKeyView,
            previous: ApiKeyView,
          }),
          ...problems(400, 401, 403, 404, 409),
        },
      },
    },
    async (req, reply) => {
      const ctx = requestContext(req);
      // A successor is a new secret in the caller's hands: it may rotate only what it could have created.
      const current = await store.read.apiKeys.get(req.params.id);
      if (current && current.tenant_id === ctx.tenantId)
        assertMayDelegate(req.principal!.permissions, apiKeyPermissions(current.scopes.split(' ').filter(Boolean)));
      const { id, key } = await rotateApiKey(
        store,
        ctx.tenantId,
        req.params.id,
        { graceHours: req.body.graceHours ?? 24, expiresInDays: req.body.expiresInDays },
        ctx,
        clock(),
      );
      // The old key's cached verdict must not outlive its shortened life on this node.
      app.apiKeyVerifier.forget(req.params.id);
      const [row, old] = await Promise.all([store.read.apiKeys.get(id), store.read.apiKeys.get(req.params.id)]);
      return reply.code(201).send({ key, apiKey: apiKeyView(row!), previous: apiKeyView(old!) });
    },
  );

  app.post(
    '/:id/revoke',
    {
      config: { permission: 'apikey.manage' },
      schema: {
        tags: ['api-keys'],
        summary: 'Revoke an API key (admin scope); it stops working at once on this node and within seconds on others',
        params: KeyId,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const ctx = requestContext(req);
      await revokeApiKey(store, ctx.tenantId, req.params.id, ctx, clock());
      app.apiKeyVerifier.forget(req.params.id);
      return reply.code(204).send(null);
    },
  );
};
