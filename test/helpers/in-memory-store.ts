import { AsyncLocalStorage } from 'node:async_hooks';
import type { Store, StoreTx, TransactionOptions } from '../../src/store/store.js';
import { NO_COMMIT, PendingInserts, type CommitBuffer } from '../../src/store/repositories/commit-buffer.js';
import type { AuditRepository } from '../../src/store/repositories/audit-repository.js';
import { encodeAuditEntry, type AuditEvent } from '../../src/audit/audit-entry.js';
import { copyTables, emptyTables, memoryRepositories, restoreTables, type Tables } from './in-memory-tables.js';
import { SendLocks } from '../../src/store/send-locks.js';

/** A committed audit entry: the event and its canonical text as the log stores it. */
export interface AuditRecord {
  event: AuditEvent;
  entry: string;
}

/** One call of a repository method, in order, with its arguments (`queue.finish`, `atCommit.deliveries`…). */
export interface RepositoryCall {
  op: string;
  args: unknown[];
}

export interface InMemoryStore extends Store {
  /** The committed rows (live Maps: a test may seed them, but through the repositories is better). */
  readonly tables: Tables;
  /** The committed audit log, in commit order. */
  readonly audit: readonly AuditRecord[];
  readonly calls: RepositoryCall[];
  /** Copies of everything committed (every table and the audit log), for "nothing changed" comparisons. */
  dump(): { tables: Record<keyof Tables, unknown[]>; audit: AuditRecord[] };
}

/**
 * A `Store` over Maps, for fast unit tests of core rules. It keeps the port's contracts as the SQL
 * store does: `transaction` is all or nothing (the tables are restored if `fn` throws), rows handed
 * to `tx.atCommit` are inserted after `fn` and audit entries are committed last, transactions run
 * one at a time (a single writer, like SQLite), and the queue's writes hold only under the lease.
 *
 * It is strict where a fake could let a test pass by accident: a repository or method it does not
 * implement throws on first use; so do `store.read` or a nested `transaction` used inside `fn`
 * (which would wait forever for the connection on a single-writer backend) and a `tx` used after
 * its transaction ended. Writes made through `read` while a transaction runs would be undone with
 * it on a rollback; tests do not interleave them.
 */
export function inMemoryStore(): InMemoryStore {
  const tables = emptyTables();
  const audit: AuditRecord[] = [];
  const calls: RepositoryCall[] = [];
  const repositories = memoryRepositories(tables);
  const inTransaction = new AsyncLocalStorage<true>();
  let tail: Promise<unknown> = Promise.resolve();
  const sendLocks = new SendLocks();

  const view = (pendingAudit: AuditRecord[] | null, atCommit: CommitBuffer, check: () => void): StoreTx => {
    const auditRepository: AuditRepository = {
      async append(event) {
        if (!pendingAudit) throw new Error('audit entries are appended inside a transaction only');
        pendingAudit.push({ event, entry: encodeAuditEntry(event).entry });
      },
    };
    const members: Record<string, object> = { ...repositories, audit: auditRepository, atCommit };
    const strictMembers = Object.fromEntries(
      Object.entries(members).map(([name, impl]) => [name, strict(name, impl, check, calls)]),
    );
    return strict('tx', strictMembers, check, calls) as unknown as StoreTx;
  };

  const read = view(null, NO_COMMIT, () => {
    if (inTransaction.getStore())
      throw new Error('in-memory store: store.read used inside a transaction (fn must use only the tx it is given)');
  });

  async function runOne<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    const before = copyTables(tables);
    const pendingAudit: AuditRecord[] = [];
    const inserts = new PendingInserts();
    let ended = false;
    const tx = view(pendingAudit, inserts, () => {
      if (ended) throw new Error('in-memory store: a tx was used after its transaction ended');
    });
    try {
      return await inTransaction.run(true, async () => {
        const value = await fn(tx);
        // The SQL store's last steps, in its order: the handed-over rows, then the audit entries.
        await PendingInserts.flush(tx, [inserts]);
        audit.push(...pendingAudit);
        return value;
      });
    } catch (e) {
      restoreTables(tables, before);
      throw e;
    } finally {
      ended = true;
    }
  }

  return {
    backend: 'sqlite',
    tables,
    audit,
    calls,
    read,
    transaction<T>(fn: (tx: StoreTx) => Promise<T>, _opts?: TransactionOptions): Promise<T> {
      if (inTransaction.getStore())
        return Promise.reject(new Error('in-memory store: a transaction nested in another (fn must use only its tx)'));
      const turn = tail.then(() => runOne(fn));
      tail = turn.catch(() => undefined);
      return turn;
    },
    // One process: the SQL store's in-process send locks (SQLite's), around `read` and `transaction`.
    sendLocked<T>(keys: readonly string[], fn: (r: StoreTx) => Promise<T>): Promise<T> {
      return sendLocks.shared(keys, () => fn(read));
    },
    revocationTransaction<T>(keys: readonly string[], fn: (tx: StoreTx) => Promise<T>): Promise<T> {
      return sendLocks.exclusive(keys, () => this.transaction(fn));
    },
    // Commits here are synchronous: whatever committed before the call is as durable as it gets.
    durable: async () => undefined,
    migrate: async () => [],
    ping: async () => undefined,
    close: async () => undefined,
    dump() {
      const rows = Object.fromEntries(
        Object.entries(tables).map(([name, m]: [string, Map<string, object>]) => [
          name,
          [...m.values()].map((r) => ({ ...r })),
        ]),
      );
      return { tables: rows as Record<keyof Tables, unknown[]>, audit: audit.map((a) => ({ ...a })) };
    },
  };
}

/** `impl` behind a Proxy that throws a clear error for any member it lacks, and logs method calls. */
function strict<T extends object>(name: string, impl: T, check: () => void, calls: RepositoryCall[]): T {
  return new Proxy(impl, {
    get(target, prop) {
      // Probes by runtimes and test tooling (thenables, inspection) are not uses of the port.
      if (typeof prop === 'symbol' || prop === 'then' || prop === 'toJSON' || prop === 'asymmetricMatch')
        return undefined;
      check();
      if (!(prop in target)) {
        throw new Error(
          `in-memory store: ${name}.${prop} is not implemented; add it to test/helpers/in-memory-tables.ts, faithfully to its contract`,
        );
      }
      const member = Reflect.get(target, prop, target) as unknown;
      if (typeof member !== 'function') return member;
      return (...args: unknown[]) => {
        calls.push({ op: `${name}.${prop}`, args });
        return member.apply(target, args);
      };
    },
  });
}
