import { randomBytes } from 'node:crypto';
import type { Store } from '../store/store.js';
import { hashToken, safeEqualHex } from '../crypto/tokens.js';

/**
 * API keys look like `sp_<id>_<secret>`: the id finds the row, the 256-bit secret is compared by
 * SHA-256 hash in constant time. High-entropy secrets need no password hashing.
 */
export async function createApiKey(store: Store, tenantId: string, name: string, scopes: string[], now: Date): Promise<string> {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  await store.transaction(async (tx) => {
    await tx.insertApiKey({ id, tenant_id: tenantId, name, secret_hash: hashToken(secret), scopes: scopes.join(' '), created_at: now.getTime(), expires_at: null, revoked_at: null, last_used_at: null });
    await tx.appendAudit({ tenantId, at: now, actor: 'system:bootstrap', action: 'api_key.created', outcome: 'success', targetType: 'api_key', targetId: id, details: { scopes } });
  });
  await store.durable();
  return `sp_${id}_${secret}`;
}

export interface ApiPrincipal {
  keyId: string;
  tenantId: string;
  scopes: string[];
}

export async function verifyApiKey(store: Store, presented: string, now: Date): Promise<ApiPrincipal | null> {
  const m = /^sp_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(presented);
  if (!m) return null;
  const row = await store.read.getApiKey(m[1]);
  if (!row || row.revoked_at != null || (row.expires_at != null && Number(row.expires_at) <= now.getTime())) return null;
  if (!safeEqualHex(row.secret_hash, hashToken(m[2]))) return null;
  return { keyId: row.id, tenantId: row.tenant_id, scopes: row.scopes.split(' ') };
}

/**
 * Verifies API keys with a small positive cache (keyed by the hash of the presented key, never the
 * key) so a busy integration does not cost a query per request. A revoked or expired key stops
 * working within `ttlMs`; unknown keys are never cached, so a new key works at once.
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
}
