import type { FramedContentCommit } from 'ts-mls/framedContent.js';
import { verifyFramedContentSignature } from 'ts-mls/framedContent.js';
import { verifyGroupInfoSignature } from 'ts-mls/groupInfo.js';
import { treeHashRoot } from 'ts-mls/treeHash.js';
import { createConfirmedHash, createInterimHash } from 'ts-mls/transcriptHash.js';
import type { GroupInfo } from 'ts-mls';
import { AppError } from '../core/errors.js';
import type { CipherSuiteName } from './messaging-types.js';
import { suiteImpl } from './external-sender.js';
import { decodeMessage, type DecodedGroupInfo } from './mls-wire.js';

/**
 * Binds a posted commit and its GroupInfo to each other and to the posting device, with ts-mls's
 * own verification (RFC 9420): the commit is a public message signed by the posting device's bound
 * key over the current epoch's group context, from that device's leaf; the GroupInfo is signed by
 * the same key from the same leaf, its ratchet tree hashes to its context's tree_hash, and its
 * confirmed transcript hash and confirmation tag are the ones this commit produces. So the tree the
 * server learns members from is the tree this commit makes, and a commit is attributable to a
 * known device. What stays unverifiable here: the encrypted path secrets of the UpdatePath and the
 * membership tag (both need the epoch's secrets, which only members hold).
 *
 * Epoch 0 (the creator's first commit): the server never sees the creator's initial group context
 * (its tree hash and confirmation tag come from the creator's own leaf and random epoch secret), so
 * the commit's signature over that context and the transcript hash are checked from epoch 1 on;
 * at epoch 0 the creator's device is the only member, the only one allowed to post.
 */
export interface CommitCheck {
  suite: CipherSuiteName;
  commit: Uint8Array;
  groupInfo: DecodedGroupInfo;
  /** The current epoch's GroupInfo as stored with the previous commit; null before the first commit. */
  previous: GroupInfo | null;
  /** The posting device's bound signature key (DeviceDirectory). */
  signatureKey: Uint8Array;
  /** The posting device's leaf in the current epoch, when known. */
  senderLeaf: number | null;
  /** The posting device's leaf in the new tree. */
  newLeaf: number;
}

const invalid = (why: string) => new AppError('SP_MESSAGING_MLS_INVALID', why);
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

export async function verifyCommit(k: CommitCheck): Promise<void> {
  const m = decodeMessage(k.commit);
  if (!m || m.wireformat !== 'mls_public_message')
    throw invalid('commit: must be an mls_public_message (createCommit wireAsPublicMessage)');
  const { content, auth } = m.publicMessage;
  if (content.contentType !== 'commit' || auth.contentType !== 'commit' || content.sender.senderType !== 'member')
    throw invalid('commit: not a commit from a member');
  if (content.sender.leafIndex !== k.newLeaf || (k.senderLeaf !== null && content.sender.leafIndex !== k.senderLeaf))
    throw invalid("commit: not sent from the posting device's leaf");
  const cs = await suiteImpl(k.suite);
  const gi = k.groupInfo.groupInfo;
  if (gi.signer !== k.newLeaf) throw invalid("groupInfo: not signed from the posting device's leaf");
  if (!(await verifyGroupInfoSignature(gi, k.signatureKey, cs.signature)))
    throw invalid("groupInfo: the signature does not verify with the posting device's key");
  if (!same(await treeHashRoot(k.groupInfo.tree, cs.hash), gi.groupContext.treeHash))
    throw invalid("groupInfo: the ratchet tree does not hash to the group context's tree hash");
  if (!same(auth.confirmationTag, gi.confirmationTag))
    throw invalid("groupInfo: the confirmation tag is not the commit's");
  if (!k.previous) return;
  const prev = k.previous.groupContext;
  if (!(await verifyFramedContentSignature(k.signatureKey, 'mls_public_message', content, auth, prev, cs.signature)))
    throw invalid("commit: the signature does not verify with the posting device's key over the current epoch");
  const interim = await createInterimHash(prev.confirmedTranscriptHash, k.previous.confirmationTag, cs.hash);
  const confirmed = await createConfirmedHash(
    interim,
    { wireformat: 'mls_public_message', content: content as FramedContentCommit, signature: auth.signature },
    cs.hash,
  );
  if (!same(confirmed, gi.groupContext.confirmedTranscriptHash))
    throw invalid('groupInfo: the confirmed transcript hash is not the one this commit produces');
}
