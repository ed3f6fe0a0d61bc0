import { AppError } from '../core/errors.js';
import type { RequestContext } from '../core/context.js';
import type { Store, StoreTx } from '../store/store.js';
import type { EnvelopeCipher } from '../crypto/envelope-cipher.js';
import type { ConversationRow } from '../store/repositories/conversation-repository.js';
import type { AttachmentStore, DeviceDirectory, MessageFeed, MessagingDevice, Person } from './messaging-types.js';
import type { ExternalSenders } from './external-sender.js';

/** What the conversations part is built on. */
export interface ConversationDeps {
  store: Store;
  cipher: EnvelopeCipher;
  clock: () => Date;
  newId: () => string;
  devices: DeviceDirectory;
  attachments: AttachmentStore;
  /** Live delivery; a no-op until the live part is wired. */
  feed: MessageFeed;
  externalSenders: ExternalSenders;
  /** Pseudonymous patient reference for audit entries (core/context.ts patientRef). */
  patientRef: (tenantId: string, patientId: string) => string;
}

/** Who calls: a person, with what audit entries name. */
export interface Caller extends RequestContext {
  person: Person;
  /** Patient accounts: their patient record. */
  patientId?: string;
  /** Staff: their roles (a clinician needs the patient relationship). */
  roles: readonly string[];
}

/** A feed that tells nobody (until live delivery is wired). */
export const NO_FEED: MessageFeed = { published() {} };

/** The caller's own active messaging device, else 403 SP_MESSAGING_DEVICE_FORBIDDEN. */
export async function callerDevice(
  tx: StoreTx,
  deps: Pick<ConversationDeps, 'devices'>,
  c: Caller,
  deviceId: string,
): Promise<MessagingDevice> {
  const d = await deps.devices.device(tx, c.tenantId, deviceId);
  if (!d || d.status !== 'active' || d.person.kind !== c.person.kind || d.person.id !== c.person.id)
    throw new AppError('SP_MESSAGING_DEVICE_FORBIDDEN');
  return d;
}

/** The conversation when the caller is on its roster now; else 404 (never 403: that would confirm it exists). */
export async function memberConversation(tx: StoreTx, c: Caller, id: string): Promise<ConversationRow> {
  const conv = await tx.conversations.get(c.tenantId, id);
  if (!conv) throw new AppError('SP_CONVERSATION_NOT_FOUND');
  const members = await tx.conversations.members(c.tenantId, id);
  if (!members.some((m) => m.removed_at === null && m.person_kind === c.person.kind && m.person_id === c.person.id))
    throw new AppError('SP_CONVERSATION_NOT_FOUND');
  return conv;
}

/**
 * Locks the conversation row for the rest of the transaction (a no-op UPDATE: PostgreSQL holds its
 * row lock until COMMIT), so roster changes, commits and messages of one conversation queue up;
 * then reads it again. 404 when it is gone.
 */
export async function lockConversation(tx: StoreTx, tenantId: string, id: string): Promise<ConversationRow> {
  if ((await tx.conversations.advance(tenantId, id, 0, {})) === null) throw new AppError('SP_CONVERSATION_NOT_FOUND');
  return (await tx.conversations.get(tenantId, id))!;
}

/** Whether the person is an active staff user or an active patient account of the tenant. */
export async function personExists(tx: StoreTx, tenantId: string, p: Person): Promise<boolean> {
  if (p.kind === 'user') return (await tx.access.userForAccess(tenantId, p.id))?.status === 'active';
  return (await tx.patientAccounts.byId(tenantId, p.id))?.status === 'active';
}

/** The roster of a patient conversation: the patient's care team and the patient's active accounts. */
export async function patientRoster(tx: StoreTx, tenantId: string, patientId: string): Promise<Person[]> {
  const team = await tx.access.listCareTeam(tenantId, patientId);
  const users: Person[] = [];
  for (const t of team)
    if ((await tx.access.userForAccess(tenantId, t.user_id))?.status === 'active')
      users.push({ kind: 'user', id: t.user_id });
  const accounts = (await tx.patientAccounts.ofPatient(tenantId, patientId))
    .filter((a) => a.status === 'active')
    .map((a): Person => ({ kind: 'patient', id: a.id }));
  return [...users, ...accounts];
}

export const personKey = (p: { kind: string; id: string }) => `${p.kind}:${p.id}`;

/** Until the attachments part is wired: a message naming an attachment is refused, nothing to delete. */
export const NO_ATTACHMENTS: AttachmentStore = {
  async attach(_tx, _tenantId, _conversationId, _seq, ids) {
    if (ids.length) throw new AppError('SP_MESSAGING_ATTACHMENT_NOT_FOUND');
  },
  async deleteForMessages() {
    return 0;
  },
};
