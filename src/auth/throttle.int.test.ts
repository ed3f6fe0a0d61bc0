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
  const policy = {
    ...DEFAULT_THROTTLE,
    accountFree: 2,
    ipFree: 3,
    windowMs: 60_000,
    lockoutThreshold: 5,
    lockoutMinutes: 15,
  };

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
  /** A user of tenant `default` with `failed` failures counted, read back as the throttle sees it. */
  async function userWith(store: Awaited<ReturnType<typeof migratedStore>>, failed: number) {
    const now = 1_000;
    await store.transaction(async (tx) => {
      await tx.tenants.ensure('default', 'default', now);
      await tx.users.insert({
        id: 'u1',
        tenant_id: 'default',
        email: 'a@x.test',
        display_name: 'A',
        roles: 'nurse',
        status: 'active',
        password_hash: null,
        locked_until: null,
        sso_issuer: null,
        sso_subject: null,
        created_at: now,
        updated_at: now,
      });
      await tx.users.update('default', 'u1', { failed_logins: failed });
    });
    return (await store.read.users.byId('default', 'u1'))!;
  }

  it('let through only the attempts the delay schedule allows when many are reserved at once, and take back the counts of the refused ones', async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    const t = new LoginThrottle(store, { ...policy, ipFree: 20 });
    const user = await userWith(store, 0);
    const keys = t.keys('default', 'e1', '192.0.2.20');
    const all = await Promise.all(
      Array.from({ length: 15 }, () => store.transaction((tx) => t.reserve(tx, keys, user, 50_000))),
    );
    expect(all.filter((r) => r.refused === null)).toHaveLength(3);
    expect(all.filter((r) => r.refused === 'account')).toHaveLength(12);
    const rows = await store.read.users.throttleRows([keys.account, keys.ip]);
    expect(rows.map((r) => Number(r.failures))).toEqual([3, 3]);
    expect(Number((await store.read.users.byId('default', 'u1'))!.failed_logins)).toBe(3);
  });

  it('let through no more attempts than the lockout threshold leaves, however many arrive at once', async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    const t = new LoginThrottle(store, { ...policy, ipFree: 20 });
    const user = await userWith(store, 4);
    const keys = t.keys('default', 'e1', '192.0.2.21');
    const all = await Promise.all(
      Array.from({ length: 3 }, () => store.transaction((tx) => t.reserve(tx, keys, user, 50_000))),
    );
    expect(all.map((r) => r.refused).sort()).toEqual(['account', 'account', null]);
    expect(all.find((r) => r.refused === null)!.userFailures).toBe(5);
    expect(Number((await store.read.users.byId('default', 'u1'))!.failed_logins)).toBe(5);
  });

  it("give back the address's place and delay and the user's count when the password was right, but not once the user is locked", async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    const t = new LoginThrottle(store, { ...policy, ipFree: 0 });
    const user = await userWith(store, 1);
    const keys = t.keys('default', 'e1', '192.0.2.22');
    const r = await store.transaction((tx) => t.reserve(tx, keys, user, 50_000));
    expect(r.ipBlock).toEqual({ ours: 51_000, previous: null });
    expect(await store.transaction((tx) => t.reservedSucceeded(tx, keys, r, user))).toBe(true);
    expect(
      (await store.read.users.throttleRows([keys.account, keys.ip])).map((x) => [
        x.key,
        Number(x.failures),
        x.blocked_until,
      ]),
    ).toEqual([[keys.ip, 0, null]]);
    expect(Number((await store.read.users.byId('default', 'u1'))!.failed_logins)).toBe(1);
    const again = await store.transaction((tx) => t.reserve(tx, keys, user, 60_000));
    await store.transaction((tx) => tx.users.updateIfStatus('default', 'u1', 'active', { status: 'locked' }));
    expect(await store.transaction((tx) => t.reservedSucceeded(tx, keys, again, user))).toBe(false);
    expect(Number((await store.read.users.byId('default', 'u1'))!.failed_logins)).toBe(2);
  });
});
