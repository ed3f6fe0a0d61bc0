import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acceptAll,
  createCommit,
  createGroupInfoWithExternalPubAndRatchetTree,
  emptyPskIndex,
  processMessage,
} from 'ts-mls';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { startSealpost, type Harness } from '../../test/helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../../test/helpers/identity.js';
import { sdkClient, trustingFetch, type TestClient } from './helpers/sdk-clients.js';
import { insertGhostDevice } from './helpers/ghost-device.js';
import { decodeMessage, encodeMessage, loadState, suiteImpl } from '../src/messaging/mls.js';
import { Http } from '../src/messaging/http.js';
import { MessagingClient } from '../src/messaging/messaging-client.js';
import { IndexedDbKeyStore } from '../src/keystore/indexeddb-key-store.js';
import { POST_QUANTUM_CIPHER_SUITE, type CipherSuiteName } from '../src/cipher-suites.js';
import type { ConversationEvent } from '../src/messaging/wire-types.js';

/**
 * SDK clients through the REAL server, around group membership: the browser key store, the
 * post-quantum suite, a remote wipe, concurrent changes (stale epochs), and a device the server
 * slips into the database without an audit-log entry, refused by every client.
 */
describe('group membership between SDK clients through the real server', () => {
  let h: Harness;
  let ana: TestPerson, ben: TestPerson, cai: TestPerson;
  let a: TestClient, b: TestClient, c: TestClient;

  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_WORKER: 'false' });
    [ana, ben, cai] = [
      await staffWithSession(h, ['nurse']),
      await staffWithSession(h, ['physician']),
      await staffWithSession(h, ['nurse']),
    ];
    [a, b, c] = [
      await sdkClient(h, ana.token, 'ana'),
      await sdkClient(h, ben.token, 'ben'),
      await sdkClient(h, cai.token, 'cai'),
    ];
  });
  afterAll(async () => {
    for (const t of [a, b, c]) t?.client.close();
    await h?.close();
  });

  it('works over the browser key store (IndexedDB, here fake-indexeddb)', async () => {
    (globalThis as { IDBKeyRange?: unknown }).IDBKeyRange ??= IDBKeyRange;
    const hal = await staffWithSession(h, ['nurse']);
    const keyStore = await IndexedDbKeyStore.open({ indexedDB: new IDBFactory(), name: 'hal' });
    const open = () =>
      MessagingClient.open({ baseUrl: h.url, token: hal.token, keyStore, fetch: trustingFetch(h.cert) });
    const hc = await open();
    await hc.register('Browser', 'web');
    const dm = await a.client.createConversation({ kind: 'direct', members: [{ kind: 'user', id: hal.userId }] });
    const sent = await a.client.send(dm.id, 'hello browser');
    const again = await open();
    expect(again.device?.deviceId).toBe(hc.device!.deviceId);
    await again.sync(dm.id);
    expect((await again.messages(dm.id)).map((m) => m.seq)).toEqual([sent.seq]);
    keyStore.close();
  });

  it('converses in the post-quantum suite (X-Wing) as well', async () => {
    const pq = await a.client.createConversation({
      kind: 'direct',
      members: [{ kind: 'user', id: ben.userId }],
      cipherSuite: POST_QUANTUM_CIPHER_SUITE,
    });
    expect(pq.cipherSuite).toBe(POST_QUANTUM_CIPHER_SUITE);
    await b.client.sync(pq.id);
    const sent = await b.client.send(pq.id, 'quantum-safe hello');
    await a.client.sync(pq.id);
    expect((await a.client.messages(pq.id)).find((m) => m.seq === sent.seq)?.body).toBe('quantum-safe hello');
  });

  it('a remote wipe takes the device out of its groups: the server proposes it, a member commits, it reads nothing after', async () => {
    const gil = await staffWithSession(h, ['nurse']);
    const g = await sdkClient(h, gil.token, 'gil');
    const group = await a.client.createConversation({ kind: 'direct', members: [{ kind: 'user', id: gil.userId }] });
    await g.client.sync(group.id);
    const before = await a.client.send(group.id, 'before the wipe');
    await g.client.sync(group.id);
    expect((await g.client.messages(group.id)).map((m) => m.seq)).toContain(before.seq);

    expect((await h.request('POST', `/v1/users/${gil.userId}/revoke-sessions`)).status).toBeLessThan(300);
    await a.client.sync(group.id); // processes the server's Remove proposal and commits it
    const after = await a.client.send(group.id, 'after the wipe');
    const http = new Http({ baseUrl: h.url, token: ana.token, fetch: trustingFetch(h.cert) });
    const events = await http.get<{ items: ConversationEvent[] }>(
      `/v1/conversations/${group.id}/events?deviceId=${a.client.device!.deviceId}&after=0&limit=100`,
    );
    expect(events.items.filter((e) => e.kind === 'proposal')).toHaveLength(1);
    const state = loadState(
      (await g.store.get(`group/${group.id}`))!,
      (await import('ts-mls/clientConfig.js')).defaultClientConfig,
    );
    const ev = events.items.find((e) => e.seq === after.seq)!;
    const m = decodeMessage(ev.data!);
    if (m.wireformat !== 'mls_private_message') throw new Error('not a private message');
    await expect(
      processMessage(
        m,
        state,
        emptyPskIndex,
        acceptAll,
        await suiteImpl(state.groupContext.cipherSuite as CipherSuiteName),
      ),
    ).rejects.toThrow();
  });

  it('two members changing the group at once both succeed: the later commit catches up and is made again', async () => {
    const group = await a.client.createConversation({
      kind: 'group',
      members: [
        { kind: 'user', id: ben.userId },
        { kind: 'user', id: cai.userId },
      ],
    });
    await b.client.sync(group.id);
    const [eve, fay] = [await staffWithSession(h, ['nurse']), await staffWithSession(h, ['nurse'])];
    const [e, f] = [await sdkClient(h, eve.token, 'eve'), await sdkClient(h, fay.token, 'fay')];
    await Promise.all([
      a.client.addMember(group.id, { kind: 'user', id: eve.userId }),
      b.client.addMember(group.id, { kind: 'user', id: fay.userId }),
    ]);
    const sent = await a.client.send(group.id, 'everyone here?');
    for (const t of [b, c, e, f]) {
      await t.client.sync(group.id);
      expect((await t.client.messages(group.id)).map((m) => m.seq)).toContain(sent.seq);
    }
    const view = await b.client.conversations().then((cs) => cs.find((x) => x.id === group.id)!);
    expect(view.members.map((m) => m.id).sort()).toEqual(
      [ana.userId, ben.userId, cai.userId, eve.userId, fay.userId].sort(),
    );
  });

  it('refuses a device the server wrote into the database without an audit-log entry', async () => {
    const dora = await staffWithSession(h, ['nurse']);
    const ghost = await insertGhostDevice(h, dora);
    // 1. Adding the person: the ghost's claimed key package fails key transparency; it is left out.
    const view = await a.client.createConversation({ kind: 'direct', members: [{ kind: 'user', id: dora.userId }] });
    expect(a.events['device-refused']).toContainEqual(
      expect.objectContaining({
        conversationId: view.id,
        error: expect.objectContaining({ deviceId: ghost.deviceId }),
      }),
    );
    expect(view.epoch).toBe(0);

    // 2. A commit that adds it anyway (a client tricked or tampered with) is refused by every other member.
    const group = await a.client.createConversation({
      kind: 'group',
      members: [
        { kind: 'user', id: ben.userId },
        { kind: 'user', id: cai.userId },
      ],
    });
    await b.client.sync(group.id);
    await c.client.sync(group.id);
    const api = new Http({ baseUrl: h.url, token: ana.token, fetch: trustingFetch(h.cert) });
    await api.post(`/v1/conversations/${group.id}/members`, { person: { kind: 'user', id: dora.userId } });
    const state = loadState(
      (await a.store.get(`group/${group.id}`))!,
      (await import('ts-mls/clientConfig.js')).defaultClientConfig,
    );
    const suite = state.groupContext.cipherSuite as CipherSuiteName;
    const impl = await suiteImpl(suite);
    const kp = decodeMessage(ghost.keyPackage(suite));
    if (kp.wireformat !== 'mls_key_package') throw new Error('fixture');
    const r = await createCommit(
      { state, cipherSuite: impl },
      {
        extraProposals: [{ proposalType: 'add', add: { keyPackage: kp.keyPackage } }],
        ratchetTreeExtension: true,
        wireAsPublicMessage: true,
      },
    );
    const gi = await createGroupInfoWithExternalPubAndRatchetTree(r.newState, [], impl);
    await api.post(`/v1/conversations/${group.id}/commits`, {
      deviceId: a.client.device!.deviceId,
      epoch: Number(state.groupContext.epoch),
      commit: encodeMessage(r.commit),
      welcome: encodeMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: r.welcome! }),
      groupInfo: encodeMessage({ version: 'mls10', wireformat: 'mls_group_info', groupInfo: gi }),
    });
    for (const t of [b, c]) {
      await t.client.sync(group.id);
      expect(await t.client.blocked(group.id)).toMatch(new RegExp(`device ${ghost.deviceId} is not trusted`));
      expect(t.events['device-refused']).toContainEqual(
        expect.objectContaining({
          conversationId: group.id,
          error: expect.objectContaining({ deviceId: ghost.deviceId }),
        }),
      );
      await expect(t.client.send(group.id, 'to the ghost?')).rejects.toThrow(/blocked/);
    }
  });

  it('refuses a commit that adds a verified device of a person the server’s roster does not list', async () => {
    // Key transparency passes for Eli's device; only the roster says Eli does not belong here.
    const eli = await staffWithSession(h, ['nurse']);
    const e = await sdkClient(h, eli.token, 'eli');
    try {
      const group = await a.client.createConversation({ kind: 'group', members: [{ kind: 'user', id: ben.userId }] });
      await b.client.sync(group.id);
      // Ana adds Eli (the server accepts: Eli is on the roster then), and Eli is taken off the roster
      // before Ben has seen the commit: the roster Ben fetches does not list him.
      await a.client.addMember(group.id, { kind: 'user', id: eli.userId });
      const api = new Http({ baseUrl: h.url, token: ana.token, fetch: trustingFetch(h.cert) });
      await api.request('DELETE', `/v1/conversations/${group.id}/members/user/${eli.userId}`);
      await b.client.sync(group.id);
      expect(await b.client.blocked(group.id)).toMatch(/not on the conversation’s roster/);
      expect(b.events['device-refused']).toContainEqual(
        expect.objectContaining({
          conversationId: group.id,
          error: expect.objectContaining({ deviceId: e.client.device!.deviceId }),
        }),
      );
      await expect(b.client.send(group.id, 'to an outsider?')).rejects.toThrow(/blocked/);
    } finally {
      e.client.close();
    }
  });
});
