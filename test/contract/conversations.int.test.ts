import { join } from 'node:path';
import { expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import {
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  createApplicationMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeExternalSender,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  type ClientState,
  type KeyPackage,
  type PrivateKeyPackage,
} from 'ts-mls';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../../src/crypto/envelope-cipher.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { buildConversations } from '../../src/messaging/conversation-module.js';
import { ExternalSenders } from '../../src/messaging/external-sender.js';
import { deviceIdentity, type DeviceDirectory, type MessagingDevice } from '../../src/messaging/messaging-types.js';
import type { Caller } from '../../src/messaging/conversation-access.js';
import { describeEachBackend, freshDatabases, migratedStore } from '../helpers/backends.js';

const T = 't';
const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' as const;
const b = (m: Parameters<typeof encodeMlsMessage>[0]) => encodeMlsMessage(m);

interface Member {
  deviceId: string;
  userId: string;
  caller: Caller;
  kp: { pub: KeyPackage; priv: PrivateKeyPackage };
  device: MessagingDevice;
  state?: ClientState;
}

async function member(n: string): Promise<Member> {
  const cs = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE));
  const keys = await cs.signature.keygen();
  const deviceId = `d-${n}`;
  const userId = `u-${n}`;
  const cred = { credentialType: 'basic' as const, identity: new TextEncoder().encode(deviceIdentity(T, deviceId)) };
  const k = await generateKeyPackageWithKey(cred, defaultCapabilities(), defaultLifetime, [], keys, cs);
  return {
    deviceId,
    userId,
    caller: { tenantId: T, actor: `user:${userId}`, person: { kind: 'user', id: userId }, roles: ['nurse'] },
    kp: { pub: k.publicPackage, priv: k.privatePackage },
    device: {
      tenantId: T,
      deviceId,
      person: { kind: 'user', id: userId },
      signatureKey: keys.publicKey,
      status: 'active',
      registeredAt: 0,
      revokedAt: null,
    },
  };
}

/** A fake of the devices part: the members' devices, one key package each. */
function directory(members: Member[]): DeviceDirectory {
  const by = new Map(members.map((m) => [m.deviceId, m]));
  return {
    device: async (_tx, _t, id) => by.get(id)?.device ?? null,
    activeDevices: async (_tx, _t, p) => members.filter((m) => m.userId === p.id).map((m) => m.device),
    claimKeyPackages: async (_tx, _t, ids) =>
      ids
        .filter((id) => by.has(id))
        .map((id) => ({
          deviceId: id,
          keyPackage: b({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: by.get(id)!.kp.pub }),
          lastResort: false,
        })),
  };
}

describeEachBackend('conversations in the store', (backend) => {
  const fresh = freshDatabases(backend);

  async function setup(names: string[]) {
    const db = await fresh({ prefix: 'sealpost-conv-', migrated: true });
    const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
    const cipher = new EnvelopeCipher(keyring);
    const members = await Promise.all(names.map(member));
    const first = await migratedStore(db);
    const stores: KyselyStore[] = backend === 'postgres' ? [first, db.open()] : [first];
    let now = 1_790_000_000_000;
    const deleted: number[][] = [];
    const published: number[] = [];
    const nodes = stores.map((store) =>
      buildConversations({
        store,
        cipher,
        clock: () => new Date(now),
        newId: uuidv7,
        devices: directory(members),
        attachments: {
          attach: async () => {},
          deleteForMessages: async (_tx, _t, _c, seqs) => (deleted.push([...seqs]), seqs.length),
        },
        feed: { published: (_t, _c, seq) => void published.push(seq) },
        externalSenders: new ExternalSenders({ cipher, clock: () => new Date(now) }),
        patientRef: (_t, p) => `ref-${p}`,
      }),
    );
    await first.transaction(async (tx) => {
      await tx.tenants.ensure(T, T, now);
      for (const m of members)
        await tx.users.insert({
          id: m.userId,
          tenant_id: T,
          email: `${m.userId}@x.test`,
          display_name: m.userId,
          roles: 'nurse',
          status: 'active',
          password_hash: null,
          locked_until: null,
          sso_issuer: null,
          sso_subject: null,
          created_at: now,
          updated_at: now,
        });
    });
    const cs = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE));
    /** The first member creates a group with all others, commits the adds; the others join. */
    async function group() {
      const [a, ...others] = members;
      const view = await nodes[0].conversations.create(a.caller, {
        kind: 'group',
        deviceId: a.deviceId,
        members: others.map((o) => ({ kind: 'user' as const, id: o.userId })),
      });
      const external = encodeExternalSender({
        credential: { credentialType: 'basic', identity: Buffer.from(view.externalSender.identity, 'base64') },
        signaturePublicKey: Buffer.from(view.externalSender.signatureKey, 'base64'),
      });
      a.state = await createGroup(
        new TextEncoder().encode(view.id),
        a.kp.pub,
        a.kp.priv,
        [{ extensionType: 'external_senders', extensionData: external }],
        cs,
      );
      await commit(a, view.id, others);
      for (const o of others) o.state = await joinGroup(lastWelcome!, o.kp.pub, o.kp.priv, emptyPskIndex, cs);
      return view.id;
    }
    let lastWelcome: Parameters<typeof joinGroup>[0] | undefined;
    async function prepare(m: Member, add: Member[] = []) {
      const r = await createCommit(
        { state: m.state!, cipherSuite: cs },
        {
          extraProposals: add.map((o) => ({ proposalType: 'add' as const, add: { keyPackage: o.kp.pub } })),
          ratchetTreeExtension: true,
          wireAsPublicMessage: true,
        },
      );
      const gi = await createGroupInfoWithExternalPubAndRatchetTree(r.newState, [], cs);
      if (r.welcome) lastWelcome = r.welcome;
      return {
        body: {
          deviceId: m.deviceId,
          epoch: Number(m.state!.groupContext.epoch),
          commit: b(r.commit),
          welcome: r.welcome ? b({ version: 'mls10', wireformat: 'mls_welcome', welcome: r.welcome }) : undefined,
          groupInfo: b({ version: 'mls10', wireformat: 'mls_group_info', groupInfo: gi }),
        },
        apply: () => void (m.state = r.newState),
      };
    }
    async function commit(m: Member, id: string, add: Member[] = [], node = 0) {
      const p = await prepare(m, add);
      const out = await nodes[node].commits.commit(m.caller, id, p.body);
      p.apply();
      return out;
    }
    async function message(m: Member, id: string, text: string, node = 0) {
      const r = await createApplicationMessage(m.state!, new TextEncoder().encode(text), cs);
      m.state = r.newState;
      return nodes[node].commits.message(m.caller, id, {
        deviceId: m.deviceId,
        epoch: Number(m.state.groupContext.epoch),
        message: b({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: r.privateMessage }),
        clientMessageId: uuidv7(),
      });
    }
    return {
      members,
      nodes,
      stores,
      deleted,
      published,
      group,
      prepare,
      commit,
      message,
      advance: (ms: number) => void (now += ms),
      close: () => Promise.all(stores.map((s) => s.close())),
    };
  }

  it('accepts exactly one of two commits posted for the same epoch at once; the other is told the current epoch', async () => {
    const s = await setup(['a', 'b', 'c']);
    const id = await s.group();
    const [, bm, cm] = s.members;
    const [pb, pc] = [await s.prepare(bm), await s.prepare(cm)];
    const results = await Promise.allSettled([
      s.nodes[0].commits.commit(bm.caller, id, pb.body),
      s.nodes[s.nodes.length - 1].commits.commit(cm.caller, id, pc.body),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0].reason).toMatchObject({ code: 'SP_MESSAGING_EPOCH_STALE', currentEpoch: 2 });
    const conv = await s.stores[0].read.conversations.get(T, id);
    expect(conv).toMatchObject({ epoch: 2, latest_seq: 3 });
    await s.close();
  });

  it('numbers concurrent messages without gaps or repeats, and serves each device its window only', async () => {
    const s = await setup(['a', 'b', 'c']);
    const id = await s.group();
    const [am, bm, cm] = s.members;
    const seqs: number[] = [];
    // Messages are encrypted one after another (MLS state), then posted at once across nodes.
    const posts = [];
    for (let i = 0; i < 8; i++) posts.push(s.message(i % 2 ? am : bm, id, `m${i}`, i % s.nodes.length));
    for (const r of await Promise.all(posts)) seqs.push(r.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    // Live delivery is told of each, after its commit (the welcome came with the commit at seq 2).
    expect([...s.published].sort((x, y) => x - y)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // The welcome (seq 2) goes to the added devices only.
    const forA = await s.nodes[0].events.eventsFor(T, id, am.deviceId, 0, 100);
    expect(forA.map((e) => e.kind)).toEqual(['commit', ...Array(8).fill('application')]);
    const forC = await s.nodes[0].events.eventsFor(T, id, cm.deviceId, 0, 100);
    expect(forC[0]).toMatchObject({ seq: 2, kind: 'welcome' });
    // Removing c: it reads nothing after the removal, and the server proposes its MLS removal.
    await s.nodes[0].conversations.removeMember(am.caller, id, { kind: 'user', id: cm.userId });
    await s.message(bm, id, 'after');
    const later = await s.nodes[0].events.eventsFor(T, id, cm.deviceId, 10, 100);
    expect(later).toEqual([]);
    const forB = await s.nodes[0].events.eventsFor(T, id, bm.deviceId, 10, 100);
    expect(forB.map((e) => [e.kind, e.sender])).toEqual([
      ['proposal', { external: true }],
      ['application', { deviceId: bm.deviceId }],
    ]);
    expect(await s.nodes[0].events.memberDevices(T, id)).toEqual([am.deviceId, bm.deviceId].sort());
    await s.close();
  });

  it('creates one external sender key per tenant and suite when several nodes ask at once', async () => {
    const s = await setup(['a']);
    const senders = s.nodes.map((n) => n.deps.externalSenders);
    await Promise.all(
      Array.from({ length: 6 }, (_, i) => senders[i % senders.length].prepare(s.stores[i % s.stores.length], T, SUITE)),
    );
    const keys = await Promise.all(s.stores.map((st) => senders[0].publicOf(st.read, T, SUITE)));
    expect(new Set(keys.map((k) => Buffer.from(k.signatureKey).toString('hex'))).size).toBe(1);
    await s.close();
  });

  it('lets only the sender recall a message: its ciphertext and attachments go, a recall event follows', async () => {
    const s = await setup(['a', 'b']);
    const id = await s.group();
    const [am, bm] = s.members;
    const { seq } = await s.message(bm, id, 'oops');
    await expect(s.nodes[0].recall.recall(am.caller, id, seq, am.deviceId)).rejects.toMatchObject({
      code: 'SP_MESSAGING_RECALL_FORBIDDEN',
    });
    const r = await s.nodes[0].recall.recall(bm.caller, id, seq, bm.deviceId);
    expect(r).toEqual({ seq: seq + 1, recalledSeq: seq });
    expect(s.deleted).toEqual([[seq]]);
    const events = await s.nodes[0].events.eventsFor(T, id, am.deviceId, seq - 1, 10);
    expect(events.map((e) => [e.kind, e.data, e.recalledSeq])).toEqual([
      ['application', null, null],
      ['recall', null, seq],
    ]);
    await expect(s.nodes[0].recall.recall(bm.caller, id, seq, bm.deviceId)).rejects.toMatchObject({
      code: 'SP_MESSAGING_MESSAGE_NOT_FOUND',
    });
    await s.close();
  });

  it('purges ciphertext older than the tenant default lifespan, with its attachments, and keeps the order and hashes', async () => {
    const s = await setup(['a', 'b']);
    const id = await s.group();
    const [am, bm] = s.members;
    await s.nodes[0].policy.put(
      { tenantId: T, actor: 'admin' },
      { requirePostQuantum: false, defaultLifespanSeconds: 3600 },
    );
    const old = await s.message(am, id, 'old');
    s.advance(2 * 3600_000);
    const fresh = await s.message(bm, id, 'fresh');
    const swept = await s.nodes[0].sweeper.sweep();
    // The commit, the welcome and the old message are past the lifespan; the fresh one stays.
    expect(swept.purged).toBe(3);
    const events = await s.nodes[0].events.eventsFor(T, id, am.deviceId, 0, 10);
    expect(events.find((e) => e.seq === old.seq)!.data).toBeNull();
    expect(events.find((e) => e.seq === fresh.seq)!.data).not.toBeNull();
    expect(s.deleted.flat()).toContain(old.seq);
    expect((await s.nodes[0].sweeper.sweep()).purged).toBe(0);
    await s.close();
  });
});
