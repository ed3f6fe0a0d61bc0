import { describe, expect, it } from 'vitest';
import { inMemoryStore } from './in-memory-store.js';
import { newDeliveryRow } from '../../src/core/notification-service.js';
import type { NotificationRow } from '../../src/store/rows.js';
import { outcomeOf } from '../../src/queue/job-queue.js';

const notification = (id: string): NotificationRow => ({
  id,
  tenant_id: 't',
  patient_id: 'p',
  type: 'follow_up',
  priority: 'routine',
  data_ct: new Uint8Array([1]),
  appointment_id: null,
  send_at: 0,
  created_at: 0,
  cancelled_at: null,
  acknowledged_at: null,
});
const delivery = (id: string, runAt = 0) => newDeliveryRow(id, notification('n1'), 'sms', 'cp1', 1, runAt, 0, 3);
const event = { tenantId: 't', at: new Date(0), actor: 'test', action: 'x.done', outcome: 'success' as const };

/** The fake's own promises: if one broke, the core tests built on it could pass by accident. */
describe('in-memory store', () => {
  it('throws a clear error for a repository or method it does not implement', async () => {
    const store = inMemoryStore();
    expect(() => store.read.oauth).toThrow(/tx\.oauth is not implemented/);
    expect(() => store.read.accessLinks.countFailedAttempt).toThrow(
      /accessLinks\.countFailedAttempt is not implemented/,
    );
  });

  it('keeps nothing of a transaction that throws, audit entries and handed-over rows included', async () => {
    const store = inMemoryStore();
    const before = store.dump();
    await expect(
      store.transaction(async (tx) => {
        await tx.notifications.insertMany([notification('n1')]);
        tx.atCommit.deliveries([delivery('d1')]);
        await tx.audit.append(event);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(store.dump()).toEqual(before);
  });

  it('inserts handed-over rows after the transaction’s function, and commits its audit entries', async () => {
    const store = inMemoryStore();
    await store.transaction(async (tx) => {
      tx.atCommit.notifications([notification('n1')]);
      tx.atCommit.deliveries([delivery('d1')]);
      expect(await tx.deliveries.get('d1')).toBeUndefined();
      await tx.audit.append(event);
      expect(store.audit).toHaveLength(0);
    });
    expect([...store.tables.deliveries.keys()]).toEqual(['d1']);
    expect(store.audit.map((a) => a.event.action)).toEqual(['x.done']);
  });

  it('refuses store.read, a nested transaction and a leaked tx inside or after a transaction', async () => {
    const store = inMemoryStore();
    let leaked: unknown;
    await store.transaction(async (tx) => {
      leaked = tx;
      expect(() => store.read.deliveries).toThrow(/store\.read used inside a transaction/);
      await expect(store.transaction(async () => 1)).rejects.toThrow(/nested/);
    });
    expect(() => (leaked as typeof store.read).deliveries).toThrow(/after its transaction ended/);
    await expect(store.read.audit.append(event)).rejects.toThrow(/inside a transaction only/);
  });

  it('writes an outcome, a link or a lease-conditional update only under the lease', async () => {
    const store = inMemoryStore();
    await store.read.deliveries.insertMany([delivery('d1'), delivery('d2', 5)]);
    const [claimed] = await store.read.queue.claim('w1', 1, 100, 10);
    expect([claimed.id, claimed.attempts, claimed.status]).toEqual(['d1', 1, 'sending']);
    const other = { owner: 'w2', until: 100 };
    expect(await store.read.queue.setLinks(other, [{ id: 'd1', link_ct: new Uint8Array([9]) }])).toEqual(new Set());
    expect(await store.read.deliveries.update('d1', { status: 'failed' }, other)).toBe(0);
    expect(await store.read.queue.finish(other, 2, [{ ...outcomeOf(claimed), status: 'sent' }])).toEqual(new Set());
    // The same worker under an earlier claim of the same job (its lease ended otherwise) is refused too.
    expect(
      await store.read.queue.finish({ owner: 'w1', until: 50 }, 2, [{ ...outcomeOf(claimed), status: 'sent' }]),
    ).toEqual(new Set());
    expect(store.tables.deliveries.get('d1')).toMatchObject({ status: 'sending', lease_owner: 'w1', link_ct: null });
    expect(
      await store.read.queue.finish({ owner: 'w1', until: 100 }, 2, [{ ...outcomeOf(claimed), status: 'sent' }]),
    ).toEqual(new Set(['d1']));
    expect(store.tables.deliveries.get('d1')).toMatchObject({
      status: 'sent',
      lease_owner: null,
      lease_until: null,
      updated_at: 2,
    });
  });

  it('lists contact points by rank, then id', async () => {
    const store = inMemoryStore();
    const cp = (id: string, rank: number) => ({
      id,
      tenant_id: 't',
      patient_id: 'p',
      system: 'sms',
      value_ct: new Uint8Array(),
      value_bidx: id,
      rank,
      opted_out_at: null,
    });
    for (const c of [cp('c', 1), cp('a', 2), cp('b', 1)]) await store.read.contactPoints.insert(c);
    expect((await store.read.contactPoints.list('t', 'p')).map((c) => c.id)).toEqual(['b', 'c', 'a']);
  });

  describe('identity repositories (as their SQL statements behave)', () => {
    const user = (id: string, email: string) => ({
      id,
      tenant_id: 't',
      email,
      display_name: id,
      roles: 'physician',
      status: 'active',
      password_hash: null,
      created_at: 0,
      updated_at: 0,
    });
    async function seeded() {
      const store = inMemoryStore();
      await store.read.tenants.ensure('t', 'T', 0);
      await store.read.users.insert(user('u1', 'a@x.test'));
      return store;
    }

    it('fills defaults and NULLs, and refuses an unknown column, a missing NOT NULL, a duplicate key or a missing parent', async () => {
      const store = await seeded();
      expect(store.tables.users.get('u1')).toMatchObject({ failed_logins: 0, locked_until: null, sso_subject: null });
      await expect(store.read.users.insert(user('u2', 'a@x.test'))).rejects.toMatchObject({
        code: 'SQLITE_CONSTRAINT_UNIQUE',
      });
      await expect(store.read.users.insert({ ...user('u3', 'c@x.test'), tenant_id: 'nope' })).rejects.toMatchObject({
        code: 'SQLITE_CONSTRAINT_FOREIGNKEY',
      });
      await expect(store.read.users.insert({ ...user('u4', 'd@x.test'), email: null as never })).rejects.toMatchObject({
        code: 'SQLITE_CONSTRAINT_NOTNULL',
      });
      await expect(store.read.users.update('t', 'u1', { colour: 'red' } as never)).rejects.toThrow(
        /no column named colour/,
      );
      await expect(store.read.users.update('t', 'u1', { status: null as never })).rejects.toThrow(/NOT NULL/);
      // NULLs never collide in a unique index: two users without single sign-on are fine.
      await store.read.users.insert(user('u5', 'e@x.test'));
      expect(store.tables.users.size).toBe(2);
    });

    it('applies conditional updates only to matching rows and says whether one changed', async () => {
      const store = await seeded();
      expect(await store.read.users.updateIfStatus('t', 'u1', 'locked', { status: 'disabled' })).toBe(false);
      expect(await store.read.users.updateIfStatus('t', 'u1', 'active', { status: 'locked' })).toBe(true);
      expect(await store.read.users.releaseFailedLoginIfActive('t', 'u1')).toBe(false);
      expect(await store.read.users.addFailedLogin('t', 'u1', 5)).toBe(1);
      expect(await store.read.users.addFailedLogin('t', 'nobody', 5)).toBe(0);
      await store.read.users.releaseFailedLogin('t', 'u1');
      await store.read.users.releaseFailedLogin('t', 'u1');
      expect(store.tables.users.get('u1')!.failed_logins).toBe(0);

      await store.read.sessions.insert({
        id: 's1',
        tenant_id: 't',
        subject_type: 'user',
        subject_id: 'u1',
        token_hash: 'h1',
        transport: 'bearer',
        stage: 'mfa',
        amr: 'pwd',
        created_at: 0,
        last_seen_at: 0,
        expires_at: 100,
      });
      expect(await store.read.sessions.revoke('t', 's1', 1, 'x')).toBe(true);
      expect(await store.read.sessions.revoke('t', 's1', 2, 'y')).toBe(false);
      expect(store.tables.sessions.get('s1')).toMatchObject({ revoked_at: 1, revoked_reason: 'x', mfa_at: null });

      await store.read.mfa.putTotp({ user_id: 'u1', tenant_id: 't', secret_ct: new Uint8Array([1]), created_at: 0 });
      expect(await store.read.mfa.advanceTotpStep('t', 'u1', 7)).toBe(true);
      expect(await store.read.mfa.advanceTotpStep('t', 'u1', 7)).toBe(false);
      expect(await store.read.mfa.advanceTotpStep('t', 'u1', 6)).toBe(false);
      expect(await store.read.mfa.advanceTotpStep('t', 'u1', 8)).toBe(true);

      await store.read.mfa.replaceRecoveryCodes('t', 'u1', [{ id: 'r1', code_hash: 'c1' }], 0);
      expect(await store.read.mfa.burnRecoveryCode('t', 'u1', 'c1', 1)).toBe(true);
      expect(await store.read.mfa.burnRecoveryCode('t', 'u1', 'c1', 2)).toBe(false);
      expect(await store.read.mfa.unusedRecoveryCodes('t', 'u1')).toBe(0);
    });

    it('counts throttle failures per window, and gives back only what was counted', async () => {
      const store = await seeded();
      expect(await store.read.users.reserveThrottle('k', 10, 0)).toEqual({ failures: 1, blockedUntil: null });
      await store.read.users.setThrottleBlock('k', 50);
      expect(await store.read.users.reserveThrottle('k', 20, 0)).toEqual({ failures: 2, blockedUntil: 50 });
      // Idle since before the window: starts again at 1 (the delay it set stays until it runs out).
      expect(await store.read.users.reserveThrottle('k', 100, 30)).toEqual({ failures: 1, blockedUntil: 50 });
      await store.read.users.restoreThrottleBlock('k', 49, null);
      expect(store.tables.throttle.get('k')!.blocked_until).toBe(50);
      await store.read.users.restoreThrottleBlock('k', 50, null);
      expect(store.tables.throttle.get('k')!.blocked_until).toBeNull();
      await store.read.users.releaseThrottle(['k']);
      await store.read.users.releaseThrottle(['k']);
      expect(store.tables.throttle.get('k')!.failures).toBe(0);
    });

    it('uses a challenge once, and finds the newest live one', async () => {
      const store = await seeded();
      const ch = (id: string, created: number, expires: number) => ({
        id,
        tenant_id: 't',
        purpose: 'p',
        subject: 's',
        challenge: 'c',
        created_at: created,
        expires_at: expires,
        used_at: null,
      });
      await store.read.challenges.insert(ch('a', 1, 100));
      await store.read.challenges.insert(ch('b', 2, 100));
      await store.read.challenges.insert(ch('c', 3, 10));
      expect((await store.read.challenges.live('t', 'p', 's', 10))?.id).toBe('b');
      expect(await store.read.challenges.use('b', 11)).toBe(true);
      expect(await store.read.challenges.use('b', 12)).toBe(false);
      expect((await store.read.challenges.live('t', 'p', 's', 12))?.id).toBe('a');
      expect(await store.read.challenges.retire('t', 'p', 's', 13)).toBe(2);
      expect(await store.read.challenges.live('t', 'p', 's', 13)).toBeUndefined();
    });
  });
});
