import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { X509Certificate } from 'node:crypto';
import type { Store } from '../store/store.js';
import type { ErrorCode } from '../core/errors.js';
import { problem } from './error-handler.js';
import { noteRefusedCredential } from './access-denied.js';
import type { ApiKeyVerifier, ApiPrincipal } from '../auth/api-keys.js';
import { certThumbprint, checkClientCert, peerCertificate, type ClientCertVerdict } from '../auth/client-cert.js';
import { apiKeyPermissions, rolePermissions, type Permission, type RoutePermission } from '../auth/permissions.js';
import type { Principal } from '../auth/principal.js';
import { SESSION_COOKIE, SESSION_TOKEN, type SessionService } from '../auth/session-service.js';
import { hashToken } from '../crypto/tokens.js';
import type { AccessTokenVerifier } from '../auth/access-tokens.js';

/**
 * One kind of credential. The first authenticator that `claims` a request decides alone: a request
 * carrying a malformed session token is refused, never tried as something else.
 */
export interface Authenticator {
  claims(req: FastifyRequest): boolean;
  /** The principal, or the code of the uniform refusal (no detail that helps an attacker). */
  authenticate(req: FastifyRequest): Promise<Principal | ErrorCode>;
}

export function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  return typeof h === 'string' && h.startsWith('Bearer ') ? h.slice(7).trim() : null;
}

/** Bearer access tokens of SMART clients (JWTs; auth/access-tokens.ts verifies them). */
export function accessTokenAuthenticator(tokens: AccessTokenVerifier): Authenticator {
  return {
    claims: (req) => tokens.looksLikeAccessToken(bearer(req) ?? ''),
    async authenticate(req) {
      return (await tokens.verify(bearer(req)!)) ?? 'SP_AUTH_UNAUTHENTICATED';
    },
  };
}

/** API keys `sp_<id>_<secret>`, with their mTLS binding; last-used time kept to the minute. */
export function apiKeyAuthenticator(keys: ApiKeyVerifier, store: Store, clock: () => Date): Authenticator {
  const lastTouched = new Map<string, number>();
  // One verdict per connection and key: the certificate cannot change within a TLS connection
  // (renegotiation is refused by Node), so keep-alive requests skip re-parsing and re-verifying it.
  const verdicts = new WeakMap<object, Map<string, ClientCertVerdict>>();
  // The verifier hands out the same cached key object for a while: build its principal once per object.
  const principals = new WeakMap<ApiPrincipal, Principal>();
  return {
    claims: (req) => bearer(req)?.startsWith('sp_') ?? false,
    async authenticate(req) {
      const key = await keys.verify(bearer(req)!);
      if (!key) return 'SP_AUTH_UNAUTHENTICATED';
      if (key.clientCert) {
        const socket = req.raw.socket;
        let perKey = verdicts.get(socket);
        let verdict = perKey?.get(key.keyId);
        if (!verdict) {
          const leaf: X509Certificate | null = peerCertificate(socket);
          verdict = checkClientCert(key.clientCert, leaf, clock());
          if (!perKey) verdicts.set(socket, (perKey = new Map()));
          perKey.set(key.keyId, verdict);
        }
        if (verdict !== 'ok') {
          // Key id and verdict only: the certificate's subject can name a person.
          req.log.warn({ keyId: key.keyId, binding: key.clientCert.kind, verdict }, 'mTLS-bound API key refused');
          const code = verdict === 'missing' ? 'SP_AUTH_CLIENT_CERT_REQUIRED' : 'SP_AUTH_CLIENT_CERT_MISMATCH';
          // The key is genuine: its use with another certificate (or none) is on the record (access.denied).
          noteRefusedCredential(
            req,
            { tenantId: key.tenantId, actor: `api-key:${key.keyId}`, certThumbprint: certThumbprint(socket) },
            code,
          );
          return code;
        }
      }
      const now = clock().getTime();
      if ((lastTouched.get(key.keyId) ?? 0) < now - 60_000) {
        lastTouched.set(key.keyId, now);
        await store.read.apiKeys.touch(key.keyId, now);
      }
      let principal = principals.get(key);
      if (!principal) {
        principal = {
          kind: 'api-key',
          id: key.keyId,
          tenantId: key.tenantId,
          actor: `api-key:${key.keyId}`,
          roles: [],
          scopes: key.scopes,
          permissions: apiKeyPermissions(key.scopes),
          clientCert: key.clientCert,
        };
        principals.set(key, principal);
      }
      return principal;
    },
  };
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Sessions of people: `Authorization: Bearer sps_…` (apps) or the `__Host-` cookie (web). A cookie
 * rides along on cross-site requests, so a state-changing request authenticated by cookie must come
 * from our own origin (SameSite=Strict is the first line, the Origin check the second; ASVS 3.5).
 */
export function sessionAuthenticator(sessions: SessionService, store: Store, publicOrigin: string): Authenticator {
  return {
    claims: (req) => bearer(req)?.startsWith('sps_') ?? req.cookies?.[SESSION_COOKIE] !== undefined,
    async authenticate(req) {
      const viaCookie = !bearer(req);
      const token = viaCookie ? req.cookies[SESSION_COOKIE]! : bearer(req)!;
      if (viaCookie && UNSAFE.has(req.method)) {
        const origin = req.headers.origin;
        const site = req.headers['sec-fetch-site'];
        if (origin !== publicOrigin && site !== 'same-origin') {
          await noteCrossSite(req, token);
          return 'SP_AUTH_FORBIDDEN';
        }
      }
      const s = await sessions.verify(token);
      if (!s) return 'SP_AUTH_UNAUTHENTICATED';
      const session = {
        id: s.id,
        stage: s.stage as NonNullable<Principal['session']>['stage'],
        amr: s.amr.split(' ').filter(Boolean),
        transport: s.transport as 'cookie' | 'bearer',
        mfaAt: s.mfa_at == null ? null : Number(s.mfa_at),
      };
      if (s.subject_type === 'user') {
        const u = await store.read.sessions.user(s.tenant_id, s.subject_id);
        // Disabled and locked users have their sessions revoked when that happens; this is the backstop.
        if (!u || u.status !== 'active') return 'SP_AUTH_UNAUTHENTICATED';
        const roles = u.roles.split(' ').filter(Boolean) as Principal['roles'];
        return {
          kind: 'user',
          id: u.id,
          tenantId: u.tenant_id,
          actor: `user:${u.id}`,
          roles,
          scopes: [],
          permissions: rolePermissions(roles),
          session,
        };
      }
      const a = await store.read.sessions.patientAccount(s.tenant_id, s.subject_id);
      if (!a || a.status !== 'active') return 'SP_AUTH_UNAUTHENTICATED';
      return {
        kind: 'patient',
        id: a.id,
        tenantId: a.tenant_id,
        actor: `patient-account:${a.id}`,
        roles: ['patient'],
        scopes: [],
        permissions: rolePermissions(['patient']),
        session,
        patientId: a.patient_id,
      };
    },
  };

  /**
   * A cross-site change is refused whatever the cookie holds; when the cookie is a live session the
   * refusal goes on the record under its subject (access.denied). Looked up without `verify`, so a
   * forged request neither counts as the session's activity nor keeps it from going idle.
   */
  async function noteCrossSite(req: FastifyRequest, token: string): Promise<void> {
    if (!SESSION_TOKEN.test(token)) return;
    const row = await store.read.sessions.byTokenHash(hashToken(token));
    if (!row || !(await sessions.live(row.tenant_id, row.id))) return;
    const actor = row.subject_type === 'user' ? `user:${row.subject_id}` : `patient-account:${row.subject_id}`;
    noteRefusedCredential(req, { tenantId: row.tenant_id, actor }, 'SP_AUTH_FORBIDDEN');
  }
}

/**
 * What every registered route declared, by `<METHOD> <url as registered>` (e.g. `GET /v1/patients/:id`).
 * Read by the authorization-matrix test, which derives each route's expected answers from it.
 */
export const ROUTE_PERMISSIONS = new Map<string, RoutePermission | Permission[]>();

/** Throws at registration when a route does not say what it needs: no route is open by omission. */
export function requireRoutePermission(route: RouteOptions): void {
  const p = (route.config as { permission?: RoutePermission | Permission[] } | undefined)?.permission;
  if (p === undefined || (Array.isArray(p) && p.length === 0)) {
    throw new Error(`route ${route.method} ${route.url} declares no permission (config.permission)`);
  }
  for (const m of [route.method].flat()) ROUTE_PERMISSIONS.set(`${m} ${route.url}`, p);
}

/**
 * The onRequest check of every matched route: `public`/`provider` routes pass; the others need a
 * principal, an `active` session for people (unless the route accepts the sign-in step the session
 * is at), and the route's permission (any of them when it lists several).
 */
export function authorize(authenticators: Authenticator[]) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const cfg = req.routeOptions.config;
    const need = cfg?.permission;
    // Unmatched requests fall through to the 404 handler without asking for credentials.
    if (!req.routeOptions.url || need === 'public' || need === 'provider') return;
    const a = authenticators.find((x) => x.claims(req));
    if (!a) return problem(reply, req, 'SP_AUTH_UNAUTHENTICATED');
    const principal = await a.authenticate(req);
    if (typeof principal === 'string') return problem(reply, req, principal);
    req.principal = principal;
    if (principal.session && principal.session.stage !== 'active' && !cfg?.stages?.includes(principal.session.stage)) {
      return problem(reply, req, 'SP_AUTH_MFA_REQUIRED');
    }
    if (need === 'authenticated' || need === undefined) return;
    const ok = Array.isArray(need) ? need.some((p) => principal.permissions.has(p)) : principal.permissions.has(need);
    if (!ok) return problem(reply, req, 'SP_AUTH_FORBIDDEN');
  };
}
