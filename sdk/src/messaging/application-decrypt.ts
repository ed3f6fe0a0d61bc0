/**
 * Opens an MLS application message and says WHICH member sent it. ts-mls's processPrivateMessage
 * returns the plaintext but not the sender; this follows its own steps (ts-mls's
 * unprotectPrivateMessage on the current or a kept past epoch) to keep the sender's leaf, whose
 * credential names the sending device. The server's claim about the sender is then only a hint that
 * must agree. No cryptography here: ts-mls decrypts and verifies.
 */
import type { CiphersuiteImpl, ClientState, PrivateMessage, RatchetTree } from 'ts-mls';
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { leafToNodeIndex, toLeafIndex } from 'ts-mls/treemath.js';
import { parseDeviceIdentity } from './mls.js';

export interface OpenedApplication {
  message: Uint8Array;
  newState: ClientState;
  /** The sending device, from its leaf's credential; null when the leaf names none. */
  senderDevice: string | null;
}

/** The device named by the credential of leaf `leafIndex`, or null. */
export function deviceAt(tree: RatchetTree, leafIndex: number): string | null {
  const node = tree[leafToNodeIndex(toLeafIndex(leafIndex))];
  if (node?.nodeType !== 'leaf' || node.leaf.credential.credentialType !== 'basic') return null;
  return parseDeviceIdentity(node.leaf.credential.identity)?.deviceId ?? null;
}

/** Decrypts an application message of the current or a kept past epoch; throws on anything else. */
export async function openApplication(
  state: ClientState,
  pm: PrivateMessage,
  cs: CiphersuiteImpl,
): Promise<OpenedApplication> {
  if (pm.epoch < state.groupContext.epoch) {
    const past = state.historicalReceiverData.get(pm.epoch);
    if (!past) throw new Error('the message is of an epoch too old to open');
    const r = await unprotectPrivateMessage(
      past.senderDataSecret,
      pm,
      past.secretTree,
      past.ratchetTree,
      past.groupContext,
      state.clientConfig.keyRetentionConfig,
      cs,
    );
    if (r.content.content.contentType !== 'application') throw new Error('not an application message');
    const historicalReceiverData = new Map(state.historicalReceiverData);
    historicalReceiverData.set(pm.epoch, { ...past, secretTree: r.tree });
    return {
      message: r.content.content.applicationData,
      newState: { ...state, historicalReceiverData },
      senderDevice:
        r.content.content.sender.senderType === 'member'
          ? deviceAt(past.ratchetTree, r.content.content.sender.leafIndex)
          : null,
    };
  }
  const r = await unprotectPrivateMessage(
    state.keySchedule.senderDataSecret,
    pm,
    state.secretTree,
    state.ratchetTree,
    state.groupContext,
    state.clientConfig.keyRetentionConfig,
    cs,
  );
  if (r.content.content.contentType !== 'application') throw new Error('not an application message');
  return {
    message: r.content.content.applicationData,
    newState: { ...state, secretTree: r.tree },
    senderDevice:
      r.content.content.sender.senderType === 'member'
        ? deviceAt(state.ratchetTree, r.content.content.sender.leafIndex)
        : null,
  };
}
