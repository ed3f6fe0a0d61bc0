import { CompiledQuery, Migrator, type Kysely } from 'kysely';
import { commitStatement } from './commit-statement.js';
import type { Database } from './schema.js';
import type { Store, StoreTx, TransactionOptions } from './store.js';
import { SqlRepositories } from './sql-repositories.js';
import { KyselySql, SqliteTxSql, type Sql } from './sql.js';
import type { StatementCache } from './backends/sqlite/statement-cache.js';
import { flushAuditEntries } from './audit-sequencing.js';
import type { BackendCapabilities } from './backends/backend-capabilities.js';
import { migrationProvider } from './migrations/index.js';
import { AppError } from '../core/errors.js';
import { CoalescingTransactions, type CommandWrites } from './coalescing-transactions.js';
import { PendingInserts } from './repositories/commit-buffer.js';
import { SendLocks, Slots } from './send-locks.js';

export interface KyselyStoreOptions {
  backend: 'sqlite' | 'postgres';
  db: Kysely<Database>;
  caps: BackendCapabilities;
  /** Resolves once earlier commits are on disk (see Store.durable). */
  onDurable?: () => Promise<void>;
  onClose?: () => Promise<void>;
  /**
   * Which concurrent commands share one transaction (see CoalescingTransactions): `all` (single
   * writer: SQLite) or `batchable` (PostgreSQL, up to `coalesceConcurrency` shared transactions at once).
   */
  coalesce?: 'all' | 'batchable';
  coalesceConcurrency?: number;
  /** PostgreSQL: sends holding their lock transaction (a pooled connection) at once (Store.sendLocked); default 1. */
  sendLockConcurrency?: number;
  /**
   * Whether a failed transaction may be run again from the start: concurrent writers on PostgreSQL
   * can lose a race (unique key, deadlock, serialization) that a second run resolves by reading the winner's rows.
   */
  retryable?: (e: unknown) => boolean;
  /** Cross-node wake-up of idle workers (PostgreSQL LISTEN/NOTIFY); absent on a single node. */
  dueSignal?: Store['dueSignal'];
  /** Cross-node payloads of live delivery (PostgreSQL LISTEN/NOTIFY); absent on a single node. */
  feedSignal?: Store['feedSignal'];
  /** SQLite: the connection's prepared statements, which a transaction's repositories call directly. */
  statements?: StatementCache;
}

/** Backend-neutral Store over a Kysely instance; backends supply the dialect and durability. */
export class KyselyStore implements Store {
  readonly backend: 'sqlite' | 'postgres';
  readonly read: StoreTx;
  readonly dueSignal: Store['dueSignal'];
  readonly feedSignal: Store['feedSignal'];
  private readonly db: Kysely<Database>;
  private readonly coalescer: CoalescingTransactions | null;
  /** SQLite's send locks (one node); PostgreSQL uses advisory locks (ConsentRepository.lockPatients). */
  private readonly sendLocks = new SendLocks();
  /** PostgreSQL: how many sends may hold a pooled connection (their lock transaction) at once. */
  private readonly sendSlots: Slots;

  constructor(private readonly opts: KyselyStoreOptions) {
    this.backend = opts.backend;
    this.db = opts.db;
    this.read = new SqlRepositories(new KyselySql(opts.db, opts.backend));
    const flusher = {
      inserts: (trx: Kysely<Database>, w: readonly CommandWrites[]) => this.flushInserts(trx, w),
      all: (trx: Kysely<Database>, w: readonly CommandWrites[]) => this.flushAll(trx, w),
    };
    // PostgreSQL: a shared transaction holds one pooled connection; leave the others to every other command.
    this.coalescer = opts.coalesce
      ? new CoalescingTransactions(
          opts.db,
          flusher,
          opts.coalesce === 'all' ? {} : { maxBatch: 100, concurrency: opts.coalesceConcurrency ?? 2 },
        )
      : null;
    this.dueSignal = opts.dueSignal;
    this.feedSignal = opts.feedSignal;
    this.sendSlots = new Slots(opts.sendLockConcurrency ?? 1);
  }

  async transaction<T>(fn: (tx: StoreTx) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(fn, opts.batchable ?? false);
      } catch (e) {
        if (attempt >= 3 || !this.opts.retryable?.(e)) throw e;
      }
    }
  }

  sendLocked<T>(keys: readonly string[], fn: (read: StoreTx) => Promise<T>): Promise<T> {
    if (this.backend !== 'postgres') return this.sendLocks.shared(keys, () => fn(this.read));
    return this.sendSlots.run(() =>
      this.db.transaction().execute(async (trx) => {
        const repos = new SqlRepositories(this.txSql(trx));
        await repos.consents.lockPatients(keys, 'shared');
        return fn(repos);
      }),
    );
  }

  revocationTransaction<T>(keys: readonly string[], fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    if (this.backend !== 'postgres') return this.sendLocks.exclusive(keys, () => this.transaction(fn));
    return this.transaction(async (tx) => {
      await tx.consents.lockPatients(keys, 'exclusive');
      return fn(tx);
    });
  }

  private once<T>(fn: (tx: StoreTx) => Promise<T>, batchable: boolean): Promise<T> {
    const repos = (trx: Kysely<Database>, w: CommandWrites) => new SqlRepositories(this.txSql(trx), w.audit, w.inserts);
    if (this.coalescer && (batchable || this.opts.coalesce === 'all'))
      return this.coalescer.run((trx, w) => fn(repos(trx, w)), batchable);
    return this.db.transaction().execute(async (trx) => {
      const w: CommandWrites = { audit: [], inserts: new PendingInserts() };
      const value = await fn(repos(trx, w));
      await this.flushAll(trx, [w]);
      return value;
    });
  }

  /** Inserts the rows commands handed to the commit (one statement per table for all of them). */
  private async flushInserts(trx: Kysely<Database>, writes: readonly CommandWrites[]): Promise<void> {
    const inserts = writes.map((w) => w.inserts).filter((i) => !i.empty);
    if (inserts.length) await PendingInserts.flush(new SqlRepositories(this.txSql(trx)), inserts);
  }

  /** A transaction's last step: handed-over rows, then the audit entries (whose order they fix). */
  private async flushAll(trx: Kysely<Database>, writes: readonly CommandWrites[]): Promise<void> {
    if (this.opts.caps.auditSequencedByIntegrator) {
      // PostgreSQL: all of it in one statement when it fits (one round trip instead of one per table).
      const one = commitStatement(
        writes.map((w) => w.inserts).filter((i) => !i.empty),
        writes.flatMap((w) => w.audit),
      );
      if (one) {
        await trx.executeQuery(CompiledQuery.raw(one.text, one.params));
        return;
      }
    }
    await this.flushInserts(trx, writes);
    await flushAuditEntries(
      this.txSql(trx),
      writes.flatMap((w) => w.audit),
      this.opts.caps.auditSequencedByIntegrator,
    );
  }

  /** Compiled statements inside transaction `trx`: called directly on SQLite, through the driver on PostgreSQL. */
  private txSql(trx: Kysely<Database>): Sql {
    return this.opts.statements ? new SqliteTxSql(trx, this.opts.statements) : new KyselySql(trx, this.backend);
  }

  durable(): Promise<void> {
    return this.opts.onDurable?.() ?? Promise.resolve();
  }

  async migrate(): Promise<string[]> {
    const migrator = new Migrator({ db: this.db, provider: migrationProvider });
    const { error, results } = await migrator.migrateToLatest();
    if (error) throw new AppError('SP_STORE_UNAVAILABLE', 'migration failed', { cause: error });
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  }

  async ping(): Promise<void> {
    await this.db.selectFrom('tenants').select('id').limit(1).execute();
  }

  async close(): Promise<void> {
    await this.opts.dueSignal?.close();
    await this.opts.feedSignal?.close();
    await this.db.destroy();
    await this.opts.onClose?.();
  }
}
