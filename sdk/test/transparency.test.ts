import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyDevice, DeviceVerificationError } from '../src/transparency/device-verifier.js';
import { verifyInclusion, leafHash } from '../src/transparency/merkle.js';
import { verifierKey } from '../../src/audit/checkpoint.js';
import { transparencyFixture } from './helpers/transparency-fixture.js';
import type { MessagingDeviceView } from '../src/messaging/wire-types.js';

const f = transparencyFixture();

async function refused(v: MessagingDeviceView, anchors = f.anchors, expectArg = {}): Promise<string> {
  const err = await verifyDevice(v, anchors, expectArg).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeviceVerificationError);
  return (err as DeviceVerificationError).reason;
}

const flipB64 = (s: string) => {
  const b = Buffer.from(s, 'base64');
  b[0] ^= 1;
  return b.toString('base64');
};

describe('device verification (key transparency)', () => {
  it('trusts a device whose binding is signed, registered, included in a signed checkpoint and active', async () => {
    const v = await f.view();
    const d = await verifyDevice(v, f.anchors, { signatureKey: new Uint8Array(Buffer.from(v.signatureKey, 'base64')) });
    expect(d).toMatchObject({
      deviceId: 'dev-1',
      tenantId: 'default',
      person: { kind: 'user', id: 'u-1' },
      logIndex: 3,
    });
  });

  it('refuses a tampered inclusion proof', async () => {
    const v = await f.view();
    if (v.registration.status !== 'anchored') throw new Error('fixture');
    const inclusion = [...v.registration.inclusion];
    inclusion[1] = flipB64(inclusion[1]!);
    expect(await refused({ ...v, registration: { ...v.registration, inclusion } })).toMatch(/inclusion proof fails/);
    expect(await refused({ ...v, registration: { ...v.registration, inclusion: inclusion.slice(1) } })).toMatch(
      /inclusion proof fails/,
    );
    expect(await refused({ ...v, registration: { ...v.registration, index: 2 } })).toMatch(/inclusion proof fails/);
  });

  it('refuses a checkpoint signed by another key than the published checkpoint key', async () => {
    const v = await f.view();
    const other = generateKeyPairSync('ed25519');
    const anchors = { ...f.anchors, checkpointKey: verifierKey('sealpost.test/audit', other.publicKey) };
    expect(await refused(v, anchors)).toMatch(/checkpoint is not signed by the audit log key/);
    expect(await refused(v, { ...f.anchors, checkpointKey: 'nonsense' })).toMatch(/checkpoint key is malformed/);
  });

  it('refuses a binding whose notary signature does not verify or whose key is not published', async () => {
    const v = await f.view();
    expect(await refused({ ...v, signature: flipB64(v.signature) })).toMatch(/binding signature does not verify/);
    const rogue = generateKeyPairSync('ed25519');
    const forged = sign(null, Buffer.from(v.binding, 'utf8'), rogue.privateKey).toString('base64');
    expect(await refused({ ...v, signature: forged })).toMatch(/binding signature does not verify/);
    expect(await refused({ ...v, keyId: 'unknown-key' })).toMatch(/not signed by a published notary key/);
  });

  it('refuses a revoked device', async () => {
    const v = await f.view();
    expect(await refused({ ...v, status: 'revoked', revokedAt: '2026-02-01T00:00:00.000Z' })).toMatch(/revoked/);
  });

  it('refuses a device whose MLS leaf key is not the bound key, or whose view swaps the key', async () => {
    const v = await f.view();
    expect(await refused(v, f.anchors, { signatureKey: new Uint8Array(32) })).toMatch(/MLS leaf uses another/);
    const other = await f.view();
    expect(await refused({ ...v, signatureKey: other.signatureKey })).toMatch(/binds another signature key/);
  });

  it('refuses a device with no registration entry in the log (a ghost the server inserted)', async () => {
    expect(await refused(await f.view({ registered: false }))).toMatch(/not the registration of this binding/);
    const v = await f.view();
    expect(await refused({ ...v, registration: { status: 'pending' } })).toMatch(/not anchored/);
    const other = await f.view({ deviceId: 'dev-2' });
    expect(await refused({ ...v, registration: other.registration })).toMatch(/not the registration of this binding/);
  });

  it('refuses a view of another device or tenant than the one asked for', async () => {
    const v = await f.view();
    expect(await refused(v, f.anchors, { deviceId: 'dev-9' })).toMatch(/another device/);
    expect(await refused(v, f.anchors, { tenantId: 't2' })).toMatch(/another tenant/);
    expect(await refused({ ...v, person: { kind: 'user', id: 'u-2' } })).toMatch(/another person/);
  });
});

describe('RFC 9162 inclusion verification', () => {
  it('refuses malformed input instead of throwing', async () => {
    const leaf = await leafHash(new Uint8Array([1]));
    expect(await verifyInclusion(leaf, 0, 1, [], leaf)).toBe(true);
    expect(await verifyInclusion(leaf, 1, 1, [], leaf)).toBe(false);
    expect(await verifyInclusion(leaf, -1, 1, [], leaf)).toBe(false);
    expect(await verifyInclusion(leaf.subarray(1), 0, 1, [], leaf)).toBe(false);
    expect(await verifyInclusion(leaf, 0, 2, [new Uint8Array(3)], leaf)).toBe(false);
  });
});
