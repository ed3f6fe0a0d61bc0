import { Type } from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../types.js';
import type { OAuthClientService } from '../../auth/oauth-client-service.js';
import type { TokenAnswer } from '../../auth/token-endpoint.js';
import { ASSERTION_ALGS, CLIENT_ASSERTION_TYPE } from '../../auth/client-assertion.js';
import { smartScopePermissions } from '../../auth/permissions.js';
import { isAppError } from '../../core/errors.js';

/** SMART system scopes worth advertising: per resource, read (`.rs`) and everything it supports (`.cruds`). */
export function supportedScopes(): string[] {
  const out: string[] = [];
  for (const r of ['*', 'Patient', 'Communication', 'Appointment', 'AuditEvent']) {
    if (smartScopePermissions(`system/${r}.rs`)?.length) out.push(`system/${r}.rs`);
    if ([...'cud'].some((op) => smartScopePermissions(`system/${r}.${op}`)?.length)) out.push(`system/${r}.cruds`);
  }
  return out;
}

const OAuthError = Type.Object({ error: Type.String(), error_description: Type.String() });

export interface OAuthRouteOptions {
  clients: OAuthClientService;
}

/**
 * SMART Backend Services discovery and token endpoint (SMART App Launch v2; RFC 6749 §4.4, RFC 7523).
 * The token endpoint answers in OAuth's own JSON (RFC 6749 §5.1/§5.2), never problem details: OAuth
 * client libraries parse `error`. Both are public: the client authenticates with its assertion.
 */
export const oauthRoutes: RoutePlugin<OAuthRouteOptions> = async (app, { clients }) => {
  app.get(
    '/.well-known/smart-configuration',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['oauth'],
        summary: 'SMART configuration (discovery of the token endpoint, algorithms and scopes)',
        security: [],
        response: {
          200: Type.Object({
            token_endpoint: Type.String(),
            token_endpoint_auth_methods_supported: Type.Array(Type.String()),
            token_endpoint_auth_signing_alg_values_supported: Type.Array(Type.String()),
            grant_types_supported: Type.Array(Type.String()),
            scopes_supported: Type.Array(Type.String()),
            capabilities: Type.Array(Type.String()),
          }),
        },
      },
    },
    async () => ({
      token_endpoint: clients.tokenUrl,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGS],
      grant_types_supported: ['client_credentials'],
      scopes_supported: supportedScopes(),
      capabilities: ['client-confidential-asymmetric'],
    }),
  );

  const send = (reply: FastifyReply, a: TokenAnswer) => {
    // RFC 6749 §5.1: token answers must not be cached.
    reply.header('pragma', 'no-cache');
    return reply.code(a.status).type('application/json').send(a.body);
  };
  const meta = (req: FastifyRequest) => ({ requestId: req.id, sourceIp: req.ip });

  app.post(
    '/oauth2/token',
    {
      config: { permission: 'public', form: true },
      // Unparseable, oversized or non-form bodies get an OAuth error too (audited like any refusal).
      errorHandler: async (err, req, reply) => {
        const status = isAppError(err) ? err.status : (err as { statusCode?: number }).statusCode;
        if (status && status < 500) return send(reply, await clients.token(null, meta(req)));
        throw err;
      },
      // Parameters are checked by the token endpoint itself so that every refusal is an OAuth error.
      attachValidation: true,
      schema: {
        tags: ['oauth'],
        summary:
          'OAuth 2.0 token endpoint: client_credentials with a private_key_jwt client assertion (SMART Backend Services)',
        description:
          `Form-encoded (application/x-www-form-urlencoded, at most 4 KiB). \`client_assertion\` is a JWT signed with ${ASSERTION_ALGS.join(' or ')} by a key of the client's registered JWKS ` +
          '(header `kid`), with `iss` = `sub` = client id, `aud` = this URL, `exp` at most five minutes ahead and a `jti` never used before. ' +
          'Errors are OAuth JSON `{error, error_description}`: invalid_client (401), invalid_request, unsupported_grant_type, invalid_scope (400).',
        security: [],
        consumes: ['application/x-www-form-urlencoded'],
        body: Type.Object({
          grant_type: Type.Literal('client_credentials'),
          client_assertion_type: Type.Literal(CLIENT_ASSERTION_TYPE),
          client_assertion: Type.String(),
          scope: Type.Optional(
            Type.String({ description: 'Space-separated SMART system scopes; default: every registered scope' }),
          ),
        }),
        response: {
          200: Type.Object({
            access_token: Type.String(),
            token_type: Type.Literal('bearer'),
            expires_in: Type.Integer(),
            scope: Type.String(),
          }),
          400: OAuthError,
          401: OAuthError,
        },
      },
    },
    async (req, reply) => {
      const form =
        (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() === 'application/x-www-form-urlencoded';
      const body = form && req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : null;
      return send(reply, await clients.token(body, meta(req)));
    },
  );
};
