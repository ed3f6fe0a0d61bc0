/** What a backend can do that changes how the repositories and the queue write. */
export interface BackendCapabilities {
  /** PostgreSQL: claim with FOR UPDATE SKIP LOCKED so concurrent nodes never block each other. */
  skipLocked: boolean;
  /** PostgreSQL: transaction-scoped advisory locks serialize duties across nodes (SQLite has one writer). */
  advisoryLocks: boolean;
  /** PostgreSQL: data-modifying CTEs, so the audit counter is taken and the entries written in one statement. */
  writableCte: boolean;
}
