import { decodeMlsMessage, encodeMlsMessage } from 'ts-mls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { MlsTestDevice } from '../helpers/mls-test-client.js';

/** The Delivery Service's checks of what a member commits: who it may remove, and that the GroupInfo is the commit's. */
describe('conversations over HTTP: what a member may commit', () => {
  let h: Harness;
  let ana: TestPerson, ben: TestPerson, cat: TestPerson;
  let A: MlsTestDevice, B: MlsTestDevice, C: MlsTestDevice;
  let id: string;
  const view = async (p: TestPerson = ana) =>
    (await h.request('GET', `/v1/conversations/${id}`, undefined, p.headers)).body;
  const leafOf = (d: MlsTestDevice, of: MlsTestDevice) => {
    const tree = (
      d.state as unknown as {
        ratchetTree: ({ nodeType: string; leaf: { credential: { identity: Uint8Array } } } | undefined)[];
      }
    ).ratchetTree;
    for (let i = 0; i < tree.length; i += 2) {
      const n = tree[i];
      if (n?.nodeType === 'leaf' && new TextDecoder().decode(n.leaf.credential.identity).endsWith(of.deviceId))
        return i / 2;
    }
    throw new Error('no leaf');
  };

  beforeAll(async () => {
    h = await startSealpost();
    [ana, ben, cat] = await Promise.all([
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['nurse']),
    ]);
    A = await MlsTestDevice.register(h, ana.headers);
    B = await MlsTestDevice.register(h, ben.headers);
    C = await MlsTestDevice.register(h, cat.headers);
    const created = await h.request(
      'POST',
      '/v1/conversations',
      {
        kind: 'group',
        deviceId: A.deviceId,
        members: [
          { kind: 'user', id: ben.userId },
          { kind: 'user', id: cat.userId },
        ],
      },
      ana.headers,
    );
    expect(created.status).toBe(201);
    id = created.body.id;
    await A.createGroup(created.body);
    expect((await A.commit(id, await A.claim([B.deviceId, C.deviceId]))).status).toBe(201);
    await B.sync(id);
    await C.sync(id);
  }, 60_000);
  afterAll(() => h?.close());

  const unchanged = async (post: () => Promise<{ status: number; body: { code?: string } }>) => {
    const before = await view();
    const r = await post();
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('SP_MESSAGING_MLS_INVALID');
    const after = await view();
    expect([after.epoch, after.latestSeq]).toEqual([before.epoch, before.latestSeq]);
  };
  const postAs = (p: TestPerson, body: object) => h.request('POST', `/v1/conversations/${id}/commits`, body, p.headers);

  it("refuses a GroupInfo that is not the commit's own (one that hides a device the commit adds)", async () => {
    const outsider = await staffWithSession(h, ['nurse']);
    const O = await MlsTestDevice.register(h, outsider.headers);
    const withO = await A.prepareCommit([{ proposalType: 'add', add: { keyPackage: await O.freshKeyPackage() } }]);
    const honest = await A.prepareCommit();
    await unchanged(() => postAs(ana, { ...withO.body, groupInfo: honest.body.groupInfo, welcome: undefined }));
    // Nor the other way round: the honest commit with the GroupInfo that lists the outsider.
    await unchanged(() => postAs(ana, { ...honest.body, groupInfo: withO.body.groupInfo }));
  });

  it("refuses a GroupInfo its signer signed over a ratchet tree that is not its context's tree", async () => {
    const a = await A.prepareCommit();
    const b = await B.prepareCommit();
    const gi = (m: string) => {
      const d = decodeMlsMessage(Buffer.from(m, 'base64'), 0)![0];
      if (d.wireformat !== 'mls_group_info') throw new Error('expected a GroupInfo');
      return d.groupInfo;
    };
    // Ana's GroupInfo carrying the tree of Ben's (different) commit, signed again by Ana.
    const forged = await A.signGroupInfo({ ...gi(a.body.groupInfo), extensions: gi(b.body.groupInfo).extensions });
    const body = encodeMlsMessage({ version: 'mls10', wireformat: 'mls_group_info', groupInfo: forged });
    await unchanged(() => postAs(ana, { ...a.body, groupInfo: Buffer.from(body).toString('base64') }));
  });

  it('refuses a commit whose signature does not verify, a private-message commit, and one another device signed', async () => {
    const c = await B.prepareCommit();
    const m = decodeMlsMessage(Buffer.from(c.body.commit, 'base64'), 0)![0];
    if (m.wireformat !== 'mls_public_message') throw new Error('expected a public message');
    m.publicMessage.auth.signature[0] ^= 0xff;
    await unchanged(() => postAs(ben, { ...c.body, commit: Buffer.from(encodeMlsMessage(m)).toString('base64') }));
    const priv = await B.prepareCommit([], { publicMessage: false });
    await unchanged(() => postAs(ben, priv.body));
    // Ben posts Ana's commit as his own device's, and Ana posts her commit with Ben's GroupInfo.
    const a = await A.prepareCommit();
    await unchanged(() => postAs(ben, { ...a.body, deviceId: B.deviceId }));
    await unchanged(() => postAs(ana, { ...a.body, groupInfo: c.body.groupInfo }));
    // The honest commit still goes through, and everyone follows it.
    expect((await postAs(ana, a.body)).status).toBe(201);
    a.apply();
    await B.sync(id);
    await C.sync(id);
    expect((await B.send(id, 'after the refused ones')).status).toBe(201);
    expect(await C.sync(id)).toEqual(['after the refused ones']);
    await A.sync(id);
  });

  it("refuses a member's commit that removes another roster member's device, and changes nothing", async () => {
    const before = await view();
    const c = await B.prepareCommit([{ proposalType: 'remove', remove: { removed: leafOf(B, C) } }]);
    const r = await h.request('POST', `/v1/conversations/${id}/commits`, c.body, ben.headers);
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('SP_CONVERSATION_FORBIDDEN');
    const after = await view();
    expect(after.epoch).toBe(before.epoch);
    expect(after.latestSeq).toBe(before.latestSeq);
    // Cat is still served and still reads what the others send.
    const sent = await A.send(id, 'still here');
    expect(sent.status).toBe(201);
    expect(await C.sync(id)).toEqual(['still here']);
    await B.sync(id);
  });

  it('lets a member commit the removal the server proposed when a person leaves the roster', async () => {
    const del = await h.request('DELETE', `/v1/conversations/${id}/members/user/${cat.userId}`, undefined, ana.headers);
    expect(del.status).toBe(204);
    await B.sync(id);
    await A.sync(id);
    expect((await B.commit(id)).status).toBe(201);
    await A.sync(id);
    expect((await view()).members.map((m: { id: string }) => m.id)).not.toContain(cat.userId);
  });
});

describe('patient conversations over HTTP: what the roster sync writes, and for whom', () => {
  let h: Harness;
  let ana: TestPerson, ben: TestPerson, stranger: TestPerson;
  let A: MlsTestDevice, B: MlsTestDevice, S: MlsTestDevice;
  let id: string;
  const suite = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
  const available = async () =>
    (await h.request('GET', `/v1/messaging/devices/${B.deviceId}/key-packages`, undefined, ben.headers)).body.counts[
      suite
    ].available;
  const latest = async () => (await h.request('GET', `/v1/conversations/${id}`, undefined, ana.headers)).body.latestSeq;

  beforeAll(async () => {
    h = await startSealpost();
    [ana, ben, stranger] = await Promise.all([
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['physician']),
      staffWithSession(h, ['nurse']),
    ]);
    A = await MlsTestDevice.register(h, ana.headers);
    B = await MlsTestDevice.register(h, ben.headers, { count: 5 });
    S = await MlsTestDevice.register(h, stranger.headers);
    expect((await h.request('PUT', '/v1/patients/p-sync', samplePatient())).status).toBe(201);
    expect((await h.request('PUT', `/v1/patients/p-sync/care-team/${ana.userId}`, {})).status).toBe(201);
    const created = await h.request(
      'POST',
      '/v1/conversations',
      { kind: 'patient', deviceId: A.deviceId, patientId: 'p-sync' },
      ana.headers,
    );
    expect(created.status).toBe(201);
    id = created.body.id;
    await A.createGroup(created.body);
    expect((await A.commit(id)).status).toBe(201);
  }, 60_000);
  afterAll(() => h?.close());

  it('lets no outsider who knows the id make the server sync the roster: 404, nothing written, no package claimed', async () => {
    expect((await h.request('PUT', `/v1/patients/p-sync/care-team/${ben.userId}`, {})).status).toBe(201);
    const before = await latest();
    expect((await S.events(id)).status).toBe(404);
    const post = await h.request(
      'POST',
      `/v1/conversations/${id}/messages`,
      { deviceId: S.deviceId, epoch: 1, message: 'AAAA', clientMessageId: 'x' },
      stranger.headers,
    );
    expect(post.status).toBe(404);
    expect(await latest()).toBe(before);
    expect(await available()).toBe(5);
  });

  it('proposes a device the commits keep leaving out a bounded number of times, not on every commit', async () => {
    // A member's pull syncs the roster: Ben's device is proposed once (one package claimed).
    expect((await A.events(id)).status).toBe(200);
    expect(await available()).toBe(4);
    // Ana commits three times without the proposal: it is proposed again once, then no more.
    for (let i = 0; i < 3; i++) expect((await A.commit(id)).status).toBe(201);
    expect(await available()).toBe(3);
    const proposals = (await A.events(id, 0)).items.filter((e) => e.kind === 'proposal');
    expect(proposals).toHaveLength(2);
  });
});
