import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
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
