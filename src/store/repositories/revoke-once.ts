import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/** Tables whose rows are revoked by setting `revoked_at` once (keys, clients, signers, grants). */
type Revocable = 'api_keys' | 'oauth_clients' | 'signers' | 'break_glass_grants';

/**
 * Sets `revoked_at` on the tenant's row `id` unless it is already set; true when this call revoked
 * it. One statement, so two concurrent revocations agree on which one did it (one audit entry).
 * `liveUntil`: also require `expires_at > liveUntil` (an expired grant is not "revoked" again).
 */
export async function revokeOnce(
  db: Kysely<Database>,
  table: Revocable,
  tenantId: string,
  id: string,
  now: number,
  liveUntil?: number,
): Promise<boolean> {
  // The tables share these columns; Kysely cannot see that through a union of table names.
  const t = db as unknown as Kysely<
    Record<Revocable, { tenant_id: string; id: string; revoked_at: number | null; expires_at: number | null }>
  >;
  let q = t
    .updateTable(table)
    .set({ revoked_at: now })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('revoked_at', 'is', null);
  if (liveUntil !== undefined) q = q.where('expires_at', '>', liveUntil);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
