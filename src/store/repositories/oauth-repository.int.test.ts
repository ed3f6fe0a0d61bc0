import { expect, it } from 'vitest';
import { describeEachBackend, freshDatabases, migratedStore } from '../../../test/helpers/backends.js';
import { issueApiKey, rotateApiKey, verifyApiKey } from '../../auth/api-keys.js';

/** Replay detection and API-key rotation rely on the database, so they are checked on every backend. */
describeEachBackend('system clients repository', (backend) => {
  const fresh = freshDatabases(backend);

  it('records an assertion id once: the second insert (even racing) reports a replay, and expired ids are purged', async () => {
    const db = await fresh({ migrated: true });
    const store = await migratedStore(db);
    const results = await Promise.all(
      Array.from({ length: 6 }, () => store.transaction((tx) => tx.oauth.insertJti('c1', 'jti-1', 1_000))),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    // Another client may use the same jti value: ids are per client (RFC 7523 §3).
    expect(await store.transaction((tx) => tx.oauth.insertJti('c2', 'jti-1', 5_000))).toBe(true);
    // A refused insert leaves the transaction usable (PostgreSQL aborts on a raised conflict).
    await store.transaction(async (tx) => {
      expect(await tx.oauth.insertJti('c1', 'jti-1', 1_000)).toBe(false);
      await tx.tenants.ensure('after-conflict', 'x', 1);
    });
    expect(await store.read.oauth.purgeExpiredJti(2_000)).toBe(1);
    expect(await db.query('select client_id, jti from oauth_jti')).toEqual([{ client_id: 'c2', jti: 'jti-1' }]);
  });

  it('rotates an API key once: concurrent rotations give one successor, the other is refused', async () => {
    const db = await fresh({ migrated: true });
    const store = await migratedStore(db);
    await store.read.tenants.ensure('t1', 'Clinic', 1);
    const now = new Date();
    const old = await issueApiKey(
      store,
      { tenantId: 't1', name: 'feed', scopes: ['system/Patient.rs'], expiresInDays: 10, actor: 'system:test' },
      now,
    );
    const tries = await Promise.allSettled(
      [1, 2, 3].map(() => rotateApiKey(store, 't1', old.id, { graceHours: 2 }, { actor: 'system:test' }, now)),
    );
    const won = tries.filter((t) => t.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const t of tries)
      if (t.status === 'rejected') expect((t.reason as { code: string }).code).toBe('SP_APIKEY_ALREADY_ROTATED');
    const successor = (won[0] as PromiseFulfilledResult<{ id: string; key: string }>).value;
    expect(await store.read.oauth.apiKeySuccessor('t1', old.id)).toBe(successor.id);
    const oldRow = await store.read.apiKeys.get(old.id);
    expect(Number(oldRow!.expires_at)).toBe(now.getTime() + 2 * 3_600_000);
    expect((await verifyApiKey(store, old.key, new Date(now.getTime() + 3_600_000)))?.keyId).toBe(old.id);
    expect(await verifyApiKey(store, old.key, new Date(now.getTime() + 2 * 3_600_000))).toBeNull();
    expect((await verifyApiKey(store, successor.key, new Date(now.getTime() + 9 * 86_400_000)))?.scopes).toEqual([
      'system/Patient.rs',
    ]);
    // A key already ending sooner than the grace period keeps its earlier end.
    expect(
      await store.read.oauth.shortenApiKeyLife('t1', successor.id, now.getTime() + 100 * 86_400_000, now.getTime()),
    ).toBe(true);
    expect(Number((await store.read.apiKeys.get(successor.id))!.expires_at)).toBe(now.getTime() + 10 * 86_400_000);
    expect(await store.read.oauth.shortenApiKeyLife('other-tenant', successor.id, now.getTime(), now.getTime())).toBe(
      false,
    );
  });
});
