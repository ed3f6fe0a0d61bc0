import { expect, it } from 'vitest';
import { leafHash } from '../../src/audit/merkle.js';
import { describeEachBackend, freshDatabases, migratedStore, numberAuditEntries } from '../helpers/backends.js';
import { ALL_BYTES, deliveryRow, notificationRow } from './fixtures.js';

/** Both backends hand the repositories the same JS types: numbers, byte arrays, strings and null. */
describeEachBackend('values through the repositories', (backend) => {
  const fresh = freshDatabases(backend);

  it('come back as JS numbers for 64-bit times and counters, including the largest safe integer', async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    const far = Number.MAX_SAFE_INTEGER;
    await store.read.deliveries.insertMany([
      deliveryRow('d1', { run_at: far, created_at: 1_700_000_000_123, attempts: 7, lease_until: far - 1 }),
    ]);
    const d = (await store.read.deliveries.get('d1'))!;
    expect([d.run_at, d.created_at, d.attempts, d.lease_until, d.seq]).toEqual([far, 1_700_000_000_123, 7, far - 1, 0]);
    for (const v of [d.run_at, d.created_at, d.attempts, d.lease_until, d.max_attempts])
      expect(typeof v).toBe('number');
    // Aggregates too (PostgreSQL's count(*) and min() of int8 are int8).
    expect(await store.read.queue.nextRunAt()).toBe(far);
    expect(await store.read.queue.countByStatus()).toEqual([{ status: 'queued', channel: 'sms', n: 1 }]);
    expect(await store.read.apiKeys.count()).toBe(0);
  });

  it('come back as identical bytes for binary columns, empty ones included', async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    await store.read.notifications.insertMany([notificationRow('n1', { data_ct: ALL_BYTES })]);
    await store.read.notifications.insertMany([notificationRow('n2', { data_ct: Buffer.alloc(0) })]);
    await store.read.deliveries.insertMany([deliveryRow('d1', { link_ct: new Uint8Array(ALL_BYTES) })]);
    const n1 = (await store.read.notifications.get('t1', 'n1'))!;
    const n2 = (await store.read.notifications.get('t1', 'n2'))!;
    const d1 = (await store.read.deliveries.get('d1'))!;
    expect(n1.data_ct).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(n1.data_ct).equals(ALL_BYTES)).toBe(true);
    expect(Buffer.from(d1.link_ct!).equals(ALL_BYTES)).toBe(true);
    expect(n2.data_ct).toBeInstanceOf(Uint8Array);
    expect(n2.data_ct.byteLength).toBe(0);
  });

  it('come back as null for absent optional values, and as the exact text for strings', async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    await store.read.deliveries.insertMany([deliveryRow('d1')]);
    const d = (await store.read.deliveries.get('d1'))!;
    for (const k of [
      'lease_owner',
      'lease_until',
      'last_error_code',
      'provider',
      'link_ct',
      'sent_at',
      'cancelled_at',
    ] as const)
      expect(d[k]).toBeNull();
    const text = '{"a":"\u00e9\u4e2d\ud83d\ude00","b":"\\u0000 tab\t"}';
    expect(await store.read.settings.init('s', text)).toBe(text);
    expect(await store.read.settings.get('s')).toBe(text);
    expect(await store.read.settings.get('absent')).toBeUndefined();
  });

  it("keep an audit entry's canonical text and leaf hash byte for byte, with a numeric index", async () => {
    const store = await migratedStore(await fresh({ migrated: true }));
    await store.transaction((tx) =>
      tx.audit.append({
        tenantId: 't1',
        at: new Date(1_700_000_000_000),
        actor: 'a',
        action: 'x.y',
        outcome: 'success',
        patientRef: 'pr',
      }),
    );
    // PostgreSQL numbers entries behind the writers (the integrator's first step): number it now.
    expect(await numberAuditEntries(store)).toBe(1);
    const [row] = await store.read.auditLog.entries(0, 10);
    expect(row.idx).toBe(1);
    expect(typeof row.idx).toBe('number');
    const stored = await store.read.auditLog.entry(0);
    expect(stored!.entry).toBe(row.entry);
    expect(stored!.at).toBe(1_700_000_000_000);
    expect(Buffer.from(row.leaf_hash).equals(Buffer.from(leafHash(Buffer.from(row.entry, 'utf8'))))).toBe(true);
  });
});
