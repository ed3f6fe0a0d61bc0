/**
 * The roster check. Key transparency proves that a device belongs to a person, not that the person
 * belongs in this conversation: a server could add a verified device of an outsider. So every leaf a
 * commit brings into the tree (and every leaf of a tree joined from a Welcome) must be a device of a
 * person on the conversation's roster as the server states it (`GET /v1/conversations/{id}`; the
 * archive member is on it when the tenant archives), fetched afresh when a person is not on the
 * cached one. The group's external sender (the server's key) may only ever be an external sender:
 * a leaf carrying its identity or its signature key is refused.
 *
 * The check runs on the state ts-mls produced, before it is stored: a refused commit or Welcome is
 * never followed.
 */
import type { ClientState } from 'ts-mls';
import { bytesEqual, fromUtf8 } from '../encoding.js';
import { DeviceVerificationError } from '../transparency/device-verifier.js';
import { deviceAt } from './application-decrypt.js';
import { parseDeviceIdentity } from './mls.js';
import type { Person } from './wire-types.js';

/** What the check needs (the client's trust manager and conversation view, or fakes in tests). */
export interface RosterGuardDeps {
  tenantId: string;
  /** Key transparency of a device with the key its leaf carries; throws DeviceVerificationError. */
  verify(deviceId: string, signatureKey: Uint8Array): Promise<{ person: Person }>;
  /** The roster as the server states it; `fresh` skips any cache. */
  roster(fresh: boolean): Promise<Person[]>;
  /** Whether an identity or signature key is the group's external sender (the server). */
  isExternalSender(identity: Uint8Array, signatureKey: Uint8Array): Promise<boolean>;
}

/** A leaf's credential identity (null when not basic) and signature key. */
export type Leaf = { identity: Uint8Array | null; signatureKey: Uint8Array };

function leaves(state: Pick<ClientState, 'ratchetTree'>): Map<number, Leaf> {
  const out = new Map<number, Leaf>();
  state.ratchetTree.forEach((n, i) => {
    if (n?.nodeType !== 'leaf') return;
    const c = n.leaf.credential;
    out.set(i, { identity: c.credentialType === 'basic' ? c.identity : null, signatureKey: n.leaf.signaturePublicKey });
  });
  return out;
}

/** The leaves of `after` that `before` does not hold at the same place with the same identity and key. */
export function newLeaves(after: Pick<ClientState, 'ratchetTree'>, before?: Pick<ClientState, 'ratchetTree'>): Leaf[] {
  const old = before ? leaves(before) : new Map<number, Leaf>();
  return [...leaves(after)].flatMap(([i, l]) => {
    const o = old.get(i);
    const same =
      o && o.identity && l.identity && bytesEqual(o.identity, l.identity) && bytesEqual(o.signatureKey, l.signatureKey);
    return same ? [] : [l];
  });
}

const samePerson = (a: Person, b: Person) => a.kind === b.kind && a.id === b.id;

/**
 * Throws DeviceVerificationError for the first new leaf of `after` (every leaf when `before` is
 * absent: a join) that is not a trusted device of a roster person, or that is the external sender.
 */
export function checkRoster(
  deps: RosterGuardDeps,
  after: Pick<ClientState, 'ratchetTree'>,
  before?: Pick<ClientState, 'ratchetTree'>,
): Promise<void> {
  return checkLeaves(deps, newLeaves(after, before));
}

/**
 * Throws DeviceVerificationError for the first of `leaves` (new members: a commit's, a Welcome's
 * tree, or the server's Add proposals) that is not a trusted device of a roster person, or that is
 * the external sender.
 */
export async function checkLeaves(deps: RosterGuardDeps, leaves: Leaf[]): Promise<void> {
  let roster: Person[] | null = null;
  let fresh = false;
  for (const leaf of leaves) {
    if (!leaf.identity) throw new DeviceVerificationError('?', 'a leaf has no basic credential');
    if (await deps.isExternalSender(leaf.identity, leaf.signatureKey))
      throw new DeviceVerificationError('external-sender', 'the server’s external sender key may not be a member');
    const id = parseDeviceIdentity(leaf.identity);
    if (!id || id.tenantId !== deps.tenantId)
      throw new DeviceVerificationError(safeText(leaf.identity), 'the leaf names no device of this tenant');
    const { person } = await deps.verify(id.deviceId, leaf.signatureKey);
    roster ??= await deps.roster(false);
    if (!roster.some((p) => samePerson(p, person)) && !fresh) {
      fresh = true;
      roster = await deps.roster(true);
    }
    if (!roster.some((p) => samePerson(p, person)))
      throw new DeviceVerificationError(id.deviceId, `its person (${person.kind}) is not on the conversation’s roster`);
  }
}

function safeText(b: Uint8Array): string {
  try {
    return fromUtf8(b).slice(0, 100);
  } catch {
    return '?';
  }
}

/**
 * Why the server's sender of a handshake event disagrees with its MLS sender, or null when they
 * agree: a member's leaf must name the device the server names; the server (external sender) must
 * be named as such; anything else (new-member senders) is refused.
 */
export function senderMismatch(
  tree: ClientState['ratchetTree'],
  mls: { senderType: string; leafIndex?: number },
  claimed: { deviceId: string } | { external: true },
): string | null {
  if (mls.senderType === 'member') {
    const device = deviceAt(tree, mls.leafIndex!);
    return device && 'deviceId' in claimed && claimed.deviceId === device
      ? null
      : 'the server names another sender than the MLS message';
  }
  if (mls.senderType === 'external')
    return 'external' in claimed ? null : 'the server names a device as the sender of the external sender’s proposal';
  return `a ${mls.senderType} sender is not accepted`;
}
