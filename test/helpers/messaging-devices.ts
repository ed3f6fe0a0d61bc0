import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import {
  defaultCapabilities,
  defaultLifetime,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type CiphersuiteName,
} from 'ts-mls';
import { samplePatient, startSealpost, type Harness } from './sealpost-harness.js';
import { staffWithSession, type TestPerson } from './identity.js';
import { createTenant } from '../../src/auth/tenants.js';
import { CIPHER_SUITES } from '../../src/messaging/messaging-types.js';

/** A device's Ed25519 signature key pair (ts-mls's form). */
export type Keys = { signKey: Uint8Array; publicKey: Uint8Array };
export const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** An Ed25519 signature key pair from ts-mls's own suite implementation (one serves both suites). */
export async function signatureKeys(): Promise<Keys> {
  return (await getCiphersuiteImpl(getCiphersuiteFromName(CIPHER_SUITES[0]))).signature.keygen();
}

/** A real key package (encoded MLSMessage, base64) of `identity` signed with `keys`. */
export async function keyPackage(suite: CiphersuiteName, identity: string, keys: Keys): Promise<string> {
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

/** A server with two staff members, a staff member of another tenant and a signed-in patient account. */
export interface MessagingWorld {
  h: Harness;
  ana: TestPerson;
  ben: TestPerson;
  otherTenant: TestPerson;
  patientAccount: string;
  patientToken: string;
  /** Headers of a person (or of a bare session token). */
  as(p: { headers: Record<string, string> } | string): Record<string, string>;
  /** POST /v1/messaging/devices as `who` with `keys`' public key. */
  register(who: TestPerson | string, keys: Keys, name?: string): Promise<{ status: number; body: any; text: string }>;
}

export async function messagingWorld(): Promise<MessagingWorld> {
  const h = await startSealpost();
  const ana = await staffWithSession(h, ['nurse']);
  const ben = await staffWithSession(h, ['physician']);
  await createTenant(h.app.store, 'tenant-b', 'Other organisation', new Date());
  const otherTenant = await staffWithSession(h, ['nurse'], 'tenant-b');
  expect((await h.request('PUT', '/v1/patients/p-msg', samplePatient())).status).toBe(201);
  const patientAccount = `pa-${randomBytes(4).toString('hex')}`;
  const patientToken = await h.app.store.transaction(async (tx) => {
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
  const as = (p: { headers: Record<string, string> } | string) =>
    typeof p === 'string' ? { authorization: `Bearer ${p}` } : p.headers;
  const register = (who: TestPerson | string, keys: Keys, name = 'Phone') =>
    h.request('POST', '/v1/messaging/devices', { name, platform: 'cli', signatureKey: b64(keys.publicKey) }, as(who));
  return { h, ana, ben, otherTenant, patientAccount, patientToken, as, register };
}
