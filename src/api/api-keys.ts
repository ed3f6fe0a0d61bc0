import { randomBytes } from 'node:crypto';
import type { Store } from '../store/store.js';
import type { ApiKeyRow } from '../store/repositories.js';
import { hashToken, safeEqualHex } from '../crypto/tokens.js';
import { AppError } from '../core/errors.js';
import { API_KEY_SCOPES, type ApiKeyScope } from '../auth/permissions.js';
import { bindingFromColumns, type ClientCertBinding } from './client-cert.js';

/** Scopes an API key may hold (auth/permissions.ts); none means an integration key. */
export const API_KEY_SCOPE_NAMES = Object.keys(API_KEY_SCOPES) as ApiKeyScope[];

export interface IssueApiKeyInput {
  tenantId: string;
  name: string;
  scopes: string[];
  /** mTLS: requests with this key must present this certificate (or one issued by this CA). */
  clientCert?: ClientCertBinding | null;
  /** Who is on the audit record: `api-key:<id>` of an admin, `system:cli`, `system:bootstrap`. */
  actor: string;
  requestId?: string;
  sourceIp?: string;
}

/**
 * API keys look like `sp_<id>_<secret>`: the id finds the row, the 256-bit secret is compared by
 * SHA-256 hash in constant time. High-entropy secrets need no password hashing. The key is shown
 * once; the row and the audit entry (same transaction) hold only its id, never the secret.
 */
export async function issueApiKey(store: Store, input: IssueApiKeyInput, now: Date): Promise<{ id: string; key: string }> {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const b = input.clientCert ?? null;
  await store.transaction(async (tx) => {
    await tx.insertApiKey({
      id,
      tenant_id: input.tenantId,
      name: input.name,
      secret_hash: hashToken(secret),
      scopes: input.scopes.join(' '),
      created_at: now.getTime(),
      expires_at: null,
      revoked_at: null,
      last_used_at: null,
      client_cert_sha256: b?.kind === 'fingerprint' ? b.fingerprintSha256 : null,
      client_ca_pem: b?.kind === 'ca' ? b.caPem : null,
      rotated_from: null,
    });
    // Public fingerprints only: enough to tell later which certificate or CA the key was bound to.
    const clientCert = b ? (b.kind === 'fingerprint' ? `sha256:${b.fingerprintSha256}` : `ca-sha256:${b.caFingerprintSha256}`) : null;
    await tx.appendAudit({ tenantId: input.tenantId, at: now, actor: input.actor, action: 'api_key.created', outcome: 'success', targetType: 'api_key', targetId: id, requestId: input.requestId, sourceIp: input.sourceIp, details: { scopes: input.scopes, clientCert } });
  });
  await store.durable();
  return { id, key: `sp_${id}_${secret}` };
}

/** The first key of an installation (kept for the composition root). */
export async function createApiKey(store: Store, tenantId: string, name: string, scopes: string[], now: Date): Promise<string> {
  return (await issueApiKey(store, { tenantId, name, scopes, actor: 'system:bootstrap' }, now)).key;
}

/** Revokes a key and records it in the same transaction; SP_APIKEY_NOT_FOUND when unknown or already revoked. */
export async function revokeApiKey(store: Store, tenantId: string, id: string, ctx: { actor: string; requestId?: string; sourceIp?: string }, now: Date): Promise<void> {
  await store.transaction(async (tx) => {
    if (!(await tx.revokeApiKey(tenantId, id, now.getTime()))) throw new AppError('SP_APIKEY_NOT_FOUND');
    await tx.appendAudit({ tenantId, at: now, actor: ctx.actor, action: 'api_key.revoked', outcome: 'success', targetType: 'api_key', targetId: id, requestId: ctx.requestId, sourceIp: ctx.sourceIp });
  });
  await store.durable();
}

/** What listing shows of a key: never the secret or its hash. */
export function apiKeyView(row: ApiKeyRow) {
  const b = bindingFromColumns(row.client_cert_sha256, row.client_ca_pem);
  const iso = (ms: number | null) => (ms == null ? null : new Date(Number(ms)).toISOString());
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes.split(' ').filter(Boolean),
    createdAt: iso(row.created_at)!,
    expiresAt: iso(row.expires_at),
    revokedAt: iso(row.revoked_at),
    lastUsedAt: iso(row.last_used_at),
    clientCert: b ? (b.kind === 'fingerprint' ? { fingerprintSha256: b.fingerprintSha256 } : { issuerCaSha256: b.caFingerprintSha256 }) : null,
  };
}

export interface ApiPrincipal {
  keyId: string;
  tenantId: string;
  scopes: string[];
  /** Null for keys usable without a client certificate. */
  clientCert: ClientCertBinding | null;
}

export async function verifyApiKey(store: Store, presented: string, now: Date): Promise<ApiPrincipal | null> {
  const m = /^sp_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(presented);
  if (!m) return null;
  const row = await store.read.getApiKey(m[1]);
  if (!row || row.revoked_at != null || (row.expires_at != null && Number(row.expires_at) <= now.getTime())) return null;
  if (!safeEqualHex(row.secret_hash, hashToken(m[2]))) return null;
  return { keyId: row.id, tenantId: row.tenant_id, scopes: row.scopes.split(' ').filter(Boolean), clientCert: bindingFromColumns(row.client_cert_sha256, row.client_ca_pem) };
}

/**
 * Verifies API keys with a small positive cache (keyed by the hash of the presented key, never the
 * key) so a busy integration does not cost a query per request. A key revoked on another node stops
 * working within `ttlMs`; on this node `forget` drops it at once. Unknown keys are never cached.
 */
export class ApiKeyVerifier {
  private readonly cache = new Map<string, { principal: ApiPrincipal; until: number }>();

  constructor(
    private readonly store: Store,
    private readonly clock: () => Date,
    private readonly ttlMs = 5_000,
  ) {}

  async verify(presented: string): Promise<ApiPrincipal | null> {
    const now = this.clock();
    const id = hashToken(presented);
    const hit = this.cache.get(id);
    if (hit && hit.until > now.getTime()) return hit.principal;
    const principal = await verifyApiKey(this.store, presented, now);
    if (principal) {
      if (this.cache.size >= 1_000) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(id, { principal, until: now.getTime() + this.ttlMs });
    } else this.cache.delete(id);
    return principal;
  }

  /** Drops every cached principal of this key (after revocation). */
  forget(keyId: string): void {
    for (const [k, v] of this.cache) if (v.principal.keyId === keyId) this.cache.delete(k);
  }
}
