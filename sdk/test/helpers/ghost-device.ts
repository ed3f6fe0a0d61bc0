/**
 * A "ghost" device: what a compromised server (or database) could add on its own. Its binding is
 * even validly signed by the installation's notary key, but it is written straight into the
 * database with no `messaging.device.registered` entry in the audit log; key packages are uploaded
 * for it through the API as its person. The SDK must refuse it.
 */
import { randomBytes } from 'node:crypto';
import { defaultCapabilities, defaultLifetime, generateKeyPackageWithKey } from 'ts-mls';
import type { Harness } from '../../../test/helpers/sealpost-harness.js';
import type { TestPerson } from '../../../test/helpers/identity.js';
import { openKeyProvider } from '../../../src/crypto/open-key-provider.js';
import { signBinding } from '../../../src/messaging/device-binding.js';
import { CIPHER_SUITES, type CipherSuiteName } from '../../src/cipher-suites.js';
import { deviceCredential, encodeMessage, suiteImpl } from '../../src/messaging/mls.js';
import { trustingFetch } from './sdk-clients.js';
import { Http } from '../../src/messaging/http.js';

export async function insertGhostDevice(h: Harness, person: TestPerson) {
  const deviceId = `ghost-${randomBytes(4).toString('hex')}`;
  const keys = await (await suiteImpl(CIPHER_SUITES[0])).signature.keygen();
  const now = new Date();
  const { provider } = await openKeyProvider(h.app.config.keys);
  const signed = await signBinding(provider.signer(), {
    tenantId: 'default',
    person: { kind: 'user', id: person.userId },
    deviceId,
    signatureKey: keys.publicKey,
    issuedAt: now,
  });
  await h.app.store.transaction(async (tx) => {
    await tx.sessions.insertDevice({
      id: deviceId,
      tenant_id: 'default',
      subject_type: 'user',
      subject_id: person.userId,
      platform: 'cli',
      name: 'ghost',
      push_token_ct: null,
      created_at: now.getTime(),
      revoked_at: null,
    });
    await tx.messagingDevices.insert({
      tenant_id: 'default',
      device_id: deviceId,
      person_kind: 'user',
      person_id: person.userId,
      signature_key: Buffer.from(keys.publicKey),
      binding: signed.binding,
      signature: Buffer.from(signed.signature),
      key_id: signed.keyId,
      binding_hash: signed.bindingHash,
      registered_at: now.getTime(),
      revoked_at: null,
    });
  });
  const packages = new Map<CipherSuiteName, string[]>();
  const http = new Http({ baseUrl: h.url, token: person.token, fetch: trustingFetch(h.cert) });
  for (const suite of CIPHER_SUITES) {
    const impl = await suiteImpl(suite);
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      const kp = await generateKeyPackageWithKey(
        deviceCredential('default', deviceId),
        defaultCapabilities(),
        defaultLifetime,
        [],
        keys,
        impl,
      );
      made.push(encodeMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: kp.publicPackage }));
    }
    // Two for the API (claims), one kept to forge a commit with.
    await http.post(`/v1/messaging/devices/${deviceId}/key-packages`, { keyPackages: made.slice(0, 2) });
    packages.set(suite, made);
  }
  return { deviceId, keyPackage: (suite: CipherSuiteName) => packages.get(suite)![2]! };
}
