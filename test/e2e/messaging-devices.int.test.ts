import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { b64, keyPackage, messagingWorld, signatureKeys, type MessagingWorld } from '../helpers/messaging-devices.js';
import { parseCheckpoint, parseVerifierKey, verifyNote } from '../../src/audit/checkpoint.js';
import { leafHash, verifyInclusion } from '../../src/audit/merkle.js';
import { verifyBinding } from '../../src/messaging/device-binding.js';
import { CIPHER_SUITES, deviceIdentity } from '../../src/messaging/messaging-types.js';

const [CLASSIC, XWING] = CIPHER_SUITES;

describe('messaging devices over HTTP: bindings, key transparency, revocation', () => {
  let w: MessagingWorld;
  let h: Harness;
  let ana: TestPerson;
  let ben: TestPerson;
  let otherTenant: TestPerson;
  let patientToken: string;
  let patientAccount: string;
  let patientDevice: string;
  let as: MessagingWorld['as'];
  let register: MessagingWorld['register'];

  beforeAll(async () => {
    w = await messagingWorld();
    ({ h, ana, ben, otherTenant, patientToken, patientAccount, as, register } = w);
  });
  afterAll(() => w?.h.close());

  it('registers a device whose binding the notary key signed and whose registration entry is anchored in a signed checkpoint', async () => {
    const keys = await signatureKeys();
    const r = await register(ana, keys);
    expect(r.status).toBe(201);
    const d = r.body;
    expect(d).toMatchObject({
      tenantId: 'default',
      person: { kind: 'user', id: ana.userId },
      identity: b64(Buffer.from(deviceIdentity('default', d.deviceId))),
      signatureKey: b64(keys.publicKey),
      status: 'active',
      revokedAt: null,
      revocation: null,
      registration: { status: 'anchored' },
    });
    expect(JSON.parse(d.binding)).toEqual({
      v: 1,
      type: 'sealpost.device-binding',
      tenant: 'default',
      person: { kind: 'user', id: ana.userId },
      device: d.deviceId,
      signatureKey: b64(keys.publicKey),
      issuedAt: d.registeredAt,
    });

    // The binding verifies with a published notary key.
    const published = (await h.request('GET', '/.well-known/sealpost-keys.json', undefined, { authorization: '' }))
      .body;
    const jwk = published.keys.find((k: { kid: string }) => k.kid === d.keyId);
    expect(jwk).toBeDefined();
    const notary = createPublicKey({ key: jwk, format: 'jwk' });
    expect(verifyBinding(d.binding, Buffer.from(d.signature, 'base64'), notary)).toBe(true);
    expect(verifyBinding(d.binding.replace(ana.userId, ben.userId), Buffer.from(d.signature, 'base64'), notary)).toBe(
      false,
    );

    // The registration entry commits to the binding and is in the tree of a checkpoint the audit-log key signed.
    const a = d.registration;
    const entry = JSON.parse(a.entry);
    expect(entry).toMatchObject({
      action: 'messaging.device.registered',
      tenant: 'default',
      target: { type: 'device', id: d.deviceId },
      patient: null,
      details: { bindingHash: createHash('sha256').update(d.binding).digest('hex'), keyId: d.keyId },
    });
    const vkey = parseVerifierKey(published.checkpointKey);
    const text = verifyNote(a.checkpoint, vkey.name, vkey.publicKey)?.text;
    expect(text).toBeTruthy();
    const cp = parseCheckpoint(text!);
    expect(cp.size).toBe(a.treeSize);
    const path = a.inclusion.map((s: string) => new Uint8Array(Buffer.from(s, 'base64')));
    expect(verifyInclusion(leafHash(Buffer.from(a.entry, 'utf8')), a.index, cp.size, path, cp.root)).toBe(true);
    // A tampered entry is not in the tree.
    const forged = a.entry.replace(d.deviceId, 'someone-else');
    expect(verifyInclusion(leafHash(Buffer.from(forged, 'utf8')), a.index, cp.size, path, cp.root)).toBe(false);

    // Listed as the caller's, visible to another member of the tenant, not to another tenant.
    expect(
      (await h.request('GET', '/v1/messaging/devices', undefined, as(ana))).body.items.map((i: any) => i.deviceId),
    ).toContain(d.deviceId);
    expect((await h.request('GET', `/v1/messaging/devices/${d.deviceId}`, undefined, as(ben))).body.binding).toBe(
      d.binding,
    );
    const people = await h.request('GET', `/v1/messaging/people/user/${ana.userId}/devices`, undefined, as(ben));
    expect(people.body.items.map((i: any) => i.deviceId)).toContain(d.deviceId);
    const foreign = await h.request('GET', `/v1/messaging/devices/${d.deviceId}`, undefined, as(otherTenant));
    expect(foreign).toMatchObject({ status: 404, body: { code: 'SP_MESSAGING_DEVICE_NOT_FOUND' } });
    const foreignPeople = await h.request(
      'GET',
      `/v1/messaging/people/user/${ana.userId}/devices`,
      undefined,
      as(otherTenant),
    );
    expect(foreignPeople.body.items).toEqual([]);
    // The core device list shows it too (the same row).
    const mine = await h.request('GET', '/v1/me/devices', undefined, as(ana));
    expect(mine.body.items).toContainEqual(expect.objectContaining({ id: d.deviceId, platform: 'cli', name: 'Phone' }));
  });

  it('a device written straight into the database, around the audit log, has no registration anchor', async () => {
    const keys = await signatureKeys();
    const dora = await staffWithSession(h, ['nurse']);
    const id = `sneaky-${randomBytes(4).toString('hex')}`;
    const now = Date.now();
    await h.app.store.transaction(async (tx) => {
      await tx.sessions.insertDevice({
        id,
        tenant_id: 'default',
        subject_type: 'user',
        subject_id: dora.userId,
        platform: 'cli',
        name: 'x',
        push_token_ct: null,
        created_at: now,
        revoked_at: null,
      });
      await tx.messagingDevices.insert({
        tenant_id: 'default',
        device_id: id,
        person_kind: 'user',
        person_id: dora.userId,
        signature_key: Buffer.from(keys.publicKey),
        binding: '{}',
        signature: Buffer.alloc(64),
        key_id: 'none',
        binding_hash: createHash('sha256').update('{}').digest('hex'),
        registered_at: now,
        revoked_at: null,
      });
    });
    const r = await h.request('GET', `/v1/messaging/devices/${id}`, undefined, as(ben));
    expect(r.status).toBe(200);
    expect(r.body.registration).toEqual({ status: 'pending' });
  });

  it('refuses a signature key that is not a raw 32-byte Ed25519 key, or a weak one, and registers nothing', async () => {
    const before = (await h.request('GET', '/v1/me/devices', undefined, as(ana))).body.items.length;
    for (const signatureKey of [
      'AAAA',
      'not base64 at all',
      b64(randomBytes(33)),
      b64(Buffer.from([1, ...Array(31).fill(0)])),
    ]) {
      const r = await h.request('POST', '/v1/messaging/devices', { name: 'x', platform: 'ios', signatureKey }, as(ana));
      expect(r.status).toBe(400);
      expect(['SP_MESSAGING_SIGNATURE_KEY_INVALID', 'SP_REQ_VALIDATION']).toContain(r.body.code);
    }
    expect((await h.request('GET', '/v1/me/devices', undefined, as(ana))).body.items.length).toBe(before);
  });
  it('refuses callers that are not people', async () => {
    const r = await h.request('POST', '/v1/messaging/devices', {
      name: 'x',
      platform: 'cli',
      signatureKey: b64((await signatureKeys()).publicKey),
    });
    expect(r.status).toBe(403);
  });

  it('a patient account registers a device of its own and uploads key packages', async () => {
    const keys = await signatureKeys();
    const r = await register(patientToken, keys, 'My phone');
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      person: { kind: 'patient', id: patientAccount },
      registration: { status: 'anchored' },
    });
    patientDevice = r.body.deviceId;
    const kp = await keyPackage(XWING, deviceIdentity('default', r.body.deviceId), keys);
    const up = await h.request(
      'POST',
      `/v1/messaging/devices/${r.body.deviceId}/key-packages`,
      { keyPackages: [kp] },
      as(patientToken),
    );
    expect(up.status).toBe(201);
    const people = await h.request('GET', `/v1/messaging/people/patient/${patientAccount}/devices`, undefined, as(ana));
    expect(people.body.items.map((i: any) => i.deviceId)).toEqual([r.body.deviceId]);
  });

  it('a remote wipe revokes the bindings, drops their key packages, and anchors the revocation', async () => {
    const carl = await staffWithSession(h, ['nurse']);
    const keys = await signatureKeys();
    const d = (await register(carl, keys)).body;
    const kp = await keyPackage(CLASSIC, deviceIdentity('default', d.deviceId), keys);
    expect(
      (
        await h.request(
          'POST',
          `/v1/messaging/devices/${d.deviceId}/key-packages`,
          { keyPackages: [kp], lastResort: await keyPackage(CLASSIC, deviceIdentity('default', d.deviceId), keys) },
          as(carl),
        )
      ).status,
    ).toBe(201);

    // Ana shares a conversation with Carl: she may claim his device's packages for it.
    const anaDevice = (await register(ana, await signatureKeys())).body.deviceId;
    const conv = await h.request(
      'POST',
      '/v1/conversations',
      { kind: 'direct', deviceId: anaDevice, members: [{ kind: 'user', id: carl.userId }], cipherSuite: CLASSIC },
      as(ana),
    );
    expect(conv.status).toBe(201);
    expect((await h.request('POST', `/v1/users/${carl.userId}/revoke-sessions`)).status).toBeLessThan(300);
    const v = await h.request('GET', `/v1/messaging/devices/${d.deviceId}`, undefined, as(ana));
    expect(v.body).toMatchObject({
      status: 'revoked',
      revokedAt: expect.any(String),
      revocation: { status: 'anchored' },
    });
    expect(JSON.parse(v.body.revocation.entry)).toMatchObject({
      action: 'messaging.device.revoked',
      target: { type: 'device', id: d.deviceId },
      details: { bindingHash: JSON.parse(v.body.registration.entry).details.bindingHash, keyId: d.keyId },
    });
    const c = await h.request(
      'POST',
      '/v1/messaging/key-packages/claim',
      { conversationId: conv.body.id, deviceIds: [d.deviceId], cipherSuite: CLASSIC },
      as(ana),
    );
    expect(c.body).toEqual({ items: [], missing: [d.deviceId] });
    const people = await h.request('GET', `/v1/messaging/people/user/${carl.userId}/devices`, undefined, as(ana));
    expect(people.body.items).toEqual([]);
  });

  it('removing a device with DELETE /v1/me/devices/{id} revokes its binding; the owner can no longer act as it', async () => {
    const keys = await signatureKeys();
    const d = (await register(ana, keys)).body;
    expect((await h.request('DELETE', `/v1/me/devices/${d.deviceId}`, undefined, as(ana))).status).toBe(204);
    expect((await h.request('GET', `/v1/messaging/devices/${d.deviceId}`, undefined, as(ana))).body.status).toBe(
      'revoked',
    );
    const kp = await keyPackage(CLASSIC, deviceIdentity('default', d.deviceId), keys);
    const up = await h.request(
      'POST',
      `/v1/messaging/devices/${d.deviceId}/key-packages`,
      { keyPackages: [kp] },
      as(ana),
    );
    expect(up).toMatchObject({ status: 403, body: { code: 'SP_MESSAGING_DEVICE_FORBIDDEN' } });
  });

  // Last: it ends the patient account's session the tests above use.
  it("disabling a patient account revokes its devices' bindings", async () => {
    expect((await h.request('DELETE', '/v1/patients/p-msg/account')).status).toBe(204);
    const v = await h.request('GET', `/v1/messaging/devices/${patientDevice}`, undefined, as(ana));
    expect(v.body).toMatchObject({ status: 'revoked', revocation: { status: 'anchored' } });
    expect(JSON.parse(v.body.revocation.entry)).toMatchObject({ action: 'messaging.device.revoked', patient: null });
  });
});
