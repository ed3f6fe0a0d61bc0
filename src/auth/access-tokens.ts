import { randomBytes } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { smartScopePermissions, type Permission } from './permissions.js';
import type { Principal } from './principal.js';

/**
 * Access tokens of SMART backend-services clients: short-lived JWTs (RFC 9068 profile) MACed with
 * HS256 under a key every node derives from the key provider, so any node verifies what another
 * issued. The algorithm is pinned on verification: a token whose header names another algorithm
 * (`none`, RS*, …) is refused before any key is used (RFC 8725 §3.1).
 */
export const ACCESS_TOKEN_TYP = 'at+jwt';

export interface AccessTokenClaims {
  /** The client id (`sub` and `client_id`). */
  clientId: string;
  tenantId: string;
  /** Granted SMART scopes. */
  scopes: readonly string[];
}

export interface IssuedAccessToken {
  token: string;
  jti: string;
  expiresIn: number;
}

/** Signs an access token valid from `now` for `lifetimeSeconds`; `issuer` is also the audience (this server). */
export async function signAccessToken(
  key: Uint8Array,
  claims: AccessTokenClaims,
  opts: { issuer: string; lifetimeSeconds: number; now: Date },
): Promise<IssuedAccessToken> {
  const iat = Math.floor(opts.now.getTime() / 1000);
  const jti = randomBytes(16).toString('hex');
  const token = await new SignJWT({
    scope: claims.scopes.join(' '),
    tenant: claims.tenantId,
    client_id: claims.clientId,
  })
    .setProtectedHeader({ alg: 'HS256', typ: ACCESS_TOKEN_TYP })
    .setIssuer(opts.issuer)
    .setAudience(opts.issuer)
    .setSubject(claims.clientId)
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(iat + opts.lifetimeSeconds)
    .sign(key);
  return { token, jti, expiresIn: opts.lifetimeSeconds };
}

/** The claims of a valid access token, or null (bad MAC, other algorithm, wrong issuer/audience, expired, malformed). */
export async function verifyAccessToken(
  key: Uint8Array,
  token: string,
  opts: { issuer: string; now: Date },
): Promise<(AccessTokenClaims & { jti: string }) | null> {
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      typ: ACCESS_TOKEN_TYP,
      issuer: opts.issuer,
      audience: opts.issuer,
      requiredClaims: ['sub', 'exp', 'iat', 'jti'],
      currentDate: opts.now,
    });
    const { sub, tenant, scope, client_id, jti } = payload as Record<string, unknown>;
    if (
      typeof sub !== 'string' ||
      client_id !== sub ||
      typeof tenant !== 'string' ||
      typeof scope !== 'string' ||
      typeof jti !== 'string'
    )
      return null;
    const scopes = scope.split(' ').filter(Boolean);
    if (scopes.length === 0 || scopes.some((s) => smartScopePermissions(s) === null)) return null;
    return { clientId: sub, tenantId: tenant, scopes, jti };
  } catch {
    return null;
  }
}

/** Union of the permissions SMART scopes grant. */
export function scopePermissions(scopes: readonly string[]): Set<Permission> {
  const out = new Set<Permission>();
  for (const s of scopes) for (const p of smartScopePermissions(s) ?? []) out.add(p);
  return out;
}

/** Three base64url segments: what a JWS compact serialisation looks like (API keys and sessions never do). */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Bearer access tokens issued here, seen from a request: api/authenticate.ts's
 * `accessTokenAuthenticator` turns this into the HTTP credential kind.
 */
export interface AccessTokenVerifier {
  /** Whether a bearer token has the shape of an access token (a JWS compact serialisation); API keys and sessions never do. */
  looksLikeAccessToken(token: string): boolean;
  /** The client's principal, or null (bad signature, issuer, type or time; a client revoked since). */
  verify(token: string): Promise<Principal | null>;
}

export interface AccessTokenVerifierOptions {
  key: Uint8Array;
  issuer: string;
  clock: () => Date;
  /** The client's tenant while it is registered and not revoked (a few seconds of cache at most). */
  liveClientTenant(clientId: string): Promise<string | null>;
}

/**
 * Bearer access tokens of SMART clients. A revoked client's tokens stop working as soon as the
 * revocation is seen (`liveClientTenant`), not only when they expire.
 */
export function accessTokenVerifier(o: AccessTokenVerifierOptions): AccessTokenVerifier {
  return {
    looksLikeAccessToken: (token) => JWT_SHAPE.test(token),
    async verify(token) {
      const claims = await verifyAccessToken(o.key, token, { issuer: o.issuer, now: o.clock() });
      if (!claims) return null;
      if ((await o.liveClientTenant(claims.clientId)) !== claims.tenantId) return null;
      const principal: Principal = {
        kind: 'client',
        id: claims.clientId,
        tenantId: claims.tenantId,
        actor: `client:${claims.clientId}`,
        roles: [],
        scopes: claims.scopes,
        permissions: scopePermissions(claims.scopes),
      };
      return principal;
    },
  };
}
