import { createHash, verify, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Signer } from '../crypto/signer.js';
import type { Person } from './messaging-types.js';

/**
 * The binding of a messaging device (the MLS Authentication Service's statement): "in tenant T,
 * device D of person P signs with key K, since t". It is RFC 8785 JSON signed by the installation's
 * notary key (HSM-capable; published at /.well-known/sealpost-keys.json), and its SHA-256 is
 * committed to the audit log at registration, so a member's SDK can check both that the server
 * said it and that the server cannot say it differently to someone else unnoticed.
 */
export interface DeviceBinding {
  v: 1;
  type: 'sealpost.device-binding';
  tenant: string;
  person: Person;
  device: string;
  /** Standard base64 of the raw 32-byte Ed25519 public key. */
  signatureKey: string;
  /** ISO 8601. */
  issuedAt: string;
}

export interface SignedBinding {
  /** The canonical JSON text of the binding (what is signed and hashed). */
  binding: string;
  /** Ed25519 signature of the UTF-8 binding text by the notary key `keyId`. */
  signature: Buffer;
  keyId: string;
  /** Lower-case hex SHA-256 of the UTF-8 binding text. */
  bindingHash: string;
}

/** Lower-case hex SHA-256 of a binding's text: what the registration and revocation entries commit to. */
export const bindingHash = (binding: string): string => createHash('sha256').update(binding, 'utf8').digest('hex');

/** The canonical text of the binding of `device` to `person`, signed by the notary key. */
export async function signBinding(
  signer: Signer,
  b: { tenantId: string; person: Person; deviceId: string; signatureKey: Uint8Array; issuedAt: Date },
): Promise<SignedBinding> {
  const value: DeviceBinding = {
    v: 1,
    type: 'sealpost.device-binding',
    tenant: b.tenantId,
    // Only the two fields: a Person carrying more would change the text.
    person: { kind: b.person.kind, id: b.person.id },
    device: b.deviceId,
    signatureKey: Buffer.from(b.signatureKey).toString('base64'),
    issuedAt: b.issuedAt.toISOString(),
  };
  const binding = canonicalize(value)!;
  const signature = await signer.sign(Buffer.from(binding, 'utf8'));
  return { binding, signature, keyId: signer.keyId, bindingHash: bindingHash(binding) };
}

/** Whether `signature` over the binding text verifies with a notary public key (what an SDK checks). */
export function verifyBinding(binding: string, signature: Uint8Array, publicKey: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(binding, 'utf8'), publicKey, signature);
  } catch {
    return false;
  }
}
