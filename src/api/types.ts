import type {
  FastifyInstance,
  FastifyBaseLogger,
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyRequest,
  FastifyPluginAsync,
} from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { RequestContext } from '../core/context.js';
import type { ApiKeyVerifier } from '../auth/api-keys.js';
import type { Principal, SessionStage } from '../auth/principal.js';
import type { Permission, RoutePermission } from '../auth/permissions.js';
import { certThumbprint } from '../auth/client-cert.js';

export type TypedApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyInstance {
    /** The API-key verifier of the auth hook (routes that revoke keys drop its cache entries). */
    apiKeyVerifier: ApiKeyVerifier;
  }
  interface FastifyContextConfig {
    /**
     * What the route needs (auth/permissions.ts): a permission (or any of several), `authenticated`,
     * `public` or `provider`. Required: a route without it refuses to register.
     */
    permission?: RoutePermission | Permission[];
    /** Sign-in steps (besides `active`) at which a person's session may call this route. */
    stages?: SessionStage[];
    /**
     * An HTML form (or form-posting provider) route: it also takes application/x-www-form-urlencoded.
     * Every other route takes UTF-8 JSON only (build-server.ts answers 415 otherwise).
     */
    form?: boolean;
    /**
     * A route that takes application/octet-stream (encrypted attachments), or the media types
     * listed (e.g. a logo's image types), parsed by its own plugin's bounded reader.
     */
    binary?: boolean | readonly string[];
  }
}

/** The audit context of an authenticated API request. */
export function requestContext(req: FastifyRequest): RequestContext {
  const p = req.principal!;
  const ctx: RequestContext = { tenantId: p.tenantId, actor: p.actor, requestId: req.id, sourceIp: req.ip };
  // A key bound to a client certificate was authenticated by mTLS: its entries name the certificate.
  const cert = p.clientCert ? certThumbprint(req.raw.socket) : null;
  if (cert) ctx.certThumbprint = cert;
  return ctx;
}

/**
 * A route module: a Fastify plugin that declares its routes relative to the prefix it is registered
 * with (`server.register(notificationRoutes, { prefix: '/v1/notifications', notifications, access })`).
 */
export type RoutePlugin<Options extends object> = FastifyPluginAsync<Options, RawServerDefault, TypeBoxTypeProvider>;
