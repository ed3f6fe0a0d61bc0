import type { FastifyInstance, FastifyBaseLogger, RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { RequestContext } from '../core/context.js';
import type { ApiKeyVerifier, ApiPrincipal } from './api-keys.js';

export type TypedApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

declare module 'fastify' {
  interface FastifyRequest {
    principal?: ApiPrincipal;
  }
  interface FastifyInstance {
    /** The API-key verifier of the auth hook (routes that revoke keys drop its cache entries). */
    apiKeyVerifier: ApiKeyVerifier;
  }
  interface FastifyContextConfig {
    /** 'api-key' (default for /v1), 'public' (health, portal, docs), 'provider' (signed callbacks). */
    auth?: 'api-key' | 'public' | 'provider';
    /** Scope an API key needs besides being valid (`admin` keys hold every scope). */
    scope?: 'audit' | 'admin';
  }
}

/** The audit context of an authenticated API request. */
export function requestContext(req: FastifyRequest): RequestContext {
  const p = req.principal!;
  return { tenantId: p.tenantId, actor: `api-key:${p.keyId}`, requestId: req.id, sourceIp: req.ip };
}
