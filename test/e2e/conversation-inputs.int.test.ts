import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { MlsTestDevice } from '../helpers/mls-test-client.js';
import { query } from '../helpers/db-snapshot.js';

describe('conversations over HTTP: bad inputs, policy, receipts, revocation and the audit trail', () => {
  let h: Harness;
  let ana: TestPerson;
  let ben: TestPerson;
  let A: MlsTestDevice;
  let B: MlsTestDevice;
  let id: string;
  const latest = async () => (await h.request('GET', `/v1/conversations/${id}`, undefined, ana.headers)).body.latestSeq;

  beforeAll(async () => {
    h = await startSealpost();
    [ana, ben] = await Promise.all([staffWithSession(h, ['nurse']), staffWithSession(h, ['physician'])]);
    A = await MlsTestDevice.register(h, ana.headers);
    B = await MlsTestDevice.register(h, ben.headers);
    const created = await h.request(
      'POST',
      '/v1/conversations',
      { kind: 'direct', deviceId: A.deviceId, members: [{ kind: 'user', id: ben.userId }] },
      ana.headers,
    );
    expect(created.status).toBe(201);
    id = created.body.id;
    await A.createGroup(created.body);
    expect((await A.commit(id, await A.claim([B.deviceId]))).status).toBe(201);
    await B.sync(id);
  }, 60_000);
  afterAll(() => h?.close());

  it('refuses conversations that do not fit their kind, or a device that is not the caller’s', async () => {
    const post = (body: object) => h.request('POST', '/v1/conversations', body, ana.headers);
    expect((await post({ kind: 'direct', deviceId: A.deviceId, members: [] })).body.code).toBe(
      'SP_CONVERSATION_MEMBERS_INVALID',
    );
    expect(
      (await post({ kind: 'group', deviceId: A.deviceId, members: [{ kind: 'user', id: 'nobody' }] })).body.code,
    ).toBe('SP_CONVERSATION_MEMBERS_INVALID');
    expect((await post({ kind: 'patient', deviceId: A.deviceId, patientId: 'p-none' })).body.code).toBe(
      'SP_AUTH_NO_RELATIONSHIP',
    );
    expect(
      (await post({ kind: 'group', deviceId: B.deviceId, members: [{ kind: 'user', id: ben.userId }] })).body.code,
    ).toBe('SP_MESSAGING_DEVICE_FORBIDDEN');
    expect((await h.request('POST', '/v1/conversations', { kind: 'group', deviceId: 'x' })).body.code).toBe(
      'SP_AUTH_FORBIDDEN',
    );
  });

  it('refuses MLS messages that are not what the route takes, and changes nothing', async () => {
    const before = await latest();
    const c = await A.prepareCommit();
    const m = await A.prepareMessage('never stored', 'bad-1');
    const post = (path: string, body: object) =>
      h.request('POST', `/v1/conversations/${id}/${path}`, body, ana.headers);
    expect((await post('messages', { ...m, message: 'not base64!' })).body.code).toBe('SP_MESSAGING_MLS_INVALID');
    expect((await post('messages', { ...m, message: c.body.commit })).body.code).toBe('SP_MESSAGING_MLS_INVALID');
    expect((await post('commits', { ...c.body, commit: m.message })).body.code).toBe('SP_MESSAGING_MLS_INVALID');
    expect((await post('commits', { ...c.body, groupInfo: c.body.commit })).body.code).toBe('SP_MESSAGING_MLS_INVALID');
    // A commit body past the server's 64 KiB default is read (large groups' commits are), and judged.
    const big = await post('commits', { ...c.body, welcome: Buffer.alloc(200_000, 7).toString('base64') });
    expect([big.status, big.body.code]).toEqual([400, 'SP_MESSAGING_MLS_INVALID']);
    const stale = await post('messages', { ...m, epoch: 0 });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ code: 'SP_MESSAGING_EPOCH_STALE', currentEpoch: 1 });
    expect(await latest()).toBe(before);
  });

  it('refuses a commit whose tree holds a device of someone outside the roster', async () => {
    const outsider = await staffWithSession(h, ['nurse']);
    const O = await MlsTestDevice.register(h, outsider.headers);
    // The claim route refuses devices outside the roster, so the outsider's package is handed over out of band.
    const r = await A.commit(id, [await O.freshKeyPackage()]);
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('SP_MESSAGING_NOT_IN_ROSTER');
  });

  it('keeps delivery receipts monotonic and tells a device where it has something to read', async () => {
    const { body } = await A.send(id, 'receipt me');
    const delivered = () =>
      query<{ entry: string }>(h.dataDir, "select entry from audit_entries where action = 'message.delivered'").map(
        (r) => JSON.parse(r.entry).details,
      );
    const before = delivered().length;
    await h.request('POST', `/v1/conversations/${id}/cursor`, { deviceId: B.deviceId, seq: body.seq }, ben.headers);
    await h.request('POST', `/v1/conversations/${id}/cursor`, { deviceId: B.deviceId, seq: 1 }, ben.headers);
    // One audit entry for the delivery that moved the cursor; the lower one moved nothing and wrote nothing.
    expect(delivered().slice(before)).toEqual([{ deviceId: B.deviceId, from: expect.any(Number), to: body.seq }]);
    const receipts = await h.request('GET', `/v1/conversations/${id}/receipts?seq=${body.seq}`, undefined, ana.headers);
    expect(receipts.body.delivered).toEqual([{ deviceId: B.deviceId, person: { kind: 'user', id: ben.userId } }]);
    const mine = await h.request('GET', `/v1/messaging/devices/${B.deviceId}/conversations`, undefined, ben.headers);
    expect(mine.body.items).toEqual([{ conversationId: id, latestSeq: body.seq, cursor: body.seq, epoch: 1 }]);
    expect(
      (await h.request('GET', `/v1/messaging/devices/${B.deviceId}/conversations`, undefined, ana.headers)).status,
    ).toBe(403);
  });

  it('publishes the external sender and lets an administrator require the post-quantum suite', async () => {
    const es = await h.request('GET', '/v1/messaging/external-sender', undefined, ana.headers);
    expect(Buffer.from(es.body.signatureKey, 'base64')).toHaveLength(32);
    expect((await h.request('GET', '/v1/messaging/policy', undefined, ana.headers)).body).toMatchObject({
      requirePostQuantum: false,
      defaultLifespanSeconds: null,
    });
    const admin = await staffWithSession(h, ['admin']);
    expect(
      (
        await h.request(
          'PUT',
          '/v1/messaging/policy',
          { requirePostQuantum: true, defaultLifespanSeconds: null },
          ana.headers,
        )
      ).status,
    ).toBe(403);
    expect(
      (
        await h.request(
          'PUT',
          '/v1/messaging/policy',
          { requirePostQuantum: true, defaultLifespanSeconds: 86400 },
          admin.headers,
        )
      ).status,
    ).toBe(200);
    const refused = await h.request(
      'POST',
      '/v1/conversations',
      {
        kind: 'direct',
        deviceId: A.deviceId,
        members: [{ kind: 'user', id: ben.userId }],
        cipherSuite: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
      },
      ana.headers,
    );
    expect(refused.body.code).toBe('SP_MESSAGING_CIPHER_SUITE_REFUSED');
    const pq = await h.request(
      'POST',
      '/v1/conversations',
      { kind: 'direct', deviceId: A.deviceId, members: [{ kind: 'user', id: ben.userId }] },
      ana.headers,
    );
    expect(pq.body.cipherSuite).toBe('MLS_256_XWING_AES256GCM_SHA512_Ed25519');
    await h.request(
      'PUT',
      '/v1/messaging/policy',
      { requirePostQuantum: false, defaultLifespanSeconds: null },
      admin.headers,
    );
  });

  it("pages the caller's conversations newest first", async () => {
    const first = await h.request('GET', '/v1/conversations?limit=1', undefined, ana.headers);
    expect(first.body.items).toHaveLength(1);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await h.request(
      'GET',
      `/v1/conversations?limit=1&cursor=${first.body.nextCursor}`,
      undefined,
      ana.headers,
    );
    expect(second.body.items).toHaveLength(1);
    expect(second.body.items[0].id).not.toBe(first.body.items[0].id);
    const ids = [first.body.items[0].id, second.body.items[0].id];
    expect(ids).toContain(id);
    expect((await h.request('GET', '/v1/conversations?cursor=bad', undefined, ana.headers)).status).toBe(400);
  });

  it('lets a patient open a thread with their care team, but not for another patient', async () => {
    expect((await h.request('PUT', '/v1/patients/p-self', samplePatient())).status).toBe(201);
    expect((await h.request('PUT', `/v1/patients/p-self/care-team/${ana.userId}`, {})).status).toBe(201);
    const account = `pa-${randomBytes(4).toString('hex')}`;
    const token = await h.app.store.transaction(async (tx) => {
      await tx.patientAccounts.insert({
        id: account,
        tenant_id: 'default',
        patient_id: 'p-self',
        contact_system: 'email',
        contact_bidx: `bidx-${account}`,
        contact_ct: Buffer.alloc(0),
        status: 'active',
        created_at: Date.now(),
      });
      const s = await h.app.sessions.issue(tx, {
        tenantId: 'default',
        subjectType: 'patient',
        subjectId: account,
        transport: 'bearer',
        stage: 'active',
        amr: ['otp'],
      });
      return s.token;
    });
    const headers = { authorization: `Bearer ${token}` };
    const P = await MlsTestDevice.register(h, headers, { count: 1 });
    const open = (patientId: string) =>
      h.request('POST', '/v1/conversations', { kind: 'patient', deviceId: P.deviceId, patientId }, headers);
    const r = await open('p-self');
    expect(r.status).toBe(201);
    expect(r.body.members.map((m: { kind: string; id: string }) => `${m.kind}:${m.id}`).sort()).toEqual(
      [`patient:${account}`, `user:${ana.userId}`].sort(),
    );
    expect(r.body.patientId).toBe('p-self');
    expect((await open('p-other')).body.code).toBe('SP_AUTH_NO_RELATIONSHIP');
    expect(
      (
        await h.request(
          'POST',
          '/v1/conversations',
          { kind: 'direct', deviceId: P.deviceId, members: [{ kind: 'user', id: ana.userId }] },
          headers,
        )
      ).body.code,
    ).toBe('SP_CONVERSATION_MEMBERS_INVALID');
  });

  it('stops serving a revoked device and proposes its removal', async () => {
    const before = await latest();
    expect((await h.request('DELETE', `/v1/me/devices/${B.deviceId}`, undefined, ben.headers)).status).toBe(204);
    const after = (await A.events(id, before)).items;
    expect(after.map((e) => [e.kind, e.sender])).toEqual([['proposal', { external: true }]]);
    expect((await A.send(id, 'after revocation')).status).toBe(201);
  });

  it('audits every change with ids, sizes and epochs, never content', async () => {
    const rows = query<{ action: string; entry: string }>(
      h.dataDir,
      "select action, entry from audit_entries where action like 'conversation.%' or action like 'message.%' or action like 'messaging.policy%'",
    );
    const actions = new Set(rows.map((r) => r.action));
    for (const a of [
      'conversation.created',
      'conversation.commit',
      'message.stored',
      'message.delivered',
      'messaging.policy.changed',
      'conversation.device.removed',
    ])
      expect(actions).toContain(a);
    const stored = rows.filter((r) => r.action === 'message.stored').map((r) => JSON.parse(r.entry).details);
    expect(stored[0]).toMatchObject({ seq: expect.any(Number), size: expect.any(Number), epoch: 1 });
    expect(rows.every((r) => !r.entry.includes('receipt me') && !r.entry.includes('after revocation'))).toBe(true);
  });
});
