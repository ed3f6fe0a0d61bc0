import type { Store } from '../store/store.js';
import { AppError } from '../core/errors.js';
import { issueApiKeyIn } from './api-keys.js';

/** Tenant ids appear in every row and audit entry: short, lower-case, no PHI. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * Creates a tenant and its first administrator API key (admin scope), shown once. Every row of
 * Sealpost carries its tenant and every query is scoped by the caller's tenant, so the new tenant
 * sees nothing of the others (ASVS 8.4.1). 409 SP_TENANT_EXISTS when the id is taken (nothing
 * changes); 400 SP_TENANT_INVALID_ID for a malformed id or an empty name.
 */
export async function createTenant(
  store: Store,
  id: string,
  name: string,
  now: Date,
  actor = 'system:cli',
): Promise<{ tenantId: string; apiKeyId: string; apiKey: string }> {
  const trimmed = name.trim();
  if (!TENANT_ID_PATTERN.test(id) || trimmed.length === 0 || trimmed.length > 200)
    throw new AppError('SP_TENANT_INVALID_ID');
  // The tenant and its first key commit together: a tenant without a key could never be administered.
  const { id: apiKeyId, key } = await store.transaction(async (tx) => {
    if (await tx.tenants.exists(id)) throw new AppError('SP_TENANT_EXISTS');
    await tx.access.insertTenant(id, trimmed, now.getTime());
    // The name is the organisation's, not a person's: still, ids only on the record.
    await tx.audit.append({
      tenantId: id,
      at: now,
      actor,
      action: 'tenant.created',
      outcome: 'success',
      targetType: 'tenant',
      targetId: id,
    });
    return issueApiKeyIn(tx, { tenantId: id, name: 'first administrator key', scopes: ['admin'], actor }, now);
  });
  await store.durable();
  return { tenantId: id, apiKeyId, apiKey: key };
}
