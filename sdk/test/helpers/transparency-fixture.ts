/**
 * Builds device views the way the server does (binding signed by a notary key, registration entry in
 * an audit log of several entries, inclusion proof, signed checkpoint), with the server's own audit
 * code (src/audit), so the SDK's verification is tested against the real formats.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { encodeAuditEntry } from '../../../src/audit/audit-entry.js';
import { formatCheckpoint, signNote, verifierKey } from '../../../src/audit/checkpoint.js';
import { rootFromLeafHashes } from '../../../src/audit/merkle.js';
import { inclusionProof } from '../../../src/audit/merkle-proofs.js';
import type { MessagingDeviceView, PublishedKeys } from '../../src/messaging/wire-types.js';
import type { TrustAnchors } from '../../src/transparency/device-verifier.js';

const raw = (k: KeyObject) => (k.export({ format: 'jwk' }) as { x: string }).x;

export interface Fixture {
  anchors: TrustAnchors;
  keys: PublishedKeys;
  notary: { privateKey: KeyObject; publicKey: KeyObject };
  logKey: { privateKey: KeyObject; publicKey: KeyObject };
  /** A view of a registered device (index 3 of a log of 6). */
  view(opts?: { deviceId?: string; signatureKey?: Uint8Array; registered?: boolean }): Promise<MessagingDeviceView>;
}

export function transparencyFixture(tenantId = 'default'): Fixture {
  const notary = generateKeyPairSync('ed25519');
  const logKey = generateKeyPairSync('ed25519');
  const origin = 'sealpost.test/audit';
  const keys: PublishedKeys = {
    keys: [
      {
        kty: 'OKP',
        crv: 'Ed25519',
        x: raw(notary.publicKey),
        kid: 'notary-1',
        status: 'current',
        createdAt: '2020-01-01T00:00:00.000Z',
        notBefore: '2020-01-01T00:00:00.000Z',
      },
    ],
    checkpointKey: verifierKey(origin, logKey.publicKey),
  };
  const anchors: TrustAnchors = { notaryKeys: keys.keys, checkpointKey: keys.checkpointKey! };
  const view: Fixture['view'] = async (opts = {}) => {
    const deviceId = opts.deviceId ?? 'dev-1';
    const sigKey = Buffer.from(
      opts.signatureKey ??
        generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12),
    );
    const person = { kind: 'user' as const, id: 'u-1' };
    const binding = canonicalize({
      v: 1,
      type: 'sealpost.device-binding',
      tenant: tenantId,
      person,
      device: deviceId,
      signatureKey: sigKey.toString('base64'),
      issuedAt: '2026-01-01T00:00:00.000Z',
    })!;
    const bindingHash = createHash('sha256').update(binding, 'utf8').digest('hex');
    const entries = Array.from({ length: 6 }, (_, i) =>
      encodeAuditEntry({
        tenantId,
        at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
        actor: 'user:u-1',
        action: i === 3 && opts.registered !== false ? 'messaging.device.registered' : 'notification.created',
        outcome: 'success',
        targetType: 'device',
        targetId: i === 3 ? deviceId : `other-${i}`,
        details: i === 3 ? { bindingHash, keyId: 'notary-1' } : { n: i },
      }),
    );
    const leaves = entries.map((e) => new Uint8Array(e.leafHash));
    const root = rootFromLeafHashes(leaves);
    const get = async (level: number, index: number) =>
      rootFromLeafHashes(leaves.slice(index * 2 ** level, (index + 1) * 2 ** level));
    return {
      deviceId,
      tenantId,
      person,
      identity: Buffer.from(`sealpost:v1:${tenantId}:${deviceId}`).toString('base64'),
      signatureKey: sigKey.toString('base64'),
      status: 'active',
      binding,
      signature: sign(null, Buffer.from(binding, 'utf8'), notary.privateKey).toString('base64'),
      keyId: 'notary-1',
      registeredAt: '2026-01-01T00:00:03.000Z',
      revokedAt: null,
      registration: {
        status: 'anchored',
        entry: entries[3]!.entry,
        index: 3,
        treeSize: 6,
        inclusion: (await inclusionProof(3, 6, get)).map((p) => Buffer.from(p).toString('base64')),
        checkpoint: signNote(formatCheckpoint(origin, 6, root), origin, logKey.privateKey),
      },
      revocation: null,
    };
  };
  return { anchors, keys, notary, logKey, view };
}
