import type { Repositories } from './repositories.js';

/** The operations core may run inside one transaction (see repositories.ts for each contract). */
export type StoreTx = Repositories;

/**
 * The Store port. A backend (SQLite, PostgreSQL) provides the connection, migrations and durability;
 * every query lives in the backend-neutral repositories.
 */
export interface Store {
  readonly backend: 'sqlite' | 'postgres';
  /**
   * Runs `fn` in one database transaction: everything it wrote commits together or, if it throws,
   * not at all. Resolving does not yet mean "on disk": await `durable()` before answering 2xx.
   * A single-writer backend may run several callers' `fn`s inside one database transaction, each in
   * its own savepoint; so `fn` must use only the `tx` it is given (never `read`, never a nested
   * `transaction`), which would wait for the connection it already holds.
   */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** Repositories outside any transaction, for reads and single-statement writes. */
  readonly read: StoreTx;
  /**
   * Resolves once every transaction that committed before the call is durable on disk. Backends with
   * synchronous commits resolve at once; the SQLite group-commit mode batches one fsync for many callers.
   */
  durable(): Promise<void>;
  /** Applies pending migrations; returns the names applied. */
  migrate(): Promise<string[]>;
  /** Rejects when the database cannot answer a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /**
   * Wakes idle workers on every node when a delivery becomes due now (PostgreSQL LISTEN/NOTIFY).
   * Absent on single-node backends, where the local worker is woken directly.
   */
  readonly dueSignal?: DueSignal;
}

export interface DueSignal {
  /** Tells every node's worker that something is due now (sent after the caller's commit). */
  announce(): void;
  /** Calls `fn` when another node announced; returns the unsubscribe function. */
  subscribe(fn: () => void): () => void;
  close(): Promise<void>;
}
