import { describe, expect, it } from 'vitest';
import { describeEachBackend, freshDatabases, migratedStore } from '../../test/helpers/backends.js';
import { DEFAULT_THROTTLE, delayAfter, LoginThrottle } from './throttle.js';

describe('throttle delays', () => {
  it('are free for the first failures, then double with each failure up to the cap', () => {
    const d = (n: number) => delayAfter(n, 2, 1_000, 15 * 60_000);
    expect([d(1), d(2), d(3), d(4), d(5), d(6)]).toEqual([0, 0, 1_000, 2_000, 4_000, 8_000]);
    expect(d(40)).toBe(15 * 60_000);
    expect(d(10_000)).toBe(15 * 60_000);
  });
});

describeEachBackend('login throttle counters', (backend) => {
  const fresh = freshDatabases(backend);
  const policy = { ...DEFAULT_THROTTLE, accountFree: 2, ipFree: 3, windowMs: 60_000, lockoutThreshold: 5, lockoutMinutes: 15 };

  it('block a key until blocked_until once its free failures are used, per key, and refuse attempts before that instant only', async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    const t = new LoginThrottle(store, policy);
    const keys = t.keys('default', 'e1', '192.0.2.1');
    const fail = (now: number) => store.transaction((tx) => t.recordFailure(tx, keys, now));
    await fail(1_000);
    await fail(2_000);
    expect(await t.blocked(keys, 2_000)).toBeNull();
    await fail(3_000); // third failure: the account key (2 free) waits 1 s
    expect(await t.blocked(keys, 3_500)).toBe('account');
    expect(await t.blocked(keys, 4_000)).toBeNull();
    // Another account from the same address: its own key is fresh, but the address has used its 3 free failures.
    const other = t.keys('default', 'e2', '192.0.2.1');
    await store.transaction((tx) => t.recordFailure(tx, other, 4_000));
    expect(await t.blocked(other, 4_500)).toBe('ip');
    expect(await t.blocked(t.keys('default', 'e3', '198.51.100.7'), 4_500)).toBeNull();
  });

  it('count every one of many concurrent failures, and start again from zero after the window', async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    const t = new LoginThrottle(store, policy);
    const keys = t.keys('default', 'e1', '192.0.2.9');
    await Promise.all(Array.from({ length: 8 }, () => store.transaction((tx) => t.recordFailure(tx, keys, 10_000))));
    const rows = await store.read.users.throttleRows([keys.account, keys.ip]);
    expect(rows.map((r) => Number(r.failures))).toEqual([8, 8]);
    await store.transaction((tx) => t.recordFailure(tx, keys, 10_000 + 61_000));
    const after = await store.read.users.throttleRows([keys.account]);
    expect(Number(after[0]!.failures)).toBe(1);
    expect(await t.blocked(keys, 10_000 + 61_000)).toBeNull();
  });
});
