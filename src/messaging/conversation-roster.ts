import type { Proposal } from 'ts-mls';
import { audit, type RequestContext } from '../core/context.js';
import type { StoreTx } from '../store/store.js';
import type { ConversationRow } from '../store/repositories/conversation-repository.js';
import { parseDeviceIdentity, type CipherSuiteName, type Person } from './messaging-types.js';
import { patientRoster, personKey, type ConversationDeps } from './conversation-access.js';
import { appendEvents } from './conversation-log.js';
import { isArchiveMember } from './archive-policy.js';
import { decodeMessage } from './mls-wire.js';

/**
 * Roster changes the server makes itself and proposes to the group as its external sender: a
 * removed person's (or revoked) devices stop being served at once and get an MLS Remove proposal
 * each; the devices of a person the care team gained get an Add proposal each (one claimed key
 * package per device). A member commits them; the server never commits for the group.
 */

/** Closes the devices' windows now and appends a Remove proposal for each that holds a leaf. Returns the last seq appended. */
export async function removeDevices(
  tx: StoreTx,
  deps: ConversationDeps,
  conv: ConversationRow,
  deviceIds: readonly string[],
  now: number,
): Promise<number | null> {
  const rows = (await tx.conversations.devices(conv.tenant_id, conv.id)).filter(
    (d) => deviceIds.includes(d.device_id) && d.until_seq === null,
  );
  if (!rows.length) return null;
  for (const d of rows) await tx.conversations.closeDevice(conv.tenant_id, conv.id, d.device_id, conv.latest_seq);
  const leaves = rows.filter((d) => d.leaf_index !== null).map((d) => d.leaf_index!);
  if (!conv.group_info || !leaves.length) return null;
  const proposals: Proposal[] = leaves.map((l) => ({ proposalType: 'remove', remove: { removed: l } }));
  return appendProposals(tx, deps, conv, proposals, now);
}

/** Claims a key package for each active device of `persons` and appends an Add proposal for each. */
export async function proposeAdds(
  tx: StoreTx,
  deps: ConversationDeps,
  conv: ConversationRow,
  persons: readonly Person[],
  now: number,
  skip: ReadonlySet<string> = new Set(),
): Promise<number | null> {
  if (!conv.group_info) return null;
  const ids: string[] = [];
  for (const p of persons)
    for (const d of await deps.devices.activeDevices(tx, conv.tenant_id, p))
      if (!skip.has(d.deviceId)) ids.push(d.deviceId);
  if (!ids.length) return null;
  const claimed = await deps.devices.claimKeyPackages(tx, conv.tenant_id, ids, conv.cipher_suite as CipherSuiteName);
  const proposals: Proposal[] = [];
  for (const c of claimed) {
    const m = decodeMessage(c.keyPackage);
    // The devices part verified the package when it was uploaded; anything else is skipped, not proposed.
    if (m?.wireformat === 'mls_key_package') proposals.push({ proposalType: 'add', add: { keyPackage: m.keyPackage } });
  }
  return appendProposals(tx, deps, conv, proposals, now);
}

async function appendProposals(
  tx: StoreTx,
  deps: ConversationDeps,
  conv: ConversationRow,
  proposals: Proposal[],
  now: number,
): Promise<number | null> {
  if (!proposals.length) return null;
  const suite = conv.cipher_suite as CipherSuiteName;
  const msgs = await deps.externalSenders.propose(tx, conv.tenant_id, suite, conv.group_info!, proposals);
  const seqs = await appendEvents(
    tx,
    conv.tenant_id,
    conv.id,
    msgs.map((data) => ({ kind: 'proposal' as const, epoch: conv.epoch, senderDeviceId: null, data })),
    now,
    { epoch: conv.epoch },
  );
  conv.latest_seq = seqs.length ? seqs[seqs.length - 1] : conv.latest_seq;
  return seqs.length ? seqs[seqs.length - 1] : null;
}

/**
 * Brings a patient conversation's roster in line with the patient's care team and accounts (the
 * row must be locked by the caller). Returns the last seq appended, or null when nothing changed.
 */
export async function syncPatientRoster(
  tx: StoreTx,
  deps: ConversationDeps,
  ctx: RequestContext,
  conv: ConversationRow,
): Promise<number | null> {
  if (conv.kind !== 'patient' || !conv.patient_id) return null;
  const now = deps.clock();
  const want = await patientRoster(tx, conv.tenant_id, conv.patient_id);
  const wantKeys = new Set(want.map(personKey));
  const live = (await tx.conversations.members(conv.tenant_id, conv.id)).filter((m) => m.removed_at === null);
  const liveKeys = new Set(live.map((m) => personKey({ kind: m.person_kind, id: m.person_id })));
  const added = want.filter((p) => !liveKeys.has(personKey(p)));
  const removed: typeof live = [];
  // The archive member is no care-team member, and stays (docs/archiver.md).
  for (const m of live.filter((x) => !wantKeys.has(personKey({ kind: x.person_kind, id: x.person_id }))))
    if (!(await isArchiveMember(tx, conv.tenant_id, { kind: m.person_kind as Person['kind'], id: m.person_id })))
      removed.push(m);
  if (!added.length && !removed.length) return null;
  const patientRef = deps.patientRef(conv.tenant_id, conv.patient_id);
  let last: number | null = null;
  for (const m of removed) {
    await tx.conversations.removeMember(conv.tenant_id, conv.id, m.person_kind, m.person_id, now.getTime());
    await audit(tx, ctx, now, {
      action: 'conversation.member.removed',
      targetType: 'conversation',
      targetId: conv.id,
      patientRef,
      details: { personKind: m.person_kind, personId: m.person_id, reason: 'care-team' },
    });
  }
  const gone = (await tx.conversations.devices(conv.tenant_id, conv.id))
    .filter((d) => removed.some((m) => m.person_kind === d.person_kind && m.person_id === d.person_id))
    .map((d) => d.device_id);
  last = (await removeDevices(tx, deps, conv, gone, now.getTime())) ?? last;
  for (const p of added) {
    await tx.conversations.addMember({
      tenant_id: conv.tenant_id,
      conversation_id: conv.id,
      person_kind: p.kind,
      person_id: p.id,
      added_at: now.getTime(),
      removed_at: null,
    });
    await audit(tx, ctx, now, {
      action: 'conversation.member.added',
      targetType: 'conversation',
      targetId: conv.id,
      patientRef,
      details: { personKind: p.kind, personId: p.id, reason: 'care-team' },
    });
  }
  last = (await proposeAdds(tx, deps, conv, added, now.getTime())) ?? last;
  return last;
}

/** How often a device the commits keep leaving out is proposed, within the recent log (RECENT_EVENTS). */
export const MAX_ADD_PROPOSALS = 2;
const RECENT_EVENTS = 1000;

/**
 * The devices the server proposed to add (its own external Add proposals still in the recent log),
 * with how many times, and which of them at `epoch`. The log is the record of what was proposed:
 * nothing else needs storing, and a purged or old proposal no longer counts.
 */
async function proposedAdds(tx: StoreTx, conv: ConversationRow, epoch: number) {
  const times = new Map<string, number>();
  const now = new Set<string>();
  const after = Math.max(0, conv.latest_seq - RECENT_EVENTS);
  for (const e of await tx.conversationEvents.range(conv.tenant_id, conv.id, after, null, RECENT_EVENTS)) {
    if (e.kind !== 'proposal' || e.sender_device_id !== null || !e.data) continue;
    const m = decodeMessage(e.data);
    if (m?.wireformat !== 'mls_public_message' || m.publicMessage.content.contentType !== 'proposal') continue;
    const pr = m.publicMessage.content.proposal;
    if (pr.proposalType !== 'add') continue;
    const cred = pr.add.keyPackage.leafNode.credential;
    const ident = cred.credentialType === 'basic' ? parseDeviceIdentity(new TextDecoder().decode(cred.identity)) : null;
    if (!ident || ident.tenantId !== conv.tenant_id) continue;
    times.set(ident.deviceId, (times.get(ident.deviceId) ?? 0) + 1);
    if (e.epoch === epoch) now.add(ident.deviceId);
  }
  return { times, now };
}

/**
 * After a commit of a patient conversation: the active devices of roster people that are not in
 * the group (an Add proposal the commit left out, a device registered since) are proposed again at
 * the new epoch, each claiming one key package. So that commits which keep leaving a device out
 * do not drain its packages, a device is proposed at most once per epoch and at most
 * MAX_ADD_PROPOSALS times within the recent log; after that it waits until it is committed, its
 * person rejoins the roster, or its old proposals age out of the recent log. `conv` is the row as
 * the commit left it.
 */
export async function proposeMissingDevices(
  tx: StoreTx,
  deps: ConversationDeps,
  conv: ConversationRow,
  now: number,
): Promise<number | null> {
  if (conv.kind !== 'patient' || !conv.group_info) return null;
  const inGroup = new Set(
    (await tx.conversations.devices(conv.tenant_id, conv.id))
      .filter((d) => d.until_seq === null)
      .map((d) => d.device_id),
  );
  const proposed = await proposedAdds(tx, conv, conv.epoch);
  const skip = new Set(inGroup);
  for (const [deviceId, n] of proposed.times) if (n >= MAX_ADD_PROPOSALS) skip.add(deviceId);
  for (const deviceId of proposed.now) skip.add(deviceId);
  const missing: Person[] = [];
  for (const m of await tx.conversations.members(conv.tenant_id, conv.id)) {
    if (m.removed_at !== null) continue;
    const person: Person = { kind: m.person_kind as Person['kind'], id: m.person_id };
    const devices = await deps.devices.activeDevices(tx, conv.tenant_id, person);
    if (devices.some((d) => !skip.has(d.deviceId))) missing.push(person);
  }
  return proposeAdds(tx, deps, conv, missing, now, skip);
}

/**
 * Brings a patient conversation's roster in line with the care team in its own transaction (so a
 * refused commit that follows does not undo it), and tells live delivery. No-op for other kinds.
 * With `caller` (a request, not the sweep): writes nothing unless the caller is on the roster or on
 * the roster the sync would make (a new care-team member), so an outsider who knows an id cannot
 * make the server write; the route's own membership check answers them 404 afterwards.
 */
export async function syncPatientConversation(
  deps: ConversationDeps,
  ctx: RequestContext,
  tenantId: string,
  id: string,
  caller?: Person,
): Promise<void> {
  const peek = await deps.store.read.conversations.get(tenantId, id);
  if (!peek || peek.kind !== 'patient' || !peek.patient_id) return;
  // Read first: most calls find the roster in line and write nothing.
  const want = (await patientRoster(deps.store.read, tenantId, peek.patient_id)).map(personKey).sort();
  const live = (await deps.store.read.conversations.members(tenantId, id))
    .filter((m) => m.removed_at === null)
    .map((m) => personKey({ kind: m.person_kind, id: m.person_id }))
    .sort();
  if (want.join('\n') === live.join('\n')) return;
  if (caller && !want.includes(personKey(caller)) && !live.includes(personKey(caller))) return;
  const last = await deps.store.transaction(async (tx) => {
    const conv = await tx.conversations.get(tenantId, id);
    if (!conv) return null;
    if ((await tx.conversations.advance(tenantId, id, 0, {})) === null) return null;
    return syncPatientRoster(tx, deps, ctx, (await tx.conversations.get(tenantId, id))!);
  });
  if (last !== null) {
    await deps.store.durable();
    deps.feed.published(tenantId, id, last);
  }
}
