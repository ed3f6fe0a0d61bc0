/** What a backend can do that changes how the repositories and the queue write. */
export interface BackendCapabilities {
  /** PostgreSQL: claim with FOR UPDATE SKIP LOCKED so concurrent nodes never block each other. */
  skipLocked: boolean;
  /** PostgreSQL: transaction-scoped advisory locks serialize duties across nodes (SQLite has one writer). */
  advisoryLocks: boolean;
  /**
   * PostgreSQL: audit entries are written without an index and numbered later by the single
   * integrator (audit-sequencing.ts), so concurrent writers share no row. Otherwise (SQLite, one
   * writer) each transaction takes its indexes from the counter row as it writes them.
   */
  auditSequencedByIntegrator: boolean;
}
