import type { JWK } from 'jose';
import type { Store } from '../store/store.js';
import type { OAuthClientRow } from '../store/repositories/oauth-repository.js';
import { smartScopePermissions } from './permissions.js';
import {
  AssertionError,
  assertionIssuer,
  CLIENT_ASSERTION_TYPE,
  CLOCK_SKEW_SECONDS,
  readAssertionHead,
  selectAssertionKey,
  verifyClientAssertion,
  type AssertionHead,
} from './client-assertion.js';
import { scopePermissions, signAccessToken } from './access-tokens.js';
import type { RemoteJwks } from './remote-jwks.js';

/** RFC 6749 §5.2 error codes the token endpoint answers with. */
export type OAuthErrorCode =
  'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_scope';

export type TokenAnswer =
  | { status: 200; body: { access_token: string; token_type: 'bearer'; expires_in: number; scope: string } }
  | { status: 400 | 401; body: { error: OAuthErrorCode; error_description: string } };

/** Generic descriptions: the audit record says why, the caller learns nothing that helps an attacker. */
const DESCRIPTIONS: Record<OAuthErrorCode, string> = {
  invalid_request: 'The request is missing a parameter, repeats one, or is not application/x-www-form-urlencoded',
  invalid_client: 'Client authentication failed',
  invalid_grant: 'The grant is invalid',
  unsupported_grant_type: 'Only grant_type=client_credentials is supported',
  invalid_scope: 'The requested scope is invalid or exceeds the scopes registered for this client',
};

class Refusal extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly reason: string,
  ) {
    super(reason);
  }
}

export interface TokenEndpointOptions {
  store: Store;
  clock: () => Date;
  publicUrl: string;
  tokenUrl: string;
  tokenKey: Uint8Array;
  accessTokenMinutes: number;
  defaultTenant: string;
  remoteJwks: RemoteJwks;
}

/**
 * OAuth 2.0 client_credentials with `private_key_jwt` (RFC 6749 §4.4, RFC 7523 §2.2). A token is
 * issued only after the assertion's `jti` is recorded (in the same transaction as the audit entry);
 * every refusal is audited (the client id when the client exists, else `anonymous`) and writes
 * nothing else.
 */
export class TokenEndpoint {
  private lastPurge = 0;

  constructor(private readonly o: TokenEndpointOptions) {}

  async answer(
    params: Record<string, unknown> | null,
    meta: { requestId?: string; sourceIp?: string },
  ): Promise<TokenAnswer> {
    const now = this.o.clock();
    let client: OAuthClientRow | undefined;
    try {
      const p = readParams(params);
      // The client named by `iss` goes on the audit record of any refusal, even of a malformed header.
      const iss = assertionIssuer(p.assertion);
      client = iss ? await this.o.store.read.oauth.client(iss) : undefined;
      let head: AssertionHead;
      try {
        head = readAssertionHead(p.assertion);
      } catch (e) {
        throw new Refusal('invalid_client', (e as AssertionError).reason ?? 'malformed');
      }
      if (!client) throw new Refusal('invalid_client', 'unknown_client');
      if (client.revoked_at != null) throw new Refusal('invalid_client', 'revoked_client');
      const key = await this.keyFor(client, head);
      let jti: string;
      let exp: number;
      try {
        ({ jti, exp } = await verifyClientAssertion(p.assertion, key, { head, tokenUrl: this.o.tokenUrl, now }));
      } catch (e) {
        if (e instanceof AssertionError) throw new Refusal('invalid_client', e.reason);
        throw e;
      }
      const scopes = grantScopes(client, p.scope);
      const issued = await signAccessToken(
        this.o.tokenKey,
        { clientId: client.id, tenantId: client.tenant_id, scopes },
        { issuer: this.o.publicUrl, lifetimeSeconds: this.o.accessTokenMinutes * 60, now },
      );
      const c = client;
      const recorded = await this.o.store.transaction(async (tx) => {
        // Kept as long as the assertion could still be accepted (its exp plus the tolerated skew).
        if (!(await tx.oauth.insertJti(c.id, jti, (exp + CLOCK_SKEW_SECONDS) * 1000))) return false;
        await tx.oauth.touchClient(c.id, now.getTime());
        await tx.audit.append({
          tenantId: c.tenant_id,
          at: now,
          actor: `client:${c.id}`,
          action: 'oauth.token_issued',
          outcome: 'success',
          targetType: 'oauth_client',
          targetId: c.id,
          requestId: meta.requestId,
          sourceIp: meta.sourceIp,
          details: { scopes, tokenId: issued.jti, expiresIn: issued.expiresIn },
        });
        return true;
      });
      if (!recorded) throw new Refusal('invalid_client', 'replayed_jti');
      await this.o.store.durable();
      await this.purge(now);
      return {
        status: 200,
        body: {
          access_token: issued.token,
          token_type: 'bearer',
          expires_in: issued.expiresIn,
          scope: scopes.join(' '),
        },
      };
    } catch (e) {
      if (!(e instanceof Refusal)) throw e;
      await this.refused(e, client, now, meta);
      return {
        status: e.error === 'invalid_client' ? 401 : 400,
        body: { error: e.error, error_description: DESCRIPTIONS[e.error] },
      };
    }
  }

  /** The client's key named by `kid` that fits `alg` (inline JWKS, or its JWKS URL). */
  private async keyFor(client: OAuthClientRow, head: AssertionHead): Promise<JWK> {
    let key: JWK | undefined;
    if (client.jwks) key = selectAssertionKey((JSON.parse(client.jwks) as { keys: JWK[] }).keys, head);
    else if (client.jwks_url) {
      try {
        key = await this.o.remoteJwks.find(client.id, client.jwks_url, (keys) => selectAssertionKey(keys, head));
      } catch {
        throw new Refusal('invalid_client', 'jwks_unavailable');
      }
    }
    if (!key) throw new Refusal('invalid_client', 'unknown_kid');
    return key;
  }

  private async refused(
    e: Refusal,
    client: OAuthClientRow | undefined,
    now: Date,
    meta: { requestId?: string; sourceIp?: string },
  ): Promise<void> {
    await this.o.store.transaction((tx) =>
      tx.audit.append({
        tenantId: client?.tenant_id ?? this.o.defaultTenant,
        at: now,
        actor: client ? `client:${client.id}` : 'anonymous',
        action: 'oauth.token_refused',
        outcome: 'failure',
        ...(client ? { targetType: 'oauth_client', targetId: client.id } : {}),
        requestId: meta.requestId,
        sourceIp: meta.sourceIp,
        details: { error: e.error, reason: e.reason },
      }),
    );
    // Not awaited to disk: a refusal changes nothing, and an anonymous caller must not be able to
    // make us fsync at will (the entry is durable with the next commit that is).
  }

  /** Expired assertion ids go at most once a minute per node; losing a purge to a crash costs nothing. */
  private async purge(now: Date): Promise<void> {
    if (now.getTime() - this.lastPurge < 60_000) return;
    this.lastPurge = now.getTime();
    await this.o.store.read.oauth.purgeExpiredJti(now.getTime());
  }
}

/** One value per parameter (RFC 6749 §3.2: parameters MUST NOT be repeated). */
function readParams(params: Record<string, unknown> | null): { assertion: string; scope?: string } {
  if (!params) throw new Refusal('invalid_request', 'not_a_form');
  const one = (name: string): string | undefined => {
    const v = params[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new Refusal('invalid_request', `repeated_or_invalid_${name}`);
    return v;
  };
  const grant = one('grant_type');
  if (grant === undefined) throw new Refusal('invalid_request', 'missing_grant_type');
  if (grant !== 'client_credentials') throw new Refusal('unsupported_grant_type', 'grant_type');
  const type = one('client_assertion_type');
  const assertion = one('client_assertion');
  if (type === undefined || assertion === undefined || assertion === '')
    throw new Refusal('invalid_request', 'missing_client_assertion');
  // Another client authentication method (RFC 6749 §5.2: unsupported authentication method).
  if (type !== CLIENT_ASSERTION_TYPE) throw new Refusal('invalid_client', 'client_assertion_type');
  return { assertion, scope: one('scope') };
}

/**
 * The scopes to grant: the registered ones when none are asked for; otherwise each asked scope must
 * be a SMART system scope granting only what the registered scopes grant (a client registered for
 * `system/*.rs` may ask for `system/Patient.rs`, never for `system/Patient.cu`).
 */
function grantScopes(client: OAuthClientRow, asked: string | undefined): string[] {
  const registered = client.scopes.split(' ').filter(Boolean);
  if (asked === undefined) return registered;
  const wanted = [...new Set(asked.split(' ').filter(Boolean))];
  if (wanted.length === 0 || wanted.length > 20) throw new Refusal('invalid_scope', 'scope_empty_or_too_many');
  const allowed = scopePermissions(registered);
  for (const s of wanted) {
    const perms = smartScopePermissions(s);
    if (!perms?.length || !perms.every((p) => allowed.has(p)))
      throw new Refusal('invalid_scope', 'scope_not_registered');
  }
  return wanted;
}
