import { expect, it } from 'vitest';
import { describeEachBackend, freshDatabases, migratedStore } from '../helpers/backends.js';
import { issueApiKey, revokeApiKey, verifyApiKey } from '../../src/auth/api-keys.js';
import { parseClientCertBinding } from '../../src/auth/client-cert.js';
import { testCa } from '../helpers/transport-pki.js';

/** API keys with and without an mTLS binding (migration 007) behave the same on every backend. */
describeEachBackend('API keys bound to client certificates', (backend) => {
  const fresh = freshDatabases(backend);

  it('store a fingerprint or a CA binding, give it back on verification, list in id order by cursor, and revoke once', async () => {
    const db = await fresh({ migrated: true });
    const store = await migratedStore(db);
    await store.read.tenants.ensure('t1', 'Clinic', 1);
    const now = new Date();
    const ca = await testCa('Contract CA');
    const byFp = parseClientCertBinding({ fingerprintSha256: 'ab'.repeat(32) }, now);
    const byCa = parseClientCertBinding({ issuerCaPem: ca.cert }, now);
    const keys = [
      await issueApiKey(
        store,
        { tenantId: 't1', name: 'fp', scopes: ['audit'], clientCert: byFp, actor: 'system:test' },
        now,
      ),
      await issueApiKey(store, { tenantId: 't1', name: 'ca', scopes: [], clientCert: byCa, actor: 'system:test' }, now),
      await issueApiKey(store, { tenantId: 't1', name: 'none', scopes: ['admin'], actor: 'system:test' }, now),
    ];
    expect((await verifyApiKey(store, keys[0]!.key, now))!.clientCert).toEqual(byFp);
    expect((await verifyApiKey(store, keys[1]!.key, now))!.clientCert).toEqual(byCa);
    expect((await verifyApiKey(store, keys[2]!.key, now))!.clientCert).toBeNull();

    const ids = keys.map((k) => k.id).sort();
    const first = await store.read.apiKeys.list('t1', '', 2);
    const rest = await store.read.apiKeys.list('t1', first[1]!.id, 2);
    expect([...first, ...rest].map((r) => r.id)).toEqual(ids);
    expect(await store.read.apiKeys.list('other-tenant', '', 10)).toEqual([]);

    await revokeApiKey(store, 't1', keys[0]!.id, { actor: 'system:test' }, now);
    expect(await verifyApiKey(store, keys[0]!.key, now)).toBeNull();
    await expect(revokeApiKey(store, 't1', keys[0]!.id, { actor: 'system:test' }, now)).rejects.toMatchObject({
      code: 'SP_APIKEY_NOT_FOUND',
    });
    await expect(revokeApiKey(store, 'other-tenant', keys[1]!.id, { actor: 'system:test' }, now)).rejects.toMatchObject(
      { code: 'SP_APIKEY_NOT_FOUND' },
    );
    expect(await verifyApiKey(store, keys[1]!.key, now)).not.toBeNull();

    // Each change is on the record, written in its own transaction; the failed revocations wrote nothing.
    const audit = await db.query<{ action: string; entry: string }>(
      'select action, entry from audit_entries order by idx',
    );
    expect(audit.map((a) => a.action)).toEqual([
      'api_key.created',
      'api_key.created',
      'api_key.created',
      'api_key.revoked',
    ]);
    expect(audit[0]!.entry).toContain(`sha256:${'ab'.repeat(32)}`);
    expect(audit[1]!.entry).toContain(`ca-sha256:${byCa.kind === 'ca' ? byCa.caFingerprintSha256 : ''}`);
    for (const k of keys) expect(audit.map((a) => a.entry).join('\n')).not.toContain(k.key.slice(20));
    await store.close();
  });
});
