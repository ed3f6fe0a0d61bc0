import type { Store, StoreTx } from '../src/store/store.js';
import type { ApiKeyRow, ContactPointRow, PatientRow } from '../src/store/rows.js';
import { encodeAuditEntry, type AuditEvent } from '../src/audit/audit-entry.js';

/**
 * A Store with no database behind it, for the ceiling measurement: the reads the notification path
 * needs (API key, patient, data key, contact points) come from Maps filled by the real services,
 * and the writes (notification, delivery, idempotency record) are counted and dropped. The audit
 * entry is still encoded and hashed (that CPU work is not the database's), only not stored.
 *
 * Any repository method not listed here throws, so a change to the request path that starts using
 * another query makes the bench fail loudly instead of measuring a different thing.
 */
export function noDbStore(): { store: Store; counts: Record<string, number> } {
  const apiKeys = new Map<string, ApiKeyRow>();
  const patients = new Map<string, PatientRow>();
  const dataKeys = new Map<string, { key_id: string; wrapped: Uint8Array }>();
  const contacts = new Map<string, ContactPointRow[]>();
  const counts: Record<string, number> = { notifications: 0, deliveries: 0, idempotency: 0, audit: 0 };
  const k = (t: string, id: string) => `${t}\u0000${id}`;

  const repos: Record<string, Record<string, (...args: any[]) => Promise<unknown>>> = {
    apiKeys: {
      async insert(row: ApiKeyRow) {
        apiKeys.set(row.id, { ...row });
      },
      async get(id: string) {
        return apiKeys.get(id);
      },
      async touch(id: string, now: number) {
        const row = apiKeys.get(id);
        if (row) row.last_used_at = now;
      },
    },
    patients: {
      async get(tenantId: string, id: string) {
        return patients.get(k(tenantId, id));
      },
      async insert(row: PatientRow) {
        patients.set(k(row.tenant_id, row.id), { ...row });
      },
      async update(tenantId: string, id: string, set: Partial<PatientRow>) {
        const p = patients.get(k(tenantId, id));
        if (p) Object.assign(p, set);
      },
      // Every key the bench sends is new: no idempotency record is ever found.
      async getForSending(tenantId: string, id: string) {
        const p = patients.get(k(tenantId, id));
        const dk = dataKeys.get(k(tenantId, id));
        if (!p || !dk) return { patient: undefined, contacts: [], idempotency: undefined };
        // Same order as the SQL (rank, id); callers get copies as they would get fresh rows.
        const contactPoints = (contacts.get(k(tenantId, id)) ?? []).map((c) => ({ ...c }));
        return {
          patient: { id, language: p.language, time_zone: p.time_zone, key_id: dk.key_id, wrapped: dk.wrapped },
          contacts: contactPoints,
          idempotency: undefined,
        };
      },
      async getWithKeys(tenantId: string, ids: string[]) {
        return ids.flatMap((id) => {
          const p = patients.get(k(tenantId, id));
          const dk = dataKeys.get(k(tenantId, id));
          return p && dk
            ? [{ id, language: p.language, time_zone: p.time_zone, key_id: dk.key_id, wrapped: dk.wrapped }]
            : [];
        });
      },
    },
    dataKeys: {
      async get(tenantId: string, patientId: string) {
        return dataKeys.get(k(tenantId, patientId));
      },
      async insert(row: { tenant_id: string; patient_id: string; key_id: string; wrapped: Uint8Array }) {
        dataKeys.set(k(row.tenant_id, row.patient_id), { key_id: row.key_id, wrapped: row.wrapped });
      },
    },
    contactPoints: {
      async list(tenantId: string, patientId: string) {
        // Same order as the SQL (rank, id); callers get copies as they would get fresh rows.
        return (contacts.get(k(tenantId, patientId)) ?? []).map((c) => ({ ...c }));
      },
      async insert(row: ContactPointRow) {
        const key = k(row.tenant_id, row.patient_id);
        const list = [...(contacts.get(key) ?? []), { ...row }];
        list.sort((a, b) => a.rank - b.rank || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        contacts.set(key, list);
      },
      async update(id: string, set: Partial<ContactPointRow>) {
        for (const list of contacts.values()) for (const c of list) if (c.id === id) Object.assign(c, set);
      },
      async delete(ids: string[]) {
        const drop = new Set(ids);
        for (const [key, list] of contacts)
          contacts.set(
            key,
            list.filter((c) => !drop.has(c.id)),
          );
      },
    },
    idempotency: {
      async get() {
        return undefined;
      },
      async getMany() {
        return [];
      },
      async insertMany(rows: unknown[]) {
        counts.idempotency += rows.length;
      },
    },
    notifications: {
      async insertMany(rows: unknown[]) {
        counts.notifications += rows.length;
      },
    },
    signers: {
      async insertSignatures() {},
    },
    deliveries: {
      async insertMany(rows: unknown[]) {
        counts.deliveries += rows.length;
      },
    },
    // No patient in the bench has delivery preferences: the creation path reads none.
    preferences: {
      async get() {
        return undefined;
      },
    },
    audit: {
      async append(e: AuditEvent) {
        encodeAuditEntry(e);
        counts.audit++;
      },
    },
    queue: {
      async countByStatus() {
        return [];
      },
    },
    // A batchable create hands its rows to the commit: counted and dropped like the others.
    atCommit: {
      notifications: (rows: unknown[]) => void (counts.notifications += rows.length),
      signatures: () => undefined,
      deliveries: (rows: unknown[]) => void (counts.deliveries += rows.length),
      idempotency: (rows: unknown[]) => void (counts.idempotency += rows.length),
      outbox: () => undefined,
      findIdempotency: () => undefined,
    } as unknown as Record<string, (...args: any[]) => Promise<unknown>>,
  };
  const strict = (name: string, target: Record<string, (...args: any[]) => Promise<unknown>>) =>
    new Proxy(target, {
      get(t, prop) {
        if (typeof prop === 'string' && !(prop in t)) {
          return () =>
            Promise.reject(
              new Error(`bench no-db store: ${name}.${prop}() is not emulated; update bench/no-db-store.ts`),
            );
        }
        return t[prop as string];
      },
    });
  const tx = new Proxy(Object.fromEntries(Object.entries(repos).map(([name, r]) => [name, strict(name, r)])), {
    get(target, prop) {
      if (typeof prop === 'string' && !(prop in target))
        throw new Error(`bench no-db store: repository ${prop} is not emulated; update bench/no-db-store.ts`);
      return target[prop as string];
    },
  }) as unknown as StoreTx;

  const store: Store = {
    backend: 'sqlite',
    read: tx,
    transaction: (fn) => fn(tx),
    // One process, no concurrent revocation in a bench: the send locks have nothing to order.
    sendLocked: (_keys, fn) => fn(tx),
    revocationTransaction: (_keys, fn) => fn(tx),
    durable: () => Promise.resolve(),
    migrate: async () => [],
    ping: async () => {},
    close: async () => {},
  };
  return { store, counts };
}
