import { audit } from '../core/context.js';
import { AppError } from '../core/errors.js';
import type { StoreTx } from '../store/store.js';
import {
  DEFAULT_CIPHER_SUITE,
  POST_QUANTUM_CIPHER_SUITE,
  samePerson,
  type CipherSuiteName,
  type Person,
} from './messaging-types.js';
import {
  callerDevice,
  lockConversation,
  memberConversation,
  patientRoster,
  personExists,
  personKey,
  type Caller,
  type ConversationDeps,
} from './conversation-access.js';
import { conversationView, type ConversationView } from './conversation-view.js';
import { removeDevices } from './conversation-roster.js';
import { readPolicy } from './messaging-policy.js';
import { withArchiveMembers } from './archive-policy.js';

export interface CreateConversation {
  kind: 'direct' | 'group' | 'patient';
  deviceId: string;
  members?: Person[];
  patientId?: string;
  cipherSuite?: CipherSuiteName;
  lifespanSeconds?: number;
}

export const MAX_GROUP_OTHERS = 100;

/**
 * Conversations and their rosters (who may be in the MLS group). The group itself is created and
 * changed by the members' clients; the server starts a conversation at epoch 0 with the creator's
 * device as its only member and checks every later commit against the roster.
 */
export class ConversationService {
  constructor(private readonly deps: ConversationDeps) {}

  async create(c: Caller, input: CreateConversation): Promise<ConversationView> {
    const { store, clock, newId } = this.deps;
    const now = clock();
    const pre = await readPolicy(store.read, c.tenantId);
    await this.deps.externalSenders.prepare(
      store,
      c.tenantId,
      input.cipherSuite ?? (pre.requirePostQuantum ? POST_QUANTUM_CIPHER_SUITE : DEFAULT_CIPHER_SUITE),
    );
    const view = await store.transaction(async (tx) => {
      await callerDevice(tx, this.deps, c, input.deviceId);
      // The tenant's archive member, when the policy has archive on (docs/archiver.md): a roster member like any.
      const roster = await withArchiveMembers(tx, c.tenantId, await this.initialRoster(tx, c, input));
      const policy = await readPolicy(tx, c.tenantId);
      const suite = input.cipherSuite ?? (policy.requirePostQuantum ? POST_QUANTUM_CIPHER_SUITE : DEFAULT_CIPHER_SUITE);
      if (policy.requirePostQuantum && suite !== POST_QUANTUM_CIPHER_SUITE)
        throw new AppError('SP_MESSAGING_CIPHER_SUITE_REFUSED');
      const id = newId();
      await tx.conversations.insert({
        tenant_id: c.tenantId,
        id,
        kind: input.kind,
        cipher_suite: suite,
        epoch: 0,
        latest_seq: 0,
        creator_kind: c.person.kind,
        creator_id: c.person.id,
        patient_id: input.kind === 'patient' ? input.patientId! : null,
        lifespan_seconds: input.lifespanSeconds ?? null,
        group_info: null,
        created_at: now.getTime(),
      });
      for (const p of roster)
        await tx.conversations.addMember({
          tenant_id: c.tenantId,
          conversation_id: id,
          person_kind: p.kind,
          person_id: p.id,
          added_at: now.getTime(),
          removed_at: null,
        });
      // Epoch 0: the creator's device alone, at leaf 0; it reads everything from the first event.
      await tx.conversations.upsertDevice({
        tenant_id: c.tenantId,
        conversation_id: id,
        device_id: input.deviceId,
        person_kind: c.person.kind,
        person_id: c.person.id,
        leaf_index: 0,
        from_seq: 1,
        until_seq: null,
        cursor: 0,
      });
      await audit(tx, c, now, {
        action: 'conversation.created',
        targetType: 'conversation',
        targetId: id,
        patientRef: input.kind === 'patient' ? this.deps.patientRef(c.tenantId, input.patientId!) : null,
        details: { kind: input.kind, cipherSuite: suite, members: roster.length, deviceId: input.deviceId },
      });
      return conversationView(tx, this.deps, (await tx.conversations.get(c.tenantId, id))!);
    });
    await store.durable();
    return view;
  }

  async get(c: Caller, id: string): Promise<ConversationView> {
    return this.deps.store.transaction(async (tx) =>
      conversationView(tx, this.deps, await memberConversation(tx, c, id)),
    );
  }

  /** The caller's conversations, newest first; `cursor` is the previous page's `nextCursor`. */
  async list(c: Caller, o: { cursor?: string; limit: number }) {
    let before: { createdAt: number; id: string } | undefined;
    if (o.cursor) {
      const m = /^(\d+):(.+)$/.exec(Buffer.from(o.cursor, 'base64url').toString('utf8'));
      if (!m) throw new AppError('SP_REQ_VALIDATION', 'cursor: is invalid');
      before = { createdAt: Number(m[1]), id: m[2] };
    }
    return this.deps.store.transaction(async (tx) => {
      const rows = await tx.conversations.listForPerson(c.tenantId, c.person.kind, c.person.id, {
        before,
        limit: o.limit + 1,
      });
      const page = rows.slice(0, o.limit);
      const items = [];
      for (const r of page) items.push(await conversationView(tx, this.deps, r));
      const last = page[page.length - 1];
      const nextCursor =
        rows.length > o.limit && last ? Buffer.from(`${last.created_at}:${last.id}`).toString('base64url') : null;
      return { items, nextCursor };
    });
  }

  /** Adds a staff member to a group (any member may); the committer then adds their devices. */
  async addMember(c: Caller, id: string, person: Person): Promise<ConversationView> {
    const { store, clock } = this.deps;
    const now = clock();
    const view = await store.transaction(async (tx) => {
      await memberConversation(tx, c, id);
      const conv = await lockConversation(tx, c.tenantId, id);
      if (conv.kind !== 'group') throw new AppError('SP_CONVERSATION_MEMBERS_INVALID', 'only groups take new members');
      if (person.kind !== 'user' || !(await personExists(tx, c.tenantId, person)))
        throw new AppError('SP_CONVERSATION_MEMBERS_INVALID', 'person: not an active staff user of the tenant');
      const row = { tenant_id: c.tenantId, conversation_id: id, person_kind: person.kind, person_id: person.id };
      if (!(await tx.conversations.addMember({ ...row, added_at: now.getTime(), removed_at: null })))
        throw new AppError('SP_CONVERSATION_MEMBERS_INVALID', 'person: already a member');
      await audit(tx, c, now, {
        action: 'conversation.member.added',
        targetType: 'conversation',
        targetId: id,
        details: { personKind: person.kind, personId: person.id },
      });
      return conversationView(tx, this.deps, conv);
    });
    await store.durable();
    return view;
  }

  /**
   * Removes a person from a group (themself, or anyone when the caller created the group): their
   * devices get no later event at once, and the server proposes their removal from the MLS group.
   */
  async removeMember(c: Caller, id: string, person: Person): Promise<void> {
    const { store, clock } = this.deps;
    const now = clock();
    const last = await store.transaction(async (tx) => {
      await memberConversation(tx, c, id);
      const conv = await lockConversation(tx, c.tenantId, id);
      const self = samePerson(c.person, person);
      const creator = conv.creator_kind === c.person.kind && conv.creator_id === c.person.id;
      if (conv.kind !== 'group' || (!self && !creator)) throw new AppError('SP_CONVERSATION_FORBIDDEN');
      if (!(await tx.conversations.removeMember(c.tenantId, id, person.kind, person.id, now.getTime())))
        throw new AppError('SP_CONVERSATION_NOT_FOUND');
      const devices = (await tx.conversations.devices(c.tenantId, id))
        .filter((d) => d.person_kind === person.kind && d.person_id === person.id)
        .map((d) => d.device_id);
      const seq = await removeDevices(tx, this.deps, conv, devices, now.getTime());
      await audit(tx, c, now, {
        action: 'conversation.member.removed',
        targetType: 'conversation',
        targetId: id,
        details: { personKind: person.kind, personId: person.id, devices: devices.length },
      });
      return seq;
    });
    await store.durable();
    if (last !== null) this.deps.feed.published(c.tenantId, id, last);
  }

  private async initialRoster(tx: StoreTx, c: Caller, input: CreateConversation): Promise<Person[]> {
    const others = (input.members ?? []).filter((p) => !samePerson(p, c.person));
    if (new Set(others.map(personKey)).size !== others.length)
      throw new AppError('SP_CONVERSATION_MEMBERS_INVALID', 'members: a person is listed twice');
    if (input.kind === 'patient') {
      if (!input.patientId) throw new AppError('SP_CONVERSATION_MEMBERS_INVALID', 'patientId: required');
      const mine =
        c.person.kind === 'patient'
          ? c.patientId === input.patientId
          : await tx.access.isCareTeamMember(c.tenantId, input.patientId, c.person.id);
      if (!mine) throw new AppError('SP_AUTH_NO_RELATIONSHIP');
      return patientRoster(tx, c.tenantId, input.patientId);
    }
    if (input.patientId) throw new AppError('SP_CONVERSATION_MEMBERS_INVALID', 'patientId: patient conversations only');
    // Patients message their care team in patient conversations only; direct and group are staff to staff.
    if (c.person.kind !== 'user')
      throw new AppError('SP_CONVERSATION_MEMBERS_INVALID', 'kind: patients open patient conversations');
    if (input.kind === 'direct' && others.length !== 1)
      throw new AppError('SP_CONVERSATION_MEMBERS_INVALID', 'members: direct needs exactly one other person');
    if (input.kind === 'group' && (others.length < 1 || others.length > MAX_GROUP_OTHERS))
      throw new AppError('SP_CONVERSATION_MEMBERS_INVALID', `members: a group needs 1-${MAX_GROUP_OTHERS} others`);
    for (const p of others)
      if (p.kind !== 'user' || !(await personExists(tx, c.tenantId, p)))
        throw new AppError('SP_CONVERSATION_MEMBERS_INVALID', 'members: not an active staff user of the tenant');
    return [c.person, ...others];
  }
}
