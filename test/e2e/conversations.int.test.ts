import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { MlsTestDevice } from '../helpers/mls-test-client.js';
import { createTenant } from '../../src/auth/tenants.js';

/** Every byte under the data directory (the SQLite database and its WAL). */
function allBytes(dir: string): Buffer {
  return Buffer.concat(
    readdirSync(dir).map((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? allBytes(p) : readFileSync(p);
    }),
  );
}

const MARKER = `PLAINTEXT-MARKER-${randomBytes(6).toString('hex')}`;

describe('conversations over HTTP with real MLS clients', () => {
  let h: Harness;
  let ana: TestPerson;
  let ben: TestPerson;
  let cal: TestPerson;
  let dan: TestPerson;
  let stranger: TestPerson;
  let otherTenant: TestPerson;
  let A: MlsTestDevice;
  let B: MlsTestDevice;
  let C: MlsTestDevice;
  let D: MlsTestDevice;
  let convId: string;

  beforeAll(async () => {
    h = await startSealpost();
    [ana, ben, cal, dan, stranger] = await Promise.all([
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['physician']),
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['nurse']),
    ]);
    await createTenant(h.app.store, 'tenant-b', 'Other organisation', new Date());
    otherTenant = await staffWithSession(h, ['nurse'], 'tenant-b');
    A = await MlsTestDevice.register(h, ana.headers);
    B = await MlsTestDevice.register(h, ben.headers);
    C = await MlsTestDevice.register(h, cal.headers);
    D = await MlsTestDevice.register(h, dan.headers);
  }, 60_000);
  afterAll(() => h?.close());

  it('lets three members exchange messages that each of the others reads', async () => {
    const created = await h.request(
      'POST',
      '/v1/conversations',
      {
        kind: 'group',
        deviceId: A.deviceId,
        members: [
          { kind: 'user', id: ben.userId },
          { kind: 'user', id: cal.userId },
        ],
      },
      ana.headers,
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ kind: 'group', epoch: 0, latestSeq: 0, patientId: null });
    convId = created.body.id;
    await A.createGroup(created.body);
    const added = await A.commit(convId, await A.claim([B.deviceId, C.deviceId]));
    expect(added.status).toBe(201);
    expect(added.body).toEqual({ seq: 1, epoch: 1 });
    await B.sync(convId);
    await C.sync(convId);
    expect([B.epoch, C.epoch]).toEqual([1, 1]);

    expect((await A.send(convId, `${MARKER} from ana`)).status).toBe(201);
    expect((await B.send(convId, `${MARKER} from ben`)).status).toBe(201);
    expect((await C.send(convId, `${MARKER} from cal`)).status).toBe(201);
    expect(await A.sync(convId)).toEqual([`${MARKER} from ben`, `${MARKER} from cal`]);
    expect(await B.sync(convId)).toEqual([`${MARKER} from ana`, `${MARKER} from cal`]);
    expect(await C.sync(convId)).toEqual([`${MARKER} from ana`, `${MARKER} from ben`]);
  });

  it('refuses a second commit for an epoch with the current epoch, and takes it after the committer caught up', async () => {
    const first = await B.prepareCommit();
    const second = await C.prepareCommit();
    const ok = await h.request('POST', `/v1/conversations/${convId}/commits`, first.body, ben.headers);
    expect(ok.status).toBe(201);
    first.apply();
    const stale = await h.request('POST', `/v1/conversations/${convId}/commits`, second.body, cal.headers);
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ code: 'SP_MESSAGING_EPOCH_STALE', currentEpoch: 2 });
    await C.sync(convId);
    expect(C.epoch).toBe(2);
    const retried = await C.commit(convId);
    expect(retried.status).toBe(201);
    expect(retried.body.epoch).toBe(3);
    await A.sync(convId);
    await B.sync(convId);
    expect([A.epoch, B.epoch, C.epoch]).toEqual([3, 3, 3]);
  });

  it('answers a repeated clientMessageId with the first seq and refuses the same ciphertext under another id', async () => {
    const body = await B.prepareMessage(`${MARKER} once`, 'client-1');
    const r1 = await h.request('POST', `/v1/conversations/${convId}/messages`, body, ben.headers);
    expect(r1.status).toBe(201);
    const again = await h.request('POST', `/v1/conversations/${convId}/messages`, body, ben.headers);
    expect(again.body).toEqual(r1.body);
    const replay = await h.request(
      'POST',
      `/v1/conversations/${convId}/messages`,
      { ...body, clientMessageId: 'client-2' },
      ben.headers,
    );
    expect(replay.status).toBe(409);
    expect(replay.body.code).toBe('SP_MESSAGING_REPLAY');
    expect(await A.sync(convId)).toEqual([`${MARKER} once`]);
    await C.sync(convId);
  });

  it('stops serving a removed member at once; the server proposes the removal, a member commits it, and later messages are unreadable to the removed device', async () => {
    const removed = await h.request(
      'DELETE',
      `/v1/conversations/${convId}/members/user/${cal.userId}`,
      undefined,
      ana.headers,
    );
    expect(removed.status).toBe(204);
    const proposals = (await A.events(convId)).items.filter((e) => e.kind === 'proposal');
    expect(proposals).toHaveLength(1);
    expect(proposals[0].sender).toEqual({ external: true });
    await A.sync(convId);
    const committed = await A.commit(convId);
    expect(committed.status).toBe(201);
    await B.sync(convId);
    expect((await B.send(convId, `${MARKER} after removal`)).status).toBe(201);
    const forCal = await C.events(convId);
    expect(forCal.items.filter((e) => e.kind !== 'proposal')).toEqual([]);
    expect((await h.request('GET', `/v1/conversations/${convId}`, undefined, cal.headers)).status).toBe(404);
    const later = (await A.events(convId)).items.find((e) => e.kind === 'application')!;
    expect(await C.canRead(later.data!)).toBe(false);
    expect(await A.sync(convId)).toEqual([`${MARKER} after removal`]);
  });

  it('gives a new member the welcome as its first event and nothing earlier, which it could not decrypt either', async () => {
    const earlier = (
      await h.request(
        'GET',
        `/v1/conversations/${convId}/events?deviceId=${A.deviceId}&after=0`,
        undefined,
        ana.headers,
      )
    ).body.items.find((e: { kind: string }) => e.kind === 'application');
    expect(
      (
        await h.request(
          'POST',
          `/v1/conversations/${convId}/members`,
          { person: { kind: 'user', id: dan.userId } },
          ana.headers,
        )
      ).status,
    ).toBe(200);
    expect((await A.commit(convId, await A.claim([D.deviceId]))).status).toBe(201);
    const first = await D.events(convId);
    expect(first.items[0].kind).toBe('welcome');
    expect(first.items.some((e) => e.seq <= earlier.seq)).toBe(false);
    await D.sync(convId);
    expect(await D.canRead(earlier.data)).toBe(false);
    expect((await A.send(convId, `${MARKER} welcome dan`)).status).toBe(201);
    expect(await D.sync(convId)).toEqual([`${MARKER} welcome dan`]);
    await B.sync(convId);
  });

  it('answers 404 to people outside the conversation and to other tenants, and changes nothing', async () => {
    const before = (await h.request('GET', `/v1/conversations/${convId}`, undefined, ana.headers)).body.latestSeq;
    const S = await MlsTestDevice.register(h, stranger.headers, { count: 1 });
    for (const who of [stranger, otherTenant]) {
      expect((await h.request('GET', `/v1/conversations/${convId}`, undefined, who.headers)).body.code).toBe(
        'SP_CONVERSATION_NOT_FOUND',
      );
      expect(
        (
          await h.request(
            'POST',
            `/v1/conversations/${convId}/members`,
            { person: { kind: 'user', id: who.userId } },
            who.headers,
          )
        ).status,
      ).toBe(404);
    }
    const posted = await h.request(
      'POST',
      `/v1/conversations/${convId}/messages`,
      { deviceId: S.deviceId, epoch: 0, message: 'AAAA', clientMessageId: 'x' },
      stranger.headers,
    );
    expect(posted.status).toBe(404);
    expect(
      (await h.request('GET', `/v1/conversations/${convId}/events?deviceId=${S.deviceId}`, undefined, stranger.headers))
        .status,
    ).toBe(404);
    expect((await h.request('GET', `/v1/conversations/no-such-id`, undefined, ana.headers)).status).toBe(404);
    expect((await h.request('GET', `/v1/conversations/${convId}`, undefined, ana.headers)).body.latestSeq).toBe(before);
  });

  it('keeps a patient conversation on the care team: a member commits the server’s Add proposal for a new care-team member, and its Remove proposal when they leave', async () => {
    expect((await h.request('PUT', '/v1/patients/p-conv', samplePatient())).status).toBe(201);
    expect((await h.request('PUT', `/v1/patients/p-conv/care-team/${ana.userId}`, {})).status).toBe(201);
    const created = await h.request(
      'POST',
      '/v1/conversations',
      { kind: 'patient', deviceId: A.deviceId, patientId: 'p-conv' },
      ana.headers,
    );
    expect(created.status).toBe(201);
    expect(created.body.members).toEqual([{ kind: 'user', id: ana.userId, devices: [A.deviceId] }]);
    const pid = created.body.id;
    const A2 = A; // the same device, a second group
    const state = A2.state;
    await A2.createGroup(created.body);
    expect((await A2.commit(pid)).status).toBe(201);
    expect((await h.request('PUT', `/v1/patients/p-conv/care-team/${ben.userId}`, {})).status).toBe(201);
    const cursor = A2.cursor;
    A2.cursor = 0;
    const proposals = (await A2.events(pid)).items.filter((e) => e.kind === 'proposal');
    expect(proposals).toHaveLength(1);
    await A2.sync(pid);
    expect((await A2.commit(pid)).status).toBe(201);
    const bCursor = B.cursor;
    const bState = B.state;
    B.state = null;
    B.cursor = 0;
    await B.sync(pid);
    expect(B.epoch).toBe(A2.epoch);
    expect((await A2.send(pid, `${MARKER} patient thread`)).status).toBe(201);
    expect(await B.sync(pid)).toEqual([`${MARKER} patient thread`]);
    // Ben leaves the care team: the server proposes his removal and serves him nothing after it.
    expect((await h.request('DELETE', `/v1/patients/p-conv/care-team/${ben.userId}`)).status).toBe(204);
    const removal = (await A2.events(pid)).items.filter((e) => e.kind === 'proposal');
    expect(removal.map((e) => e.sender)).toEqual([{ external: true }]);
    await A2.sync(pid);
    expect((await A2.commit(pid)).status).toBe(201);
    expect((await A2.send(pid, `${MARKER} after leaving`)).status).toBe(201);
    expect((await B.events(pid)).items).toEqual([]);
    expect((await h.request('GET', `/v1/conversations/${pid}`, undefined, ben.headers)).status).toBe(404);
    // The two groups share the device: restore the first group's state for later tests.
    A2.state = state;
    A2.cursor = cursor;
    B.state = bState;
    B.cursor = bCursor;
  });

  it('stores ciphertext only: the plaintext markers appear nowhere in the database files', async () => {
    expect(allBytes(h.dataDir).includes(Buffer.from(MARKER))).toBe(false);
  });
});
