import { decodeExternalSender, decodeMlsMessage, encodeMlsMessage, type MLSMessage, type GroupInfo } from 'ts-mls';
import { ratchetTreeFromExtension } from 'ts-mls/groupInfo.js';
import type { RatchetTree } from 'ts-mls/ratchetTree.js';

/**
 * What the Delivery Service reads of MLS messages, with ts-mls's decoders: only the framing that is
 * in the clear (wire format, group id, epoch, content type) and, from a GroupInfo's ratchet tree
 * extension, which credential sits at which leaf. Nothing here decrypts: the members' clients do
 * that; the server orders what they send, and verifies the signatures and hashes of commits and
 * GroupInfos that need no epoch secret (conversation-commit-check.ts).
 */

export type WireFormat = MLSMessage['wireformat'];

/** The clear framing of a handshake or application message. */
export interface Framing {
  wireFormat: 'mls_private_message' | 'mls_public_message';
  groupId: string;
  epoch: number;
  contentType: 'application' | 'proposal' | 'commit';
  /** Public messages only: who sent it ('member', 'external', …). */
  senderType: string | null;
}

export interface Leaf {
  leafIndex: number;
  /** The basic credential's identity, as UTF-8 text. */
  identity: string;
  signatureKey: Uint8Array;
}

export interface DecodedGroupInfo {
  /** Signature keys of the group's external senders (the `external_senders` extension). */
  externalSenderKeys: Uint8Array[];
  groupId: string;
  epoch: number;
  cipherSuite: string;
  leaves: Leaf[];
  /** The ratchet tree of the extension (its hash must be the context's tree_hash: conversation-commit-check.ts). */
  tree: RatchetTree;
  groupInfo: GroupInfo;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** The whole input as one MLSMessage, or null (trailing bytes are refused: one message per field). */
export function decodeMessage(bytes: Uint8Array): MLSMessage | null {
  try {
    const r = decodeMlsMessage(bytes, 0);
    if (!r || r[1] !== bytes.length) return null;
    return r[0];
  } catch {
    return null;
  }
}

/** The clear framing of a private or public message; null for anything else or undecodable bytes. */
export function readFraming(bytes: Uint8Array): Framing | null {
  const m = decodeMessage(bytes);
  if (!m) return null;
  if (m.wireformat === 'mls_private_message') {
    const p = m.privateMessage;
    return {
      wireFormat: m.wireformat,
      groupId: utf8.decode(p.groupId),
      epoch: Number(p.epoch),
      contentType: p.contentType as Framing['contentType'],
      senderType: null,
    };
  }
  if (m.wireformat === 'mls_public_message') {
    const c = m.publicMessage.content;
    return {
      wireFormat: m.wireformat,
      groupId: utf8.decode(c.groupId),
      epoch: Number(c.epoch),
      contentType: c.contentType as Framing['contentType'],
      senderType: c.sender.senderType,
    };
  }
  return null;
}

/** Whether the bytes are one MLSMessage of wire format `mls_welcome`. */
export function isWelcome(bytes: Uint8Array): boolean {
  return decodeMessage(bytes)?.wireformat === 'mls_welcome';
}

/**
 * A GroupInfo (wire format `mls_group_info`) with its ratchet tree extension: its context and the
 * leaves present. Null when the bytes are no GroupInfo or carry no ratchet tree.
 */
export function readGroupInfo(bytes: Uint8Array): DecodedGroupInfo | null {
  const m = decodeMessage(bytes);
  if (!m || m.wireformat !== 'mls_group_info') return null;
  const gi = m.groupInfo;
  let tree;
  try {
    tree = ratchetTreeFromExtension(gi);
  } catch {
    return null;
  }
  if (!tree) return null;
  const leaves: Leaf[] = [];
  // Leaves sit at the even node indexes of the array-represented tree (RFC 9420 appendix C).
  for (let i = 0; i < tree.length; i += 2) {
    const n = tree[i];
    if (!n || n.nodeType !== 'leaf') continue;
    const cred = n.leaf.credential;
    leaves.push({
      leafIndex: i / 2,
      identity: cred.credentialType === 'basic' ? utf8.decode(cred.identity) : '',
      signatureKey: n.leaf.signaturePublicKey,
    });
  }
  const ctx = gi.groupContext;
  const externalSenderKeys: Uint8Array[] = [];
  for (const ex of ctx.extensions)
    if (ex.extensionType === 'external_senders') {
      const d = decodeExternalSender(ex.extensionData, 0);
      if (d) externalSenderKeys.push(d[0].signaturePublicKey);
    }
  return {
    externalSenderKeys,
    groupId: utf8.decode(ctx.groupId),
    epoch: Number(ctx.epoch),
    cipherSuite: ctx.cipherSuite,
    leaves,
    tree,
    groupInfo: gi,
  };
}

/** Decodes a stored GroupInfo (known good) back to the ts-mls object. */
export function groupInfoOf(bytes: Uint8Array): GroupInfo | null {
  const m = decodeMessage(bytes);
  return m && m.wireformat === 'mls_group_info' ? m.groupInfo : null;
}

export function encodeMessage(m: MLSMessage): Uint8Array {
  return encodeMlsMessage(m);
}
