/**
 * ts-mls glue: the cipher suite implementations, the device credential, key packages, group state
 * (de)serialization and MLSMessage encoding. Every MLS and HPKE operation is ts-mls's.
 */
import {
  decodeGroupState,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type AuthenticationService,
  type CiphersuiteImpl,
  type ClientConfig,
  type ClientState,
  type Credential,
  type KeyPackage,
  type MLSMessage,
  type PrivateKeyPackage,
} from 'ts-mls';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import { defaultClientConfig } from 'ts-mls/clientConfig.js';
import type { CipherSuiteName } from '../cipher-suites.js';
import { fromBase64, toBase64, toHex, utf8 } from '../encoding.js';

const impls = new Map<CipherSuiteName, Promise<CiphersuiteImpl>>();

/** The ts-mls implementation of a suite (built once per process). */
export function suiteImpl(name: CipherSuiteName): Promise<CiphersuiteImpl> {
  let p = impls.get(name);
  if (!p) {
    p = getCiphersuiteImpl(getCiphersuiteFromName(name));
    impls.set(name, p);
  }
  return p;
}

/** `sealpost:v1:<tenant>:<device>`, the identity of a device's basic credential. */
export const deviceIdentity = (tenantId: string, deviceId: string): string => `sealpost:v1:${tenantId}:${deviceId}`;

export function parseDeviceIdentity(identity: Uint8Array): { tenantId: string; deviceId: string } | null {
  let s: string;
  try {
    s = new TextDecoder('utf-8', { fatal: true }).decode(identity);
  } catch {
    return null;
  }
  const m = /^sealpost:v1:([^:]+):([^:]+)$/.exec(s);
  return m ? { tenantId: m[1]!, deviceId: m[2]! } : null;
}

export const deviceCredential = (tenantId: string, deviceId: string): Credential => ({
  credentialType: 'basic',
  identity: utf8(deviceIdentity(tenantId, deviceId)),
});

export function clientConfig(authService: AuthenticationService): ClientConfig {
  return { ...defaultClientConfig, authService };
}

/** The device's signature key pair (Ed25519 in both suites). */
export interface SignatureKeyPair {
  publicKey: Uint8Array;
  signKey: Uint8Array;
}

/** A fresh key package of `suite` for this device, with its private part and reference (hex). */
export async function newKeyPackage(
  suite: CipherSuiteName,
  tenantId: string,
  deviceId: string,
  keys: SignatureKeyPair,
): Promise<{ publicPackage: KeyPackage; privatePackage: PrivateKeyPackage; ref: string; encoded: string }> {
  const impl = await suiteImpl(suite);
  const kp = await generateKeyPackageWithKey(
    deviceCredential(tenantId, deviceId),
    defaultCapabilities(),
    defaultLifetime,
    [],
    keys,
    impl,
  );
  return {
    ...kp,
    ref: toHex(await makeKeyPackageRef(kp.publicPackage, impl.hash)),
    encoded: encodeMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: kp.publicPackage }),
  };
}

export const keyPackageRef = async (kp: KeyPackage, suite: CipherSuiteName): Promise<string> =>
  toHex(await makeKeyPackageRef(kp, (await suiteImpl(suite)).hash));

export const encodeMessage = (m: MLSMessage): string => toBase64(encodeMlsMessage(m));

/** Decodes a base64 MLSMessage; throws on anything else. */
export function decodeMessage(b64: string): MLSMessage {
  const bytes = fromBase64(b64);
  const d = bytes ? decodeMlsMessage(bytes, 0) : undefined;
  if (!d) throw new Error('not an MLS message');
  return d[0];
}

export const saveState = (state: ClientState): Uint8Array => encodeGroupState(state);

export function loadState(bytes: Uint8Array, config: ClientConfig): ClientState {
  const d = decodeGroupState(bytes, 0);
  if (!d) throw new Error('stored group state does not decode');
  return { ...d[0], clientConfig: config };
}

/** Private key packages as stored (JSON of base64 members). */
export const encodePrivatePackage = (
  p: PrivateKeyPackage,
  publicPackage: string,
  suite: CipherSuiteName,
  lastResort = false,
) =>
  JSON.stringify({
    suite,
    lastResort,
    publicPackage,
    initPrivateKey: toBase64(p.initPrivateKey),
    hpkePrivateKey: toBase64(p.hpkePrivateKey),
    signaturePrivateKey: toBase64(p.signaturePrivateKey),
  });

export function decodePrivatePackage(s: string): {
  suite: CipherSuiteName;
  lastResort: boolean;
  publicPackage: KeyPackage;
  privatePackage: PrivateKeyPackage;
} {
  const j = JSON.parse(s) as Record<string, string | boolean>;
  const m = decodeMessage(j.publicPackage as string);
  if (m.wireformat !== 'mls_key_package') throw new Error('stored key package is not one');
  return {
    suite: j.suite as CipherSuiteName,
    lastResort: j.lastResort === true,
    publicPackage: m.keyPackage,
    privatePackage: {
      initPrivateKey: fromBase64(j.initPrivateKey)!,
      hpkePrivateKey: fromBase64(j.hpkePrivateKey)!,
      signaturePrivateKey: fromBase64(j.signaturePrivateKey)!,
    },
  };
}
