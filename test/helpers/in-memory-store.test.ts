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
    expect(() => store.read.sessions).toThrow(/tx\.sessions is not implemented/);
    expect(() => store.read.notifications.listForAppointment).toThrow(
      /notifications\.listForAppointment is not implemented/,
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
});
