import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCiphersuiteFromName, getCiphersuiteImpl } from 'ts-mls';
import type { Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { b64, keyPackage, messagingWorld, signatureKeys, type MessagingWorld } from '../helpers/messaging-devices.js';
import { CIPHER_SUITES, deviceIdentity, type CipherSuiteName } from '../../src/messaging/messaging-types.js';

const [CLASSIC, XWING] = CIPHER_SUITES;

describe('messaging key packages over HTTP: real ts-mls packages of both suites', () => {
  let w: MessagingWorld;
  let h: Harness;
  let ana: TestPerson;
  let ben: TestPerson;
  let otherTenant: TestPerson;
  let patientToken: string;
  let as: MessagingWorld['as'];
  let register: MessagingWorld['register'];

  beforeAll(async () => {
    w = await messagingWorld();
    ({ h, ana, ben, otherTenant, patientToken, as, register } = w);
  });
  afterAll(() => w?.h.close());

  it('stores real key packages of both suites, counts them, and hands each out once, then the last-resort one', async () => {
    const keys = await signatureKeys();
    const d = (await register(ana, keys)).body;
    const identity = deviceIdentity('default', d.deviceId);
    const benDevice = (await register(ben, await signatureKeys())).body.deviceId;
    for (const suite of [CLASSIC, XWING] as CipherSuiteName[]) {
      // Ben claims Ana's packages for a conversation of theirs in this suite.
      const conv = await h.request(
        'POST',
        '/v1/conversations',
        { kind: 'direct', deviceId: benDevice, members: [{ kind: 'user', id: ana.userId }], cipherSuite: suite },
        as(ben),
      );
      expect(conv.status).toBe(201);
      const conversationId = conv.body.id;
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
          { conversationId, deviceIds: [d.deviceId], cipherSuite: suite },
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
          { conversationId, deviceIds: [d.deviceId, benDevice], cipherSuite: suite },
          as(ben),
        );
        expect(c.body).toEqual({
          items: [{ deviceId: d.deviceId, keyPackage: last, lastResort: true }],
          missing: [benDevice],
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

  it("does not let someone outside a conversation drain another person's key packages", async () => {
    const keys = await signatureKeys();
    const victim = (await register(ana, keys)).body.deviceId;
    const identity = deviceIdentity('default', victim);
    const kps = [await keyPackage(CLASSIC, identity, keys), await keyPackage(CLASSIC, identity, keys)];
    await h.request('POST', `/v1/messaging/devices/${victim}/key-packages`, { keyPackages: kps }, as(ana));
    const benDevice = (await register(ben, await signatureKeys())).body.deviceId;
    const stranger = await staffWithSession(h, ['nurse']);
    const strangerDevice = (await register(stranger, await signatureKeys())).body.deviceId;
    const open = async (who: TestPerson, deviceId: string, other: TestPerson) =>
      (
        await h.request(
          'POST',
          '/v1/conversations',
          { kind: 'direct', deviceId, members: [{ kind: 'user', id: other.userId }], cipherSuite: CLASSIC },
          as(who),
        )
      ).body.id as string;
    const theirs = await open(ben, benDevice, ana);
    const strangers = await open(stranger, strangerDevice, ben);
    const claim = (body: object) => h.request('POST', '/v1/messaging/key-packages/claim', body, as(stranger));
    const cases: [string, object, number, string][] = [
      ['no conversation', { deviceIds: Array(200).fill(victim), cipherSuite: CLASSIC }, 400, 'SP_REQ_VALIDATION'],
      [
        'a conversation the claimer is not on',
        { conversationId: theirs, deviceIds: [victim], cipherSuite: CLASSIC },
        404,
        'SP_CONVERSATION_NOT_FOUND',
      ],
      [
        "the claimer's own conversation, naming a device off its roster",
        { conversationId: strangers, deviceIds: [strangerDevice, victim], cipherSuite: CLASSIC },
        403,
        'SP_MESSAGING_NOT_IN_ROSTER',
      ],
      [
        "another suite than the conversation's",
        { conversationId: strangers, deviceIds: [benDevice], cipherSuite: XWING },
        400,
        'SP_REQ_VALIDATION',
      ],
    ];
    for (const [what, body, status, code] of cases) {
      const r = await claim(body);
      expect(r.status, what).toBe(status);
      expect(r.body.code, what).toBe(code);
    }
    const counts = await h.request('GET', `/v1/messaging/devices/${victim}/key-packages`, undefined, as(ana));
    expect(counts.body.counts[CLASSIC]).toEqual({ available: 2, lastResort: false });
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
});
