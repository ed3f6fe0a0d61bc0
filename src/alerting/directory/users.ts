import { AppError } from '../../core/errors.js';
import type { StoreTx } from '../../store/store.js';

/**
 * Statuses of a user who can be told of an alert. `locked` is a sign-in lockout after failed
 * passwords, not a departure: leaving a locked user out would let anyone who types a nurse's
 * e-mail address wrong five times silence her pages. `invited` is a new colleague who has not
 * enrolled yet: put on a schedule, she is on call, and skipping her would leave the shift silently
 * unstaffed; a nudge carries no PHI and she can answer it by SMS reply (the details need her to
 * enrol and sign in). Only `disabled` users are never reached.
 */
export const REACHABLE_STATUSES: ReadonlySet<string> = new Set(['active', 'locked', 'invited']);

/** 400 SP_DIRECTORY_USER_UNKNOWN unless every id is a user of the tenant (any status). */
export async function requireUsers(tx: StoreTx, tenantId: string, ids: readonly string[]): Promise<void> {
  const known = await tx.onCall.userStatuses(tenantId, ids);
  if (ids.some((id) => !known.has(id))) throw new AppError('SP_DIRECTORY_USER_UNKNOWN');
}

/** The reachable users among `ids`, in order, without duplicates. */
export async function reachable(tx: StoreTx, tenantId: string, ids: readonly string[]): Promise<string[]> {
  const known = await tx.onCall.userStatuses(tenantId, ids);
  return [...new Set(ids)].filter((id) => REACHABLE_STATUSES.has(known.get(id) ?? ''));
}
