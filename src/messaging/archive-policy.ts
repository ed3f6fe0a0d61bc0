import type { StoreTx } from '../store/store.js';
import type { Person } from './messaging-types.js';

/**
 * Retention for compliance: when a tenant's messaging policy has `archive: true`, its archive member
 * (the user of role `archiver` that `sealpost archiver init` creates, docs/archiver.md) joins the
 * roster of every NEW conversation of the tenant, like any other person: its device is a real MLS
 * member, registered in the transparency log and shown in the roster, so nobody is archived by a
 * member they cannot see. Conversations created while the policy was off stay without it.
 */

/** The archiver role: a person holding it is the tenant's archive member. */
export const ARCHIVER_ROLE = 'archiver';

/** True when `policy` (a `messaging_policies` row, or none) asks for the archive member. */
export function archiveOn(policy: { archive?: number | boolean | null } | undefined): boolean {
  return Boolean(policy?.archive);
}

/**
 * The people to add to the roster of a conversation being created in `tx`: the tenant's active
 * archiver when the policy's `archive` is on, else none. The conversations part calls it when it
 * builds a new roster (direct, group and patient threads alike) and marks these members
 * `archive: true` in the roster view.
 */
export async function archiveMembers(tx: StoreTx, tenantId: string): Promise<Person[]> {
  const policy = (await tx.messagingPolicies.policy(tenantId)) as { archive?: number | boolean | null } | undefined;
  if (!archiveOn(policy)) return [];
  return (await tx.users.activeWithRole(tenantId, ARCHIVER_ROLE))
    .filter((u) => u.roles === ARCHIVER_ROLE)
    .map((u) => ({ kind: 'user' as const, id: u.id }));
}

/** Whether `person` is an archive member of the tenant (for the `archive: true` flag of roster views). */
export async function isArchiveMember(tx: StoreTx, tenantId: string, person: Person): Promise<boolean> {
  if (person.kind !== 'user') return false;
  const u = await tx.users.byId(tenantId, person.id);
  return u?.roles === ARCHIVER_ROLE;
}
