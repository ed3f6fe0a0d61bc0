import { createHash } from 'node:crypto';
import { decodeMlsMessage, getCiphersuiteFromName, getCiphersuiteImpl, type CiphersuiteImpl } from 'ts-mls';
import { verifyKeyPackage } from 'ts-mls/keyPackage.js';
import { verifyLeafNodeSignatureKeyPackage } from 'ts-mls/leafNode.js';
import { isCipherSuite, type CipherSuiteName } from './messaging-types.js';

/** A key package that passed every check, ready to store. */
export interface ValidKeyPackage {
  suite: CipherSuiteName;
  /** The encoded MLSMessage, exactly as uploaded. */
  bytes: Uint8Array;
  /** Lower-case hex SHA-256 of `bytes` (duplicates are recognised by it). */
  ref: string;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const impls = new Map<CipherSuiteName, Promise<CiphersuiteImpl>>();

/** ts-mls's implementation of an allowed suite, built once per process (X-Wing's is costly). */
export function suiteImpl(suite: CipherSuiteName): Promise<CiphersuiteImpl> {
  let p = impls.get(suite);
  if (!p) impls.set(suite, (p = getCiphersuiteImpl(getCiphersuiteFromName(suite))));
  return p;
}

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

/**
 * Checks an uploaded key package (standard base64 of an encoded `MLSMessage`) as the Authentication
 * Service must before handing it to others: wire format `mls_key_package`, nothing after it, an
 * allowed cipher suite, a `basic` credential with exactly the device's identity and the device's bound
 * signature key, a current lifetime, an init key distinct from the leaf's encryption key (RFC 9420
 * §10.1), and both signatures (key package and leaf node) verified by ts-mls itself. Returns the
 * reason of the first failure (PHI-free: it speaks of the package, never its contents) or the package.
 */
export async function validateKeyPackage(
  b64: string,
  device: { identity: Uint8Array; signatureKey: Uint8Array },
  now: Date,
): Promise<ValidKeyPackage | { reason: string }> {
  if (typeof b64 !== 'string' || !b64 || !BASE64.test(b64)) return { reason: 'not standard base64' };
  const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
  let decoded: ReturnType<typeof decodeMlsMessage>;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch {
    decoded = undefined;
  }
  if (!decoded || decoded[1] !== bytes.length) return { reason: 'not an encoded MLSMessage' };
  const msg = decoded[0];
  if (msg.wireformat !== 'mls_key_package') return { reason: 'wire format is not mls_key_package' };
  const kp = msg.keyPackage;
  if (msg.version !== 'mls10' || kp.version !== 'mls10') return { reason: 'not MLS 1.0' };
  if (!isCipherSuite(kp.cipherSuite)) return { reason: 'cipher suite not allowed' };
  const leaf = kp.leafNode;
  if (leaf.leafNodeSource !== 'key_package') return { reason: 'leaf node is not of a key package' };
  if (leaf.credential.credentialType !== 'basic' || !equal(leaf.credential.identity, device.identity))
    return { reason: "credential is not this device's" };
  if (!equal(leaf.signaturePublicKey, device.signatureKey)) return { reason: "signature key is not this device's" };
  const secs = BigInt(Math.floor(now.getTime() / 1000));
  if (leaf.lifetime.notAfter < secs || leaf.lifetime.notBefore > secs + 3600n)
    return { reason: 'lifetime is not current' };
  if (equal(kp.initKey, leaf.hpkePublicKey)) return { reason: 'init key equals the encryption key' };
  const cs = await suiteImpl(kp.cipherSuite);
  let verified = false;
  try {
    verified =
      (await verifyLeafNodeSignatureKeyPackage(leaf, cs.signature)) && (await verifyKeyPackage(kp, cs.signature));
  } catch {
    verified = false;
  }
  if (!verified) return { reason: 'signature does not verify' };
  return { suite: kp.cipherSuite, bytes, ref: createHash('sha256').update(bytes).digest('hex') };
}
