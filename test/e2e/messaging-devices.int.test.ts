import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  defaultCapabilities,
  defaultLifetime,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type CiphersuiteName,
} from 'ts-mls';
import { samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { createTenant } from '../../src/auth/tenants.js';
import { parseCheckpoint, parseVerifierKey, verifyNote } from '../../src/audit/checkpoint.js';
import { leafHash, verifyInclusion } from '../../src/audit/merkle.js';
import { verifyBinding } from '../../src/messaging/device-binding.js';
import { CIPHER_SUITES, deviceIdentity, type CipherSuiteName } from '../../src/messaging/messaging-types.js';

const [CLASSIC, XWING] = CIPHER_SUITES;
type Keys = { signKey: Uint8Array; publicKey: Uint8Array };
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** An Ed25519 signature key pair from ts-mls's own suite implementation (one serves both suites). */
async function signatureKeys(): Promise<Keys> {
  return (await getCiphersuiteImpl(getCiphersuiteFromName(CLASSIC))).signature.keygen();
}

/** A real key package (encoded MLSMessage, base64) of `identity` signed with `keys`. */
async function keyPackage(suite: CiphersuiteName, identity: string, keys: Keys): Promise<string> {
  const cs = await getCiphersuiteImpl(getCiphersuiteFromName(suite));
  const credential = { credentialType: 'basic' as const, identity: new TextEncoder().encode(identity) };
  const { publicPackage } = await generateKeyPackageWithKey(
    credential,
    defaultCapabilities(),
    defaultLifetime,
    [],
    keys,
    cs,
  );
  return b64(encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: publicPackage }));
}

describe('messaging devices and key packages over HTTP', () => {
  let h: Harness;
  let ana: TestPerson;
  let ben: TestPerson;
  let patientToken: string;
  let patientAccount: string;
  let patientDevice: string;
  let otherTenant: TestPerson;
  const as = (p: { headers: Record<string, string> } | string) =>
    typeof p === 'string' ? { authorization: `Bearer ${p}` } : p.headers;
  const register = async (who: TestPerson | string, keys: Keys, name = 'Phone') =>
    h.request('POST', '/v1/messaging/devices', { name, platform: 'cli', signatureKey: b64(keys.publicKey) }, as(who));

  beforeAll(async () => {
    h = await startSealpost();
    ana = await staffWithSession(h, ['nurse']);
    ben = await staffWithSession(h, ['physician']);
    await createTenant(h.app.store, 'tenant-b', 'Other organisation', new Date());
    otherTenant = await staffWithSession(h, ['nurse'], 'tenant-b');
    expect((await h.request('PUT', '/v1/patients/p-msg', samplePatient())).status).toBe(201);
    patientAccount = `pa-${randomBytes(4).toString('hex')}`;
    patientToken = await h.app.store.transaction(async (tx) => {
      await tx.patientAccounts.insert({
        id: patientAccount,
        tenant_id: 'default',
        patient_id: 'p-msg',
        contact_system: 'email',
        contact_bidx: `bidx-${patientAccount}`,
        contact_ct: Buffer.alloc(0),
        status: 'active',
        created_at: Date.now(),
      });
      const s = await h.app.sessions.issue(tx, {
        tenantId: 'default',
        subjectType: 'patient',
        subjectId: patientAccount,
        transport: 'bearer',
        stage: 'active',
        amr: ['otp'],
      });
      return s.token;
    });
  });
  afterAll(() => h?.close());

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

  it('stores real key packages of both suites, counts them, and hands each out once, then the last-resort one', async () => {
    const keys = await signatureKeys();
    const d = (await register(ana, keys)).body;
    const identity = deviceIdentity('default', d.deviceId);
    for (const suite of [CLASSIC, XWING] as CipherSuiteName[]) {
      const kps = [await keyPackage(suite, identity, keys), await keyPackage(suite, identity, keys)];
      const last = await keyPackage(suite, identity, keys);
      const up = await h.request(
        'POST',
        `/v1/messaging/devices/${d.deviceId}/key-packages`,
        { keyPackages: [...kps, kps[0]], lastResort: last },
        as(ana),
      );
      expect(up.status).toBe(201);
      expect(up.body.stored).toBe(3); // the duplicate is ignored
      expect(up.body.counts[suite]).toEqual({ available: 2, lastResort: true });

      const got = new Set<string>();
      for (let i = 0; i < 2; i++) {
        const c = await h.request(
          'POST',
          '/v1/messaging/key-packages/claim',
          { deviceIds: [d.deviceId], cipherSuite: suite },
          as(ben),
        );
        expect(c.status).toBe(200);
        expect(c.body.items).toEqual([{ deviceId: d.deviceId, keyPackage: expect.any(String), lastResort: false }]);
        got.add(c.body.items[0].keyPackage);
      }
      expect(got).toEqual(new Set(kps));
      for (let i = 0; i < 2; i++) {
        const c = await h.request(
          'POST',
          '/v1/messaging/key-packages/claim',
          { deviceIds: [d.deviceId, 'nobody'], cipherSuite: suite },
          as(ben),
        );
        expect(c.body).toEqual({
          items: [{ deviceId: d.deviceId, keyPackage: last, lastResort: true }],
          missing: ['nobody'],
        });
      }
      const counts = await h.request('GET', `/v1/messaging/devices/${d.deviceId}/key-packages`, undefined, as(ana));
      expect(counts.body.counts[suite]).toEqual({ available: 0, lastResort: true });
    }
    // Claims that left the device low, and the uploads, are audited with ids and counts only.
    const low = await h.request(
      'GET',
      `/v1/audit/events?action=${encodeURIComponent('messaging.key_packages.*')}&limit=500`,
    );
    const mineOnly = low.body.items.filter((e: any) => e.target?.id === d.deviceId);
    expect(mineOnly.map((e: any) => e.action)).toEqual(
      expect.arrayContaining(['messaging.key_packages.uploaded', 'messaging.key_packages.low']),
    );
    expect(mineOnly.find((e: any) => e.action === 'messaging.key_packages.low')).toMatchObject({
      details: { cipherSuite: expect.any(String), available: expect.any(Number) },
    });
  });

  it('refuses bad key packages with a clear error and stores none of the batch', async () => {
    const keys = await signatureKeys();
    const d = (await register(ana, keys)).body;
    const other = (await register(ben, await signatureKeys())).body;
    const identity = deviceIdentity('default', d.deviceId);
    const good = await keyPackage(CLASSIC, identity, keys);
    const tampered = Buffer.from(good, 'base64');
    tampered[tampered.length - 1] ^= 1;
    const cases: [string, string, RegExp][] = [
      ['bad base64', 'not*base64', /base64/],
      [
        'wrong suite',
        await keyPackage(
          'MLS_128_DHKEMP256_AES128GCM_SHA256_P256',
          identity,
          await (
            await getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMP256_AES128GCM_SHA256_P256'))
          ).signature.keygen(),
        ),
        /cipher suite/,
      ],
      ['foreign identity', await keyPackage(CLASSIC, deviceIdentity('default', other.deviceId), keys), /credential/],
      ['foreign signature key', await keyPackage(CLASSIC, identity, await signatureKeys()), /signature key/],
      ['tampered', tampered.toString('base64'), /signature does not verify/],
      ['not a key package', b64(new Uint8Array([0, 1, 0, 5, 1, 2, 3])), /MLSMessage|wire format/],
    ];
    for (const [what, bad, reason] of cases) {
      const r = await h.request(
        'POST',
        `/v1/messaging/devices/${d.deviceId}/key-packages`,
        { keyPackages: [good, bad] },
        as(ana),
      );
      expect(r.status, what).toBe(400);
      expect(r.body.code, what).toBe('SP_MESSAGING_KEY_PACKAGE_INVALID');
      expect(r.body.detail, what).toMatch(/^keyPackages\[1\]/);
      expect(r.body.detail, what).toMatch(reason);
    }
    const badLast = await h.request(
      'POST',
      `/v1/messaging/devices/${d.deviceId}/key-packages`,
      { keyPackages: [good], lastResort: tampered.toString('base64') },
      as(ana),
    );
    expect(badLast.body).toMatchObject({
      code: 'SP_MESSAGING_KEY_PACKAGE_INVALID',
      detail: expect.stringMatching(/^lastResort/),
    });
    const tooMany = await h.request(
      'POST',
      `/v1/messaging/devices/${d.deviceId}/key-packages`,
      { keyPackages: Array(101).fill(good) },
      as(ana),
    );
    expect(tooMany).toMatchObject({ status: 400, body: { code: 'SP_REQ_VALIDATION' } });

    // Acting as a device that is not the caller's: another person's, a staff device by a patient, another tenant's.
    for (const [who, id] of [
      [ben, d.deviceId],
      [patientToken, d.deviceId],
      [otherTenant, d.deviceId],
      [ana, other.deviceId],
    ] as const) {
      const up = await h.request('POST', `/v1/messaging/devices/${id}/key-packages`, { keyPackages: [good] }, as(who));
      expect(up).toMatchObject({ status: 403, body: { code: 'SP_MESSAGING_DEVICE_FORBIDDEN' } });
      const get = await h.request('GET', `/v1/messaging/devices/${id}/key-packages`, undefined, as(who));
      expect(get).toMatchObject({ status: 403, body: { code: 'SP_MESSAGING_DEVICE_FORBIDDEN' } });
    }
    const counts = await h.request('GET', `/v1/messaging/devices/${d.deviceId}/key-packages`, undefined, as(ana));
    expect(counts.body.counts).toEqual({
      [CLASSIC]: { available: 0, lastResort: false },
      [XWING]: { available: 0, lastResort: false },
    });

    // A signature key that is not 32 bytes of base64 registers nothing.
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

  it('takes a full batch of 100 post-quantum (X-Wing) key packages and a last-resort one in one upload', async () => {
    const keys = await signatureKeys();
    const d = (await register(ana, keys)).body;
    const identity = deviceIdentity('default', d.deviceId);
    const batch: string[] = [];
    for (let i = 0; i < 101; i++) batch.push(await keyPackage(XWING, identity, keys));
    const up = await h.request(
      'POST',
      `/v1/messaging/devices/${d.deviceId}/key-packages`,
      { keyPackages: batch.slice(0, 100), lastResort: batch[100] },
      as(ana),
    );
    expect(up.status).toBe(201);
    expect(up.body).toEqual({
      stored: 101,
      counts: { [CLASSIC]: { available: 0, lastResort: false }, [XWING]: { available: 100, lastResort: true } },
    });
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
      { deviceIds: [d.deviceId], cipherSuite: CLASSIC },
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
