import { expect, it } from 'vitest';
import { describeEachBackend, freshDatabases, migratedStore } from '../helpers/backends.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';

const TOPIC = 'https://sealpost.dev/fhir/SubscriptionTopic/communication-status';

async function subscriptionRow(store: KyselyStore, id: string, over: Record<string, unknown> = {}) {
  await store.transaction((tx) =>
    tx.fhirSubscriptions.insert({
      id,
      tenant_id: 't1',
      topic: TOPIC,
      status: 'active',
      patient_ref: null,
      status_filter: null,
      based_on: null,
      payload_content: 'id-only',
      heartbeat_seconds: null,
      timeout_seconds: null,
      max_count: 10,
      end_at: null,
      data_ct: Buffer.from('sealed'),
      events_since_start: 0,
      events_sent: 0,
      failures: 0,
      error_code: null,
      next_attempt_at: 0,
      last_sent_at: 1,
      lease_owner: null,
      lease_until: null,
      created_by: 'system:test',
      created_at: 1,
      updated_at: 1,
      ...over,
    }),
  );
}

const event = (n: number) => ({
  tenant_id: 't1',
  focus_type: 'Communication',
  focus_id: `d${n}`,
  context: '[]',
  code: 'sent',
  at: 1000 + n,
});

/** The subscription queue (migration 014): numbering, leases, conditional writes, on every backend. */
describeEachBackend('FHIR subscription repository', (backend) => {
  const fresh = freshDatabases(backend);

  it('numbers events per subscription inside the transaction, and forgets them with a rollback', async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    await store.read.tenants.ensure('t1', 'Clinic', 1);
    await subscriptionRow(store, 's1');
    await subscriptionRow(store, 's2');
    const numbers = await store.transaction(async (tx) => [
      await tx.fhirSubscriptions.appendEvent('s1', event(1)),
      await tx.fhirSubscriptions.appendEvent('s1', event(2)),
      await tx.fhirSubscriptions.appendEvent('s2', event(3)),
    ]);
    expect(numbers).toEqual([1, 2, 1]);
    await expect(
      store.transaction(async (tx) => {
        await tx.fhirSubscriptions.appendEvent('s1', event(4));
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect((await store.read.fhirSubscriptions.get('t1', 's1'))!.events_since_start).toBe(2);
    expect((await store.read.fhirSubscriptions.pendingEvents('s1', 0, 10)).map((e) => e.focus_id)).toEqual([
      'd1',
      'd2',
    ]);
    expect((await store.read.fhirSubscriptions.listListening('t1', TOPIC)).map((s) => s.id).sort()).toEqual([
      's1',
      's2',
    ]);
    expect(await store.read.fhirSubscriptions.listListening('t2', TOPIC)).toEqual([]);
    await store.close();
  });

  it('leases a subscription with work to one owner at a time, and writes an outcome only under the lease', async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    await store.read.tenants.ensure('t1', 'Clinic', 1);
    await subscriptionRow(store, 'busy');
    await subscriptionRow(store, 'idle');
    await subscriptionRow(store, 'later', { next_attempt_at: 10_000 });
    await subscriptionRow(store, 'off', { status: 'off' });
    await store.transaction(async (tx) => {
      for (const id of ['busy', 'later', 'off']) await tx.fhirSubscriptions.appendEvent(id, event(1));
    });
    expect(await store.read.fhirSubscriptions.anyDue(5_000)).toBe(true);
    const [a, b] = await Promise.all([
      store.transaction((tx) => tx.fhirSubscriptions.claimDue('node-a', 5_000, 65_000, 10)),
      store.transaction((tx) => tx.fhirSubscriptions.claimDue('node-b', 5_000, 65_000, 10)),
    ]);
    // Only `busy` has work that is due; it goes to exactly one of the two.
    expect([...a, ...b].map((r) => r.id)).toEqual(['busy']);
    const winner = a.length ? 'node-a' : 'node-b';
    const loser = a.length ? 'node-b' : 'node-a';
    expect(await store.read.fhirSubscriptions.anyDue(5_000)).toBe(false);
    expect(await store.read.fhirSubscriptions.finish('busy', loser, { events_sent: 1 }, 1)).toBe(false);
    expect(await store.read.fhirSubscriptions.pendingEvents('busy', 0, 10)).toHaveLength(1);
    expect(await store.read.fhirSubscriptions.finish('busy', winner, { events_sent: 1 }, 1)).toBe(true);
    expect(await store.read.fhirSubscriptions.pendingEvents('busy', 0, 10)).toEqual([]);
    const after = (await store.read.fhirSubscriptions.get('t1', 'busy'))!;
    expect([after.events_sent, after.lease_owner, after.lease_until]).toEqual([1, null, null]);
    // An expired lease is taken over; a heartbeat falls due after its period.
    await subscriptionRow(store, 'beat', { heartbeat_seconds: 60, last_sent_at: 0 });
    await store.transaction((tx) => tx.fhirSubscriptions.claimDue('node-a', 70_000, 80_000, 10));
    const taken = await store.transaction((tx) => tx.fhirSubscriptions.claimDue('node-b', 90_000, 99_000, 10));
    expect(taken.map((r) => [r.id, r.lease_owner])).toEqual(
      expect.arrayContaining([
        ['beat', 'node-b'],
        ['later', 'node-b'],
      ]),
    );
    expect(await store.read.fhirSubscriptions.endExpired(1)).toBe(0);
    await store.close();
  });
});
