/**
 * Applies one conversation event to this device's MLS state, in seq order: a welcome joins the
 * group, a commit advances the epoch (ts-mls validates every new credential through the trust
 * manager, so a commit that adds an untrusted device is refused and the conversation is blocked
 * rather than followed), a proposal of the server (external sender: Remove, or Add of a device that
 * must pass key transparency) is kept for the next commit, an
 * application message is decrypted and stored, a recall deletes the local copy. Beyond ts-mls's
 * checks: every leaf a commit or Welcome brings in must be a device of a roster person, never the
 * server's key (roster-guard.ts), and the server's sender of a handshake must be its MLS sender.
 */
import {
  emptyPskIndex,
  joinGroup,
  processMessage,
  type IncomingMessageCallback,
  type ProposalWithSender,
} from 'ts-mls';
import type { CipherSuiteName } from '../cipher-suites.js';
import { fromBase64, toHex } from '../encoding.js';
import { DeviceVerificationError } from '../transparency/device-verifier.js';
import type { ClientContext } from './context.js';
import { parsePayload, type StoredMessage } from './events.js';
import { decodeMessage, suiteImpl } from './mls.js';
import { openApplication } from './application-decrypt.js';
import { checkRoster, senderMismatch, type RosterGuardDeps } from './roster-guard.js';
import type { ConversationEvent } from './wire-types.js';

/**
 * The server (external sender) may propose removals and additions (rosters that follow a care team);
 * an added device is checked by key transparency like any other before this client commits it.
 */
const proposalRules: IncomingMessageCallback = (incoming) => {
  const allowed = (p: ProposalWithSender) =>
    p.senderLeafIndex !== undefined || p.proposal.proposalType === 'remove' || p.proposal.proposalType === 'add';
  return (incoming.kind === 'proposal' ? allowed(incoming.proposal) : incoming.proposals.every(allowed))
    ? 'accept'
    : 'reject';
};

export class EventProcessor {
  constructor(private readonly ctx: ClientContext) {}

  /** Processes one event; the caller holds the conversation's lock and advances the cursor after. */
  async process(ev: ConversationEvent): Promise<void> {
    const me = this.ctx.keys.device.deviceId;
    const fromMe = 'deviceId' in ev.sender && ev.sender.deviceId === me;
    if (ev.kind === 'recall') {
      if (ev.recalledSeq !== null) {
        await this.ctx.groups.deleteMessage(ev.conversationId, ev.recalledSeq);
        this.ctx.emitter.emit('recalled', { conversationId: ev.conversationId, seq: ev.recalledSeq });
      }
      return;
    }
    if (ev.data === null) return; // purged by lifespan or recalled before this device read it
    if (ev.kind === 'welcome') return this.welcome(ev);
    // This device applied its own commits when the server accepted them, and keeps its own messages.
    if (fromMe && (ev.kind === 'commit' || ev.kind === 'application')) return;
    const meta = await this.ctx.groups.meta(ev.conversationId);
    if (meta?.blocked || meta?.removed) return;
    const state = await this.ctx.groups.state(ev.conversationId);
    if (!state) return; // events before this device's welcome are not its to read
    const m = decodeMessage(ev.data);
    if (m.wireformat !== 'mls_private_message' && m.wireformat !== 'mls_public_message')
      throw new Error(`event ${ev.seq} is not an MLS handshake or application message`);
    const impl = await suiteImpl(state.groupContext.cipherSuite as CipherSuiteName);
    this.ctx.trust.lastRefusal = null;
    if (m.wireformat === 'mls_private_message' && m.privateMessage.contentType === 'application') {
      let opened: Awaited<ReturnType<typeof openApplication>>;
      try {
        opened = await openApplication(state, m.privateMessage, impl);
      } catch (e) {
        return this.failed(ev, e as Error);
      }
      await this.ctx.groups.setState(ev.conversationId, opened.newState);
      return this.application(ev, opened.message, opened.senderDevice);
    }
    if (m.wireformat === 'mls_public_message') {
      // The sender the server names must be the MLS sender (a member's leaf, or the external sender).
      const mismatch = senderMismatch(state.ratchetTree, m.publicMessage.content.sender, ev.sender);
      if (mismatch) return this.failed(ev, new Error(`event ${ev.seq}: ${mismatch}`));
    }
    let r: Awaited<ReturnType<typeof processMessage>>;
    try {
      r = await processMessage(m, state, emptyPskIndex, proposalRules, impl);
    } catch (e) {
      return this.failed(ev, e as Error);
    }
    if (r.kind === 'newState' && r.newState.groupActiveState.kind !== 'removedFromGroup') {
      // Every leaf the commit brings in must be a device of a roster person (never the server's key).
      try {
        await checkRoster(this.rosterDeps(ev.conversationId), r.newState, state);
      } catch (e) {
        return this.refuse(ev, e as Error);
      }
    }
    await this.ctx.groups.setState(ev.conversationId, r.newState);
    if (r.kind === 'applicationMessage') return; // only through openApplication above
    if (ev.kind === 'commit') {
      const removed = r.newState.groupActiveState.kind === 'removedFromGroup';
      if (removed) await this.ctx.groups.updateMeta(ev.conversationId, { removed: true });
      this.ctx.emitter.emit('membership', {
        conversationId: ev.conversationId,
        epoch: Number(r.newState.groupContext.epoch),
        change: removed ? 'removed' : 'commit',
      });
    }
  }

  /** What the roster check asks of this client: its trust manager and the server's roster. */
  private rosterDeps(conversationId: string): RosterGuardDeps {
    return {
      tenantId: this.ctx.keys.device.tenantId,
      verify: (deviceId, key) => this.ctx.trust.verify(deviceId, key),
      roster: async (fresh) => (await this.ctx.conversation(conversationId, fresh)).members,
      isExternalSender: (identity, key) => this.ctx.trust.isExternalSender(identity, key),
    };
  }

  /** A refusal found after ts-mls accepted the handshake: reported like one ts-mls found. */
  private refuse(ev: ConversationEvent, e: Error): Promise<void> {
    this.ctx.trust.lastRefusal = e instanceof DeviceVerificationError ? e : new DeviceVerificationError('?', e.message);
    return this.failed(ev, e);
  }

  private async failed(ev: ConversationEvent, error: Error): Promise<void> {
    const refusal = this.ctx.trust.lastRefusal;
    if (refusal) this.ctx.emitter.emit('device-refused', { conversationId: ev.conversationId, error: refusal });
    if (ev.kind === 'application' || ev.kind === 'proposal') {
      // One message or proposal that is refused must not stop the conversation.
      this.ctx.emitter.emit('error', { conversationId: ev.conversationId, error });
      return;
    }
    // A commit (or proposal) this device refuses: following it would mean trusting what it adds.
    const reason = refusal ? refusal.message : `event ${ev.seq} (${ev.kind}) was refused: ${error.message}`;
    await this.ctx.groups.updateMeta(ev.conversationId, { blocked: reason });
    this.ctx.emitter.emit('error', { conversationId: ev.conversationId, error: refusal ?? error });
  }

  private async welcome(ev: ConversationEvent): Promise<void> {
    if (await this.ctx.groups.state(ev.conversationId)) return;
    const m = decodeMessage(ev.data!);
    if (m.wireformat !== 'mls_welcome') throw new Error(`event ${ev.seq} is not a welcome`);
    let ref: string | null = null;
    let kp: Awaited<ReturnType<ClientContext['keys']['privatePackage']>>;
    for (const s of m.welcome.secrets) {
      kp = await this.ctx.keys.privatePackage(toHex(s.newMember));
      if (kp) {
        ref = toHex(s.newMember);
        break;
      }
    }
    if (!kp || !ref) return; // not addressed to one of this device's key packages
    const view = await this.ctx.conversation(ev.conversationId, true);
    await this.ctx.trust.allowExternalSender(
      fromBase64(view.externalSender.identity)!,
      fromBase64(view.externalSender.signatureKey)!,
    );
    const impl = await suiteImpl(m.welcome.cipherSuite as CipherSuiteName);
    this.ctx.trust.lastRefusal = null;
    let state;
    try {
      state = await joinGroup(
        m.welcome,
        kp.publicPackage,
        kp.privatePackage,
        emptyPskIndex,
        impl,
        undefined,
        undefined,
        this.ctx.config(),
      );
    } catch (e) {
      await this.ctx.groups.updateMeta(ev.conversationId, {}, m.welcome.cipherSuite as CipherSuiteName);
      return this.failed({ ...ev, kind: 'commit' }, e as Error);
    }
    try {
      // Every member of the tree joined must be a device of a roster person (never the server's key).
      await checkRoster(this.rosterDeps(ev.conversationId), state);
    } catch (e) {
      await this.ctx.groups.updateMeta(ev.conversationId, {}, m.welcome.cipherSuite as CipherSuiteName);
      return this.refuse({ ...ev, kind: 'commit' }, e as Error);
    }
    await this.ctx.groups.setState(ev.conversationId, state);
    await this.ctx.groups.updateMeta(
      ev.conversationId,
      { blocked: null, removed: false },
      m.welcome.cipherSuite as CipherSuiteName,
    );
    await this.ctx.keys.consumed(ref);
    this.ctx.emitter.emit('membership', {
      conversationId: ev.conversationId,
      epoch: Number(state.groupContext.epoch),
      change: 'joined',
    });
  }

  private async application(ev: ConversationEvent, bytes: Uint8Array, mlsSender: string | null): Promise<void> {
    const payload = parsePayload(bytes);
    const claimed = 'deviceId' in ev.sender ? ev.sender.deviceId : null;
    // The sender is the MLS leaf that encrypted it; the server's sender field must agree.
    if (!mlsSender || mlsSender !== claimed) {
      this.ctx.emitter.emit('error', {
        conversationId: ev.conversationId,
        error: new Error(`event ${ev.seq}: the server names another sender than the MLS message`),
      });
      return;
    }
    const senderDevice = mlsSender;
    let sender: StoredMessage['sender'];
    try {
      sender = (await this.ctx.trust.verify(senderDevice)).person;
    } catch (e) {
      if (e instanceof DeviceVerificationError)
        this.ctx.emitter.emit('device-refused', { conversationId: ev.conversationId, error: e });
      return;
    }
    if (!payload) return;
    if (payload.t === 'read') {
      this.ctx.emitter.emit('read', {
        conversationId: ev.conversationId,
        seq: payload.seq,
        reader: sender,
        device: senderDevice,
      });
      return;
    }
    const msg: StoredMessage = {
      conversationId: ev.conversationId,
      seq: ev.seq,
      senderDevice,
      sender,
      body: payload.body,
      replyTo: payload.replyTo ?? null,
      urgent: ev.urgent,
      attachments: payload.attachments ?? [],
      at: ev.createdAt,
      mine: false,
    };
    await this.ctx.groups.putMessage(msg);
    this.ctx.emitter.emit('message', msg);
  }
}
