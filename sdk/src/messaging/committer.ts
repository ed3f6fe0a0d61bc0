/**
 * Handshakes this device makes: creating a conversation's group, adding the devices of its members
 * (each claimed key package checked first: the device passes key transparency, and the package
 * carries that device's identity and bound key), and committing the server's pending Remove
 * proposals. Every commit is posted as a public message (the server checks what it adds and
 * removes; the content is not secret, the messages are) with the new epoch's GroupInfo (ratchet tree
 * included) and, when it adds, the Welcome. When the server answers 409 SP_MESSAGING_EPOCH_STALE the client catches
 * up (processes the events it missed) and builds the commit again.
 */
import {
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  encodeExternalSender,
  type ClientState,
  type KeyPackage,
  type Proposal,
} from 'ts-mls';
import type { CipherSuiteName } from '../cipher-suites.js';
import { bytesEqual, fromBase64, fromUtf8, utf8 } from '../encoding.js';
import { DeviceVerificationError } from '../transparency/device-verifier.js';
import type { ClientContext } from './context.js';
import { SealpostApiError, seg } from './http.js';
import { decodeMessage, deviceIdentity, encodeMessage, newKeyPackage, parseDeviceIdentity, suiteImpl } from './mls.js';
import { checkLeaves } from './roster-guard.js';
import type { ConversationView } from './wire-types.js';

const MAX_ATTEMPTS = 6;

export class Committer {
  constructor(
    private readonly ctx: ClientContext,
    /** Processes every pending event of the conversation (the caller's lock is held). */
    private readonly catchUp: (conversationId: string) => Promise<void>,
  ) {}

  /** Creates the MLS group of a conversation the server just created (epoch 0, this device alone). */
  async createGroup(view: ConversationView): Promise<void> {
    const { deviceId, tenantId } = this.ctx.keys.device;
    const suite = view.cipherSuite;
    const impl = await suiteImpl(suite);
    const own = await newKeyPackage(suite, tenantId, deviceId, this.ctx.keys.keyPair);
    const external = {
      credential: { credentialType: 'basic' as const, identity: fromBase64(view.externalSender.identity)! },
      signaturePublicKey: fromBase64(view.externalSender.signatureKey)!,
    };
    await this.ctx.trust.allowExternalSender(external.credential.identity, external.signaturePublicKey);
    const state = await createGroup(
      utf8(view.id),
      own.publicPackage,
      own.privatePackage,
      [{ extensionType: 'external_senders', extensionData: encodeExternalSender(external) }],
      impl,
      this.ctx.config(),
    );
    await this.ctx.groups.setState(view.id, state);
    await this.ctx.groups.updateMeta(view.id, { processedSeq: view.latestSeq }, suite);
  }

  /** The member devices of the roster that are not (yet) in the group, other than this device. */
  private missingDevices(view: ConversationView, state: ClientState): string[] {
    const inGroup = new Set<string>();
    for (const n of state.ratchetTree)
      if (n?.nodeType === 'leaf' && n.leaf.credential.credentialType === 'basic') {
        const id = parseDeviceIdentity(n.leaf.credential.identity);
        if (id) inGroup.add(id.deviceId);
      }
    return view.members.flatMap((m) => m.devices).filter((d) => !inGroup.has(d));
  }

  /**
   * Claims key packages for the roster's devices missing from the group and keeps those that pass
   * the checks; refused devices are reported (`device-refused`) and left out.
   */
  private async verifiedAdds(conversationId: string, view: ConversationView, deviceIds: string[]): Promise<Proposal[]> {
    if (!deviceIds.length) return [];
    const suite = view.cipherSuite;
    const { tenantId } = this.ctx.keys.device;
    const claimed = await this.ctx.http.post<{ items: { deviceId: string; keyPackage: string }[] }>(
      '/v1/messaging/key-packages/claim',
      { conversationId, deviceIds, cipherSuite: suite },
    );
    const adds: Proposal[] = [];
    for (const item of claimed.items) {
      try {
        const kp = this.checkedKeyPackage(item.keyPackage, tenantId, item.deviceId, suite);
        const { person } = await this.ctx.trust.verify(item.deviceId, kp.leafNode.signaturePublicKey, true);
        // The roster lists the device under a person: the binding must name that same person.
        if (
          !view.members.some((m) => m.kind === person.kind && m.id === person.id && m.devices.includes(item.deviceId))
        )
          throw new DeviceVerificationError(
            item.deviceId,
            `its person (${person.kind}) is not on the conversation’s roster`,
          );
        adds.push({ proposalType: 'add', add: { keyPackage: kp } });
      } catch (e) {
        const error = e instanceof DeviceVerificationError ? e : new DeviceVerificationError(item.deviceId, String(e));
        this.ctx.emitter.emit('device-refused', { conversationId, error });
      }
    }
    return adds;
  }

  private checkedKeyPackage(b64: string, tenantId: string, deviceId: string, suite: CipherSuiteName): KeyPackage {
    const m = decodeMessage(b64);
    if (m.wireformat !== 'mls_key_package') throw new Error('the claimed key package is not one');
    const kp = m.keyPackage;
    const cred = kp.leafNode.credential;
    if (kp.cipherSuite !== suite) throw new Error('the claimed key package is of another cipher suite');
    if (cred.credentialType !== 'basic' || !bytesEqual(cred.identity, utf8(deviceIdentity(tenantId, deviceId))))
      throw new DeviceVerificationError(deviceId, `the key package names another identity (${safeText(cred)})`);
    return kp;
  }

  /**
   * Brings the group in line with the roster: adds the missing devices (when `addMissing`) and
   * commits pending proposals, retrying on a stale epoch. Returns the new epoch, or null when nothing was to do.
   */
  async reconcile(conversationId: string, addMissing: boolean): Promise<number | null> {
    for (let attempt = 1; ; attempt++) {
      const state = await this.ctx.groups.state(conversationId);
      const meta = await this.ctx.groups.meta(conversationId);
      if (!state || meta?.blocked || meta?.removed) return null;
      // Adding is left to whoever changed the roster; everyone commits the server's removals.
      const pending = Object.keys(state.unappliedProposals).length;
      if (!addMissing && !pending) return null;
      const view = await this.ctx.conversation(conversationId, true);
      const missing = addMissing ? this.missingDevices(view, state) : [];
      const adds = await this.verifiedAdds(conversationId, view, missing);
      if (!adds.length && !pending) return null;
      const checked = await this.checkedProposals(conversationId, state, view);
      // Refused proposals are dropped here for good (never committed, never blocking a send).
      if (Object.keys(checked.unappliedProposals).length !== pending)
        await this.ctx.groups.setState(conversationId, checked);
      if (!adds.length && !Object.keys(checked.unappliedProposals).length) return null;
      try {
        return await this.commit(conversationId, checked, view.cipherSuite, adds);
      } catch (e) {
        if (!(e instanceof SealpostApiError && e.code === 'SP_MESSAGING_EPOCH_STALE') || attempt >= MAX_ATTEMPTS)
          throw e;
        await this.catchUp(conversationId);
      }
    }
  }

  /**
   * The state without the server's Add proposals whose device fails the checks (reported, never
   * committed): the device must pass key transparency AND its person must be on the roster (`view`,
   * fetched fresh by the caller); the server's own key is never a member.
   */
  private async checkedProposals(
    conversationId: string,
    state: ClientState,
    view: ConversationView,
  ): Promise<ClientState> {
    const deps = {
      tenantId: this.ctx.keys.device.tenantId,
      // Fresh: a revocation counts at once before this client commits the add.
      verify: (deviceId: string, key: Uint8Array) => this.ctx.trust.verify(deviceId, key, true),
      roster: async (fresh: boolean) =>
        fresh ? (await this.ctx.conversation(conversationId, true)).members : view.members,
      isExternalSender: (identity: Uint8Array, key: Uint8Array) => this.ctx.trust.isExternalSender(identity, key),
    };
    const kept: ClientState['unappliedProposals'] = {};
    for (const [ref, p] of Object.entries(state.unappliedProposals)) {
      if (p.proposal.proposalType === 'add') {
        const leaf = p.proposal.add.keyPackage.leafNode;
        const cred = leaf.credential;
        try {
          await checkLeaves(deps, [
            { identity: cred.credentialType === 'basic' ? cred.identity : null, signatureKey: leaf.signaturePublicKey },
          ]);
        } catch (e) {
          const id = cred.credentialType === 'basic' ? parseDeviceIdentity(cred.identity) : null;
          const error =
            e instanceof DeviceVerificationError ? e : new DeviceVerificationError(id?.deviceId ?? '?', String(e));
          this.ctx.emitter.emit('device-refused', { conversationId, error });
          continue;
        }
      }
      kept[ref] = p;
    }
    return { ...state, unappliedProposals: kept };
  }

  private async commit(
    conversationId: string,
    state: ClientState,
    suite: CipherSuiteName,
    adds: Proposal[],
  ): Promise<number> {
    const impl = await suiteImpl(suite);
    const r = await createCommit(
      { state, cipherSuite: impl },
      { extraProposals: adds, ratchetTreeExtension: true, wireAsPublicMessage: true },
    );
    const groupInfo = await createGroupInfoWithExternalPubAndRatchetTree(r.newState, [], impl);
    await this.ctx.http.post<{ seq: number; epoch: number }>(`/v1/conversations/${seg(conversationId)}/commits`, {
      deviceId: this.ctx.keys.device.deviceId,
      epoch: Number(state.groupContext.epoch),
      commit: encodeMessage(r.commit),
      ...(r.welcome
        ? { welcome: encodeMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: r.welcome }) }
        : {}),
      groupInfo: encodeMessage({ version: 'mls10', wireformat: 'mls_group_info', groupInfo }),
    });
    // Only once the server ordered it: a refused commit leaves the old state in place.
    await this.ctx.groups.setState(conversationId, r.newState);
    const epoch = Number(r.newState.groupContext.epoch);
    this.ctx.emitter.emit('membership', { conversationId, epoch, change: 'commit' });
    return epoch;
  }
}

function safeText(c: { credentialType: string; identity?: Uint8Array }): string {
  try {
    return c.identity ? fromUtf8(c.identity).slice(0, 100) : c.credentialType;
  } catch {
    return 'not UTF-8';
  }
}
