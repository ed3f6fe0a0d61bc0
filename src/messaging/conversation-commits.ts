import { audit } from '../core/context.js';
import { AppError } from '../core/errors.js';
import type { StoreTx } from '../store/store.js';
import type { ConversationRow } from '../store/repositories/conversation-repository.js';
import { deviceIdentity, parseDeviceIdentity, type CipherSuiteName } from './messaging-types.js';
import {
  callerDevice,
  lockConversation,
  memberConversation,
  personKey,
  type Caller,
  type ConversationDeps,
} from './conversation-access.js';
import { appendEvents, EpochStaleError, sha256Hex, type NewEvent } from './conversation-log.js';
import { proposeMissingDevices, syncPatientConversation } from './conversation-roster.js';
import { groupInfoOf, isWelcome, readFraming, readGroupInfo, type Leaf } from './mls-wire.js';
import { verifyCommit } from './conversation-commit-check.js';

export interface PostCommit {
  deviceId: string;
  epoch: number;
  commit: Uint8Array;
  welcome?: Uint8Array;
  groupInfo: Uint8Array;
}

export interface PostMessage {
  deviceId: string;
  epoch: number;
  message: Uint8Array;
  urgent?: boolean;
  attachments?: string[];
  clientMessageId: string;
}

/**
 * The Delivery Service's ordering: one commit per epoch (the first to arrive wins; a later one for
 * the same epoch is told the current epoch and retries after catching up), and application
 * messages only in the current epoch. Each accepted post appends to the conversation's log under
 * the conversation's row lock, so seqs are gap-free and ordered.
 */
export class ConversationCommits {
  constructor(private readonly deps: ConversationDeps) {}

  async commit(c: Caller, id: string, p: PostCommit): Promise<{ seq: number; epoch: number }> {
    const { store, clock } = this.deps;
    const now = clock();
    await syncPatientConversation(this.deps, c, c.tenantId, id, c.person);
    const out = await store.transaction(async (tx) => {
      const poster = await callerDevice(tx, this.deps, c, p.deviceId);
      await memberConversation(tx, c, id);
      const conv = await lockConversation(tx, c.tenantId, id);
      const window = await this.requireWindow(tx, conv, p.deviceId);
      const f = readFraming(p.commit);
      if (!f || f.contentType !== 'commit' || f.groupId !== id)
        throw new AppError('SP_MESSAGING_MLS_INVALID', 'commit: not a commit of this conversation');
      if (p.epoch !== conv.epoch || f.epoch !== conv.epoch) throw new EpochStaleError(conv.epoch);
      const gi = readGroupInfo(p.groupInfo);
      if (!gi || gi.groupId !== id || gi.epoch !== conv.epoch + 1 || gi.cipherSuite !== conv.cipher_suite)
        throw new AppError(
          'SP_MESSAGING_MLS_INVALID',
          'groupInfo: not the next epoch of this group with its ratchet tree',
        );
      // The server's roster changes reach the group only through its external sender: the group must list it.
      const es = await this.deps.externalSenders.publicOf(tx, c.tenantId, conv.cipher_suite as CipherSuiteName);
      if (!gi.externalSenderKeys.some((k) => Buffer.from(k).equals(Buffer.from(es.signatureKey))))
        throw new AppError(
          'SP_MESSAGING_MLS_INVALID',
          "groupInfo: the group does not list the tenant's external sender",
        );
      const own = deviceIdentity(c.tenantId, p.deviceId);
      const newLeaf = gi.leaves.find((l) => l.identity === own)?.leafIndex;
      if (newLeaf === undefined)
        throw new AppError('SP_MESSAGING_MLS_INVALID', 'groupInfo: the posting device is not in the new tree');
      const previous = conv.group_info ? groupInfoOf(conv.group_info) : null;
      await verifyCommit({
        suite: conv.cipher_suite as CipherSuiteName,
        commit: p.commit,
        groupInfo: gi,
        previous,
        signatureKey: poster.signatureKey,
        senderLeaf: window.leaf_index,
        newLeaf,
      });
      if (p.welcome && !isWelcome(p.welcome))
        throw new AppError('SP_MESSAGING_MLS_INVALID', 'welcome: not an mls_welcome');
      if (await tx.conversationEvents.hasHash(c.tenantId, id, sha256Hex(p.commit)))
        throw new AppError('SP_MESSAGING_REPLAY');
      const leaves = await this.rosterLeaves(tx, conv, gi.leaves);

      const current = (await tx.conversations.devices(c.tenantId, id)).filter((d) => d.until_seq === null);
      const inTree = new Map(leaves.map((l) => [l.deviceId, l]));
      const added = leaves.filter((l) => !current.some((d) => d.device_id === l.deviceId));
      const removed = current.filter((d) => !inTree.has(d.device_id));
      await this.requireRemovalsAllowed(tx, conv, c, removed);
      const events: NewEvent[] = [
        { kind: 'commit', epoch: conv.epoch, senderDeviceId: p.deviceId, data: p.commit, unique: true },
      ];
      if (p.welcome && added.length)
        events.push({
          kind: 'welcome',
          epoch: conv.epoch + 1,
          senderDeviceId: p.deviceId,
          data: p.welcome,
          recipients: added.map((a) => a.deviceId),
        });
      const seqs = await appendEvents(tx, c.tenantId, id, events, now.getTime(), {
        epoch: conv.epoch,
        newEpoch: conv.epoch + 1,
        groupInfo: p.groupInfo,
      });
      const commitSeq = seqs[0];
      // Removed devices see the commit that removes them, nothing after it; added ones start at their welcome.
      for (const d of removed) await tx.conversations.closeDevice(c.tenantId, id, d.device_id, commitSeq);
      for (const l of leaves) {
        const isNew = added.includes(l);
        if (!isNew) await tx.conversations.setLeaf(c.tenantId, id, l.deviceId, l.leafIndex);
        else
          await tx.conversations.upsertDevice({
            tenant_id: c.tenantId,
            conversation_id: id,
            device_id: l.deviceId,
            person_kind: l.personKind,
            person_id: l.personId,
            leaf_index: l.leafIndex,
            from_seq: commitSeq + 1,
            until_seq: null,
            cursor: commitSeq,
          });
      }
      await audit(tx, c, now, {
        action: 'conversation.commit',
        targetType: 'conversation',
        targetId: id,
        patientRef: conv.patient_id ? this.deps.patientRef(c.tenantId, conv.patient_id) : null,
        details: {
          deviceId: p.deviceId,
          epoch: conv.epoch + 1,
          seq: commitSeq,
          size: p.commit.length,
          added: added.length,
          removed: removed.length,
          welcome: events.length > 1,
        },
      });
      const next = { ...conv, epoch: conv.epoch + 1, group_info: p.groupInfo, latest_seq: seqs[seqs.length - 1] };
      const proposed = await proposeMissingDevices(tx, this.deps, next, now.getTime());
      return { seq: commitSeq, epoch: conv.epoch + 1, last: proposed ?? next.latest_seq };
    });
    await store.durable();
    this.deps.feed.published(c.tenantId, id, out.last);
    return { seq: out.seq, epoch: out.epoch };
  }

  async message(c: Caller, id: string, p: PostMessage): Promise<{ seq: number }> {
    const { store, clock } = this.deps;
    const now = clock();
    await syncPatientConversation(this.deps, c, c.tenantId, id, c.person);
    const out = await store.transaction(async (tx) => {
      await callerDevice(tx, this.deps, c, p.deviceId);
      await memberConversation(tx, c, id);
      const conv = await lockConversation(tx, c.tenantId, id);
      await this.requireWindow(tx, conv, p.deviceId);
      const first = await tx.conversationEvents.byClientId(c.tenantId, id, p.deviceId, p.clientMessageId);
      if (first) return { seq: first.seq, fresh: false };
      const f = readFraming(p.message);
      if (!f || f.wireFormat !== 'mls_private_message' || f.contentType !== 'application' || f.groupId !== id)
        throw new AppError('SP_MESSAGING_MLS_INVALID', 'message: not an application message of this conversation');
      if (p.epoch !== conv.epoch || f.epoch !== conv.epoch) throw new EpochStaleError(conv.epoch);
      if (await tx.conversationEvents.hasHash(c.tenantId, id, sha256Hex(p.message)))
        throw new AppError('SP_MESSAGING_REPLAY');
      const [seq] = await appendEvents(
        tx,
        c.tenantId,
        id,
        [
          {
            kind: 'application',
            epoch: conv.epoch,
            senderDeviceId: p.deviceId,
            data: p.message,
            urgent: p.urgent,
            attachments: p.attachments,
            clientMessageId: p.clientMessageId,
            unique: true,
          },
        ],
        now.getTime(),
        { epoch: conv.epoch },
      );
      if (p.attachments?.length) await this.deps.attachments.attach(tx, c.tenantId, id, seq, p.attachments);
      await audit(tx, c, now, {
        action: 'message.stored',
        targetType: 'conversation',
        targetId: id,
        patientRef: conv.patient_id ? this.deps.patientRef(c.tenantId, conv.patient_id) : null,
        details: {
          deviceId: p.deviceId,
          seq,
          epoch: conv.epoch,
          size: p.message.length,
          attachments: p.attachments?.length ?? 0,
          urgent: !!p.urgent,
        },
      });
      return { seq, fresh: true };
    });
    if (out.fresh) {
      await store.durable();
      this.deps.feed.published(c.tenantId, id, out.seq);
    }
    return { seq: out.seq };
  }

  /** The device must be in the group now (its window open), else it is not the caller's to use here. */
  private async requireWindow(tx: StoreTx, conv: ConversationRow, deviceId: string) {
    const d = await tx.conversations.device(conv.tenant_id, conv.id, deviceId);
    if (!d || d.until_seq !== null) throw new AppError('SP_MESSAGING_DEVICE_FORBIDDEN');
    return d;
  }

  /**
   * A member may drop its own person's devices (leaving, a lost phone); every other removal is the
   * server's to propose (roster removal, revocation), and those devices' windows are already closed,
   * so they are not in `removed`. Dropping an active device of a person still on the roster is
   * shutting them out: 403 SP_CONVERSATION_FORBIDDEN.
   */
  private async requireRemovalsAllowed(
    tx: StoreTx,
    conv: ConversationRow,
    c: Caller,
    removed: readonly { device_id: string; person_kind: string; person_id: string }[],
  ): Promise<void> {
    const others = removed.filter((d) => personKey({ kind: d.person_kind, id: d.person_id }) !== personKey(c.person));
    if (!others.length) return;
    const roster = new Set(
      (await tx.conversations.members(conv.tenant_id, conv.id))
        .filter((m) => m.removed_at === null)
        .map((m) => personKey({ kind: m.person_kind, id: m.person_id })),
    );
    for (const d of others) {
      const dev = await this.deps.devices.device(tx, conv.tenant_id, d.device_id);
      if (dev?.status === 'active' && roster.has(personKey({ kind: d.person_kind, id: d.person_id })))
        throw new AppError('SP_CONVERSATION_FORBIDDEN', "commit: removes another roster member's device");
    }
  }

  /** Maps every leaf to an active device of a roster person with its bound key, else 403 SP_MESSAGING_NOT_IN_ROSTER. */
  private async rosterLeaves(tx: StoreTx, conv: ConversationRow, leaves: Leaf[]) {
    const roster = new Set(
      (await tx.conversations.members(conv.tenant_id, conv.id))
        .filter((m) => m.removed_at === null)
        .map((m) => personKey({ kind: m.person_kind, id: m.person_id })),
    );
    const out: { deviceId: string; leafIndex: number; personKind: string; personId: string }[] = [];
    for (const l of leaves) {
      const ident = parseDeviceIdentity(l.identity);
      const d =
        ident && ident.tenantId === conv.tenant_id
          ? await this.deps.devices.device(tx, conv.tenant_id, ident.deviceId)
          : null;
      if (
        !d ||
        d.status !== 'active' ||
        !roster.has(personKey(d.person)) ||
        Buffer.compare(Buffer.from(d.signatureKey), Buffer.from(l.signatureKey)) !== 0 ||
        out.some((o) => o.deviceId === d.deviceId)
      )
        throw new AppError('SP_MESSAGING_NOT_IN_ROSTER', `leaf ${l.leafIndex}`);
      out.push({ deviceId: d.deviceId, leafIndex: l.leafIndex, personKind: d.person.kind, personId: d.person.id });
    }
    return out;
  }
}
