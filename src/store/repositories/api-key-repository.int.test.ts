import { expect, it } from 'vitest';
import { describeEachBackend, freshDatabases, migratedStore } from '../../../test/helpers/backends.js';
import { issueApiKey, rotateApiKey, verifyApiKey } from '../../auth/api-keys.js';

/** API-key rotation relies on the database's conditional writes, so it is checked on every backend. */
describeEachBackend('API keys repository', (backend) => {
  const fresh = freshDatabases(backend);

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
    expect(await store.read.apiKeys.successor('t1', old.id)).toBe(successor.id);
    const oldRow = await store.read.apiKeys.get(old.id);
    expect(Number(oldRow!.expires_at)).toBe(now.getTime() + 2 * 3_600_000);
    expect((await verifyApiKey(store, old.key, new Date(now.getTime() + 3_600_000)))?.keyId).toBe(old.id);
    expect(await verifyApiKey(store, old.key, new Date(now.getTime() + 2 * 3_600_000))).toBeNull();
    expect((await verifyApiKey(store, successor.key, new Date(now.getTime() + 9 * 86_400_000)))?.scopes).toEqual([
      'system/Patient.rs',
    ]);
    // A key already ending sooner than the grace period keeps its earlier end.
    expect(
      await store.read.apiKeys.shortenLife('t1', successor.id, now.getTime() + 100 * 86_400_000, now.getTime()),
    ).toBe(true);
    expect(Number((await store.read.apiKeys.get(successor.id))!.expires_at)).toBe(now.getTime() + 10 * 86_400_000);
    expect(await store.read.apiKeys.shortenLife('other-tenant', successor.id, now.getTime(), now.getTime())).toBe(
      false,
    );
  });
});
