import { randomBytes } from 'node:crypto';
import type { Store, StoreTx } from '../store/store.js';
import type { ApiKeyRow } from '../store/rows.js';
import { hashToken, safeEqualHex } from '../crypto/tokens.js';
import { AppError } from '../core/errors.js';
import { API_KEY_SCOPES, smartScopePermissions, type ApiKeyScope } from './permissions.js';
import { bindingFromColumns, type ClientCertBinding } from './client-cert.js';

/** Scopes an API key may hold (auth/permissions.ts); none means an integration key. */
export const API_KEY_SCOPE_NAMES = Object.keys(API_KEY_SCOPES) as ApiKeyScope[];

/** Longest API-key lifetime a caller may ask for (two years); keys without an expiry remain possible. */
export const MAX_API_KEY_DAYS = 730;
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/**
 * Checks API-key scopes: key scopes (`admin`, `integration`, `audit`, `erasure`) or SMART system
 * scopes that grant something (`system/Patient.rs`); SP_APIKEY_INVALID_SCOPE otherwise.
 */
export function checkApiKeyScopes(scopes: readonly string[]): string[] {
  const ok = (s: string) =>
    (API_KEY_SCOPE_NAMES as readonly string[]).includes(s) || (smartScopePermissions(s)?.length ?? 0) > 0;
  if (scopes.length > 20 || !scopes.every(ok))
    throw new AppError(
      'SP_APIKEY_INVALID_SCOPE',
      `expected scopes from ${API_KEY_SCOPE_NAMES.join(', ')} or SMART system scopes such as system/Patient.rs`,
    );
  return [...new Set(scopes)];
}

/** `expiresInDays` as an absolute time; SP_APIKEY_INVALID_EXPIRY outside 1..MAX_API_KEY_DAYS. */
export function apiKeyExpiry(expiresInDays: number | undefined, now: Date): number | null {
  if (expiresInDays === undefined) return null;
  if (!Number.isInteger(expiresInDays) || expiresInDays < 1 || expiresInDays > MAX_API_KEY_DAYS)
    throw new AppError('SP_APIKEY_INVALID_EXPIRY');
  return now.getTime() + expiresInDays * DAY_MS;
}

export interface IssueApiKeyInput {
  tenantId: string;
  name: string;
  scopes: string[];
  /** mTLS: requests with this key must present this certificate (or one issued by this CA). */
  clientCert?: ClientCertBinding | null;
  /** Days until the key stops working (1..730); none: until revoked. */
  expiresInDays?: number;
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
export async function issueApiKey(
  store: Store,
  input: IssueApiKeyInput,
  now: Date,
): Promise<{ id: string; key: string }> {
  const made = await store.transaction((tx) => issueApiKeyIn(tx, input, now));
  await store.durable();
  return made;
}

/** `issueApiKey` inside the caller's transaction (a new tenant and its first key commit together). */
export async function issueApiKeyIn(
  tx: StoreTx,
  input: IssueApiKeyInput,
  now: Date,
): Promise<{ id: string; key: string }> {
  const scopes = checkApiKeyScopes(input.scopes);
  const expiresAt = apiKeyExpiry(input.expiresInDays, now);
  const made = newKey();
  const b = input.clientCert ?? null;
  await tx.apiKeys.insert(
    keyRow(made, { tenantId: input.tenantId, name: input.name, scopes, binding: b, expiresAt, rotatedFrom: null }, now),
  );
  // Public fingerprints only: enough to tell later which certificate or CA the key was bound to.
  const clientCert = b
    ? b.kind === 'fingerprint'
      ? `sha256:${b.fingerprintSha256}`
      : `ca-sha256:${b.caFingerprintSha256}`
    : null;
  await tx.audit.append({
    tenantId: input.tenantId,
    at: now,
    actor: input.actor,
    action: 'api_key.created',
    outcome: 'success',
    targetType: 'api_key',
    targetId: made.id,
    requestId: input.requestId,
    sourceIp: input.sourceIp,
    details: { scopes, clientCert, expiresAt: expiresAt == null ? null : new Date(expiresAt).toISOString() },
  });
  return { id: made.id, key: made.key };
}

/** A fresh key: 64-bit id, 256-bit secret; only the secret's hash is ever stored. */
function newKey(): { id: string; secret: string; key: string } {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, secret, key: `sp_${id}_${secret}` };
}

function keyRow(
  k: { id: string; secret: string },
  o: {
    tenantId: string;
    name: string;
    scopes: string[];
    binding: ClientCertBinding | null;
    expiresAt: number | null;
    rotatedFrom: string | null;
  },
  now: Date,
): ApiKeyRow {
  const b = o.binding;
  return {
    id: k.id,
    tenant_id: o.tenantId,
    name: o.name,
    secret_hash: hashToken(k.secret),
    scopes: o.scopes.join(' '),
    created_at: now.getTime(),
    expires_at: o.expiresAt,
    revoked_at: null,
    last_used_at: null,
    client_cert_sha256: b?.kind === 'fingerprint' ? b.fingerprintSha256 : null,
    client_ca_pem: b?.kind === 'ca' ? b.caPem : null,
    rotated_from: o.rotatedFrom,
  };
}

export interface RotateApiKeyInput {
  /** How long the old key keeps working (0: stops at once). */
  graceHours: number;
  /** Lifetime of the new key; default: the old key's lifetime (none if it had none). */
  expiresInDays?: number;
}

/**
 * Replaces a live key by a new one with the same name, scopes and client-certificate binding
 * (`rotated_from` = the old id); the old key's life ends `graceHours` from now (or sooner if it
 * already did). SP_APIKEY_NOT_FOUND for an unknown, revoked or expired key, SP_APIKEY_ALREADY_ROTATED
 * when it already has a successor. One transaction with its audit entry, durable before it resolves.
 */
export async function rotateApiKey(
  store: Store,
  tenantId: string,
  id: string,
  input: RotateApiKeyInput,
  ctx: { actor: string; requestId?: string; sourceIp?: string },
  now: Date,
): Promise<{ id: string; key: string }> {
  const made = newKey();
  const t = now.getTime();
  const oldUntil = t + input.graceHours * HOUR_MS;
  await store.transaction(async (tx) => {
    const old = await tx.apiKeys.get(id);
    // Shortening first takes the old row's lock (PostgreSQL), so a concurrent rotation of the same
    // key waits here and then sees the successor this one inserted.
    if (!old || old.tenant_id !== tenantId) throw new AppError('SP_APIKEY_NOT_FOUND');
    const live = await tx.apiKeys.shortenLife(tenantId, id, oldUntil, t);
    if (await tx.apiKeys.successor(tenantId, id)) throw new AppError('SP_APIKEY_ALREADY_ROTATED');
    if (!live) throw new AppError('SP_APIKEY_NOT_FOUND');
    const expiresAt =
      input.expiresInDays !== undefined
        ? apiKeyExpiry(input.expiresInDays, now)
        : old.expires_at == null
          ? null
          : t + (Number(old.expires_at) - Number(old.created_at));
    await tx.apiKeys.insert(
      keyRow(
        made,
        {
          tenantId,
          name: old.name,
          scopes: old.scopes.split(' ').filter(Boolean),
          binding: bindingFromColumns(old.client_cert_sha256, old.client_ca_pem),
          expiresAt,
          rotatedFrom: id,
        },
        now,
      ),
    );
    await tx.audit.append({
      tenantId,
      at: now,
      actor: ctx.actor,
      action: 'api_key.rotated',
      outcome: 'success',
      targetType: 'api_key',
      targetId: made.id,
      requestId: ctx.requestId,
      sourceIp: ctx.sourceIp,
      details: {
        rotatedFrom: id,
        graceHours: input.graceHours,
        oldExpiresAt: new Date(
          Math.min(oldUntil, old.expires_at == null ? oldUntil : Number(old.expires_at)),
        ).toISOString(),
        expiresAt: expiresAt == null ? null : new Date(expiresAt).toISOString(),
      },
    });
  });
  await store.durable();
  return { id: made.id, key: made.key };
}

/** The first key of an installation (kept for the composition root). */
export async function createApiKey(
  store: Store,
  tenantId: string,
  name: string,
  scopes: string[],
  now: Date,
): Promise<string> {
  return (await issueApiKey(store, { tenantId, name, scopes, actor: 'system:bootstrap' }, now)).key;
}

/** Revokes a key and records it in the same transaction; SP_APIKEY_NOT_FOUND when unknown or already revoked. */
export async function revokeApiKey(
  store: Store,
  tenantId: string,
  id: string,
  ctx: { actor: string; requestId?: string; sourceIp?: string },
  now: Date,
): Promise<void> {
  await store.transaction(async (tx) => {
    if (!(await tx.apiKeys.revoke(tenantId, id, now.getTime()))) throw new AppError('SP_APIKEY_NOT_FOUND');
    await tx.audit.append({
      tenantId,
      at: now,
      actor: ctx.actor,
      action: 'api_key.revoked',
      outcome: 'success',
      targetType: 'api_key',
      targetId: id,
      requestId: ctx.requestId,
      sourceIp: ctx.sourceIp,
    });
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
    rotatedFrom: row.rotated_from,
    clientCert: b
      ? b.kind === 'fingerprint'
        ? { fingerprintSha256: b.fingerprintSha256 }
        : { issuerCaSha256: b.caFingerprintSha256 }
      : null,
  };
}

export interface ApiPrincipal {
  keyId: string;
  tenantId: string;
  scopes: string[];
  /** Null for keys usable without a client certificate. */
  clientCert: ClientCertBinding | null;
  /** Epoch ms after which the key is refused; null: until revoked. */
  expiresAt: number | null;
}

export async function verifyApiKey(store: Store, presented: string, now: Date): Promise<ApiPrincipal | null> {
  const m = /^sp_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(presented);
  if (!m) return null;
  const row = await store.read.apiKeys.get(m[1]);
  if (!row || row.revoked_at != null || (row.expires_at != null && Number(row.expires_at) <= now.getTime()))
    return null;
  if (!safeEqualHex(row.secret_hash, hashToken(m[2]))) return null;
  return {
    keyId: row.id,
    tenantId: row.tenant_id,
    scopes: row.scopes.split(' ').filter(Boolean),
    clientCert: bindingFromColumns(row.client_cert_sha256, row.client_ca_pem),
    expiresAt: row.expires_at == null ? null : Number(row.expires_at),
  };
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
      // Never cached past the key's own expiry: an expired key is refused on the dot.
      this.cache.set(id, { principal, until: Math.min(now.getTime() + this.ttlMs, principal.expiresAt ?? Infinity) });
    } else this.cache.delete(id);
    return principal;
  }

  /** Drops every cached principal of this key (after revocation). */
  forget(keyId: string): void {
    for (const [k, v] of this.cache) if (v.principal.keyId === keyId) this.cache.delete(k);
  }
}
