import type { FastifyReply, FastifyRequest } from 'fastify';
import type { X509Certificate } from 'node:crypto';
import type { Store } from '../store/store.js';
import { problem } from './error-handler.js';
import type { ApiKeyVerifier } from './api-keys.js';
import { checkClientCert, peerCertificate, type ClientCertVerdict } from './client-cert.js';

/**
 * API-key authentication for routes whose `auth` is 'api-key' (the default for matched routes):
 * a valid bearer key, its client certificate when the key is mTLS-bound, and the route's scope.
 */
export function apiKeyAuth(keys: ApiKeyVerifier, store: Store, clock: () => Date) {
  const lastTouched = new Map<string, number>();
  // One verdict per connection and key: the certificate cannot change within a TLS connection
  // (renegotiation is refused by Node), so keep-alive requests skip re-parsing and re-verifying it.
  const verdicts = new WeakMap<object, Map<string, ClientCertVerdict>>();
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const h = req.headers.authorization;
    const principal = h?.startsWith('Bearer ') ? await keys.verify(h.slice(7).trim()) : null;
    if (!principal) return problem(reply, req, 'SP_AUTH_UNAUTHENTICATED');
    if (principal.clientCert) {
      const socket = req.raw.socket;
      let perKey = verdicts.get(socket);
      let verdict = perKey?.get(principal.keyId);
      if (!verdict) {
        const leaf: X509Certificate | null = peerCertificate(socket);
        verdict = checkClientCert(principal.clientCert, leaf, clock());
        if (!perKey) verdicts.set(socket, (perKey = new Map()));
        perKey.set(principal.keyId, verdict);
      }
      if (verdict !== 'ok') {
        // Key id and verdict only: the certificate's subject can name a person.
        req.log.warn({ keyId: principal.keyId, binding: principal.clientCert.kind, verdict }, 'mTLS-bound API key refused');
        return problem(reply, req, verdict === 'missing' ? 'SP_AUTH_CLIENT_CERT_REQUIRED' : 'SP_AUTH_CLIENT_CERT_MISMATCH');
      }
    }
    const scope = req.routeOptions.config?.scope;
    if (scope && !principal.scopes.includes('admin') && !principal.scopes.includes(scope)) return problem(reply, req, 'SP_AUTH_FORBIDDEN');
    req.principal = principal;
    // last-used time is kept to the minute: one write per key per minute, not one per request.
    const now = clock().getTime();
    if ((lastTouched.get(principal.keyId) ?? 0) < now - 60_000) {
      lastTouched.set(principal.keyId, now);
      await store.read.touchApiKey(principal.keyId, now);
    }
  };
}
