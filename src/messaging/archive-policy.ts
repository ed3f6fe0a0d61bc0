import type { StoreTx } from '../store/store.js';
import { samePerson, type Person } from './messaging-types.js';

/**
 * Retention for compliance: when a tenant's messaging policy has `archive: true`, its archive member
 * (the user of role `archiver` that `sealpost archiver init` creates, docs/archiver.md) joins the
 * roster of every NEW conversation of the tenant, like any other person: its device is a real MLS
 * member, registered in the transparency log and shown in the roster, so nobody is archived by a
 * member they cannot see. Conversations created while the policy was off stay without it.
 */

/** The archiver role: a person holding it is the tenant's archive member. */
export const ARCHIVER_ROLE = 'archiver';

/**
 * Where the tenant's `archive` switch of the messaging policy is kept: an installation setting per
 * tenant (`messaging.archive:<tenantId>` = `on` | `off`), so the switch needs no column of its own.
 */
export const archiveSettingName = (tenantId: string) => `messaging.archive:${tenantId}`;

/** Whether the tenant's messaging policy has `archive` on (off when never set). */
export async function archiveOn(tx: Pick<StoreTx, 'settings'>, tenantId: string): Promise<boolean> {
  return (await tx.settings.get(archiveSettingName(tenantId))) === 'on';
}

/** Turns the tenant's `archive` switch on or off, in `tx` (the caller audits the policy change). */
export async function setArchive(tx: Pick<StoreTx, 'settings'>, tenantId: string, on: boolean): Promise<void> {
  await tx.settings.put(archiveSettingName(tenantId), on ? 'on' : 'off');
}

/**
 * The people to add to the roster of a conversation being created in `tx`: the tenant's active
 * archiver when the policy's `archive` is on, else none. The conversations part calls it when it
 * builds a new roster (direct, group and patient threads alike) and marks these members
 * `archive: true` in the roster view.
 */
export async function archiveMembers(tx: StoreTx, tenantId: string): Promise<Person[]> {
  if (!(await archiveOn(tx, tenantId))) return [];
  return (await tx.users.activeWithRole(tenantId, ARCHIVER_ROLE))
    .filter((u) => u.roles === ARCHIVER_ROLE)
    .map((u) => ({ kind: 'user' as const, id: u.id }));
}

/** `roster` with the tenant's archive members added (once: one already listed is not added again). */
export async function withArchiveMembers(tx: StoreTx, tenantId: string, roster: Person[]): Promise<Person[]> {
  const extra = (await archiveMembers(tx, tenantId)).filter((a) => !roster.some((p) => samePerson(p, a)));
  return [...roster, ...extra];
}

/** Whether `person` is an archive member of the tenant (for the `archive: true` flag of roster views). */
export async function isArchiveMember(tx: StoreTx, tenantId: string, person: Person): Promise<boolean> {
  if (person.kind !== 'user') return false;
  const u = await tx.users.byId(tenantId, person.id);
  return u?.roles === ARCHIVER_ROLE;
}
