import { expect, it } from 'vitest';
import { describeEachBackend, freshDatabases, migratedStore } from '../../../test/helpers/backends.js';

/** Replay detection relies on the database, so it is checked on every backend. */
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
});
