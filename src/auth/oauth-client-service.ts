import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Store } from '../store/store.js';
import type { OAuthClientRow } from '../store/repositories/oauth-repository.js';
import { AppError } from '../core/errors.js';
import { audit, type RequestContext } from '../core/context.js';
import { smartScopePermissions } from './permissions.js';
import { publicJwks } from './client-assertion.js';
import { RemoteJwks } from './remote-jwks.js';
import { TokenEndpoint, type TokenAnswer } from './token-endpoint.js';
import { accessTokenVerifier, type AccessTokenVerifier } from './access-tokens.js';

export interface OAuthClientServiceOptions {
  store: Store;
  clock: () => Date;
  /** This server's public URL: issuer and audience of access tokens; the token URL is `${publicUrl}/oauth2/token`. */
  publicUrl: string;
  /** HS256 key of access tokens (the key provider's MAC key for `sealpost/access-token`). */
  tokenKey: Uint8Array;
  accessTokenMinutes: number;
  /** Tenant on whose audit record refusals of unknown clients go. */
  defaultTenant: string;
  /** Fetching clients' JWKS URLs: the outbound deadline and TLS switch of provider calls (outbound-tls.ts). */
  outbound: { timeoutMs: number; insecureSkipTlsVerify: boolean; ca?: string; allowedHosts?: readonly string[] };
}

export interface RegisterClientInput {
  name: string;
  scopes: string[];
  jwks?: unknown;
  jwksUrl?: string;
}

/** What management routes show of a client: public keys and settings, never anything secret (there is nothing). */
export function clientView(row: OAuthClientRow) {
  const iso = (ms: number | null) => (ms == null ? null : new Date(Number(ms)).toISOString());
  return {
    clientId: row.id,
    name: row.name,
    scopes: row.scopes.split(' ').filter(Boolean),
    jwks: row.jwks ? (JSON.parse(row.jwks) as { keys: Record<string, string>[] }) : null,
    jwksUrl: row.jwks_url,
    createdAt: iso(row.created_at)!,
    revokedAt: iso(row.revoked_at),
    lastUsedAt: iso(row.last_used_at),
  };
}
export type ClientView = ReturnType<typeof clientView>;

/**
 * SMART Backend Services clients (SMART App Launch v2): registration with a public JWKS (inline or
 * by URL) and SMART system scopes, revocation, and the token endpoint (token-endpoint.ts). Every
 * change is audited in its own transaction and durable before the answer.
 */
export class OAuthClientService {
  readonly tokenUrl: string;
  /** Issuer and audience of access tokens: this server's public URL. */
  readonly issuer: string;
  private readonly endpoint: TokenEndpoint;
  private readonly remoteJwks: RemoteJwks;
  /** Client id → tenant while live (null: unknown or revoked), for the access-token verifier. */
  private readonly live = new Map<string, { tenant: string | null; until: number }>();
  private static readonly LIVE_TTL_MS = 3_000;

  constructor(private readonly o: OAuthClientServiceOptions) {
    this.issuer = o.publicUrl.replace(/\/+$/, '');
    this.tokenUrl = `${this.issuer}/oauth2/token`;
    this.remoteJwks = new RemoteJwks({ ...o.outbound, clock: o.clock });
    this.endpoint = new TokenEndpoint({
      ...o,
      publicUrl: this.issuer,
      tokenUrl: this.tokenUrl,
      remoteJwks: this.remoteJwks,
    });
  }

  /**
   * Verification of the bearer access tokens issued here (the composition root hands it to
   * buildServer as `accessTokenAuthenticator(…)` among its `extraAuthenticators`).
   */
  accessTokens(): AccessTokenVerifier {
    return accessTokenVerifier({
      key: this.o.tokenKey,
      issuer: this.issuer,
      clock: this.o.clock,
      liveClientTenant: (id) => this.liveClientTenant(id),
    });
  }

  /** Registers a client; SP_OAUTH_INVALID_SCOPE / SP_OAUTH_INVALID_JWKS / SP_OAUTH_INVALID_JWKS_URL on bad input (nothing written). */
  async register(ctx: RequestContext, input: RegisterClientInput): Promise<ClientView> {
    const scopes = [...new Set(input.scopes)];
    if (scopes.length === 0 || scopes.some((s) => !smartScopePermissions(s)?.length)) {
      throw new AppError(
        'SP_OAUTH_INVALID_SCOPE',
        'scopes must be SMART system scopes such as system/Patient.rs that grant something',
      );
    }
    if ((input.jwks === undefined) === (input.jwksUrl === undefined))
      throw new AppError('SP_OAUTH_INVALID_JWKS', 'give exactly one of jwks or jwksUrl');
    let keys: JWK[] | null = null;
    if (input.jwks !== undefined) {
      try {
        keys = await publicJwks(input.jwks);
      } catch (e) {
        throw new AppError('SP_OAUTH_INVALID_JWKS', (e as Error).message);
      }
    }
    const jwksUrl = input.jwksUrl === undefined ? null : checkJwksUrl(input.jwksUrl);
    const thumbprints = keys ? await Promise.all(keys.map((k) => calculateJwkThumbprint(k, 'sha256'))) : [];
    const now = this.o.clock();
    const row: OAuthClientRow = {
      id: randomBytes(16).toString('hex'),
      tenant_id: ctx.tenantId,
      name: input.name,
      jwks: keys ? JSON.stringify({ keys }) : null,
      jwks_url: jwksUrl,
      scopes: scopes.join(' '),
      created_at: now.getTime(),
      revoked_at: null,
      last_used_at: null,
    };
    await this.o.store.transaction(async (tx) => {
      await tx.oauth.insertClient(row);
      // Public facts only: scopes, key thumbprints (RFC 7638), the JWKS URL's origin.
      await audit(tx, ctx, now, {
        action: 'oauth_client.registered',
        targetType: 'oauth_client',
        targetId: row.id,
        details: { scopes, keyThumbprints: thumbprints, jwksOrigin: jwksUrl ? new URL(jwksUrl).origin : null },
      });
    });
    await this.o.store.durable();
    return clientView(row);
  }

  async get(tenantId: string, id: string): Promise<ClientView> {
    const row = await this.o.store.read.oauth.clientOf(tenantId, id);
    if (!row) throw new AppError('SP_OAUTH_CLIENT_NOT_FOUND');
    return clientView(row);
  }

  async list(
    tenantId: string,
    cursor: string,
    limit: number,
  ): Promise<{ items: ClientView[]; nextCursor: string | null }> {
    const rows = await this.o.store.read.oauth.listClients(tenantId, cursor, limit + 1);
    const page = rows.slice(0, limit);
    return { items: page.map(clientView), nextCursor: rows.length > limit ? page[page.length - 1]!.id : null };
  }

  /** Revokes a client: new assertions are refused at once, its access tokens within seconds on every node (at once on this one). */
  async revoke(ctx: RequestContext, id: string): Promise<ClientView> {
    const now = this.o.clock();
    await this.o.store.transaction(async (tx) => {
      if (!(await tx.oauth.revokeClient(ctx.tenantId, id, now.getTime())))
        throw new AppError('SP_OAUTH_CLIENT_NOT_FOUND');
      await audit(tx, ctx, now, { action: 'oauth_client.revoked', targetType: 'oauth_client', targetId: id });
    });
    await this.o.store.durable();
    this.live.delete(id);
    this.remoteJwks.forget(id);
    return this.get(ctx.tenantId, id);
  }

  /**
   * POST /oauth2/token: the OAuth answer (success or RFC 6749 §5.2 error), already audited. `params`
   * is the parsed form, or null when the body was not a form at all (invalid_request).
   */
  token(params: Record<string, unknown> | null, meta: { requestId?: string; sourceIp?: string }): Promise<TokenAnswer> {
    return this.endpoint.answer(params, meta);
  }

  /** The tenant of a registered, unrevoked client (cached a few seconds), or null. */
  async liveClientTenant(id: string): Promise<string | null> {
    const now = this.o.clock().getTime();
    const hit = this.live.get(id);
    if (hit && hit.until > now) return hit.tenant;
    const row = await this.o.store.read.oauth.client(id);
    const tenant = row && row.revoked_at == null ? row.tenant_id : null;
    if (this.live.size >= 1_000) this.live.delete(this.live.keys().next().value as string);
    this.live.set(id, { tenant, until: now + OAuthClientService.LIVE_TTL_MS });
    return tenant;
  }
}

/** An https URL without credentials or fragment (the JWKS is fetched with TLS verified, RFC 7591 §2 `jwks_uri`). */
function checkJwksUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new AppError('SP_OAUTH_INVALID_JWKS_URL', 'jwksUrl is not a URL');
  }
  if (u.protocol !== 'https:') throw new AppError('SP_OAUTH_INVALID_JWKS_URL', 'jwksUrl must be https');
  if (u.username || u.password || u.hash)
    throw new AppError('SP_OAUTH_INVALID_JWKS_URL', 'jwksUrl must not hold credentials or a fragment');
  return u.toString();
}
