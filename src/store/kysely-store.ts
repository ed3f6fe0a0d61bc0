import { Migrator, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { Store, StoreTx } from './store.js';
import { Repositories } from './repositories.js';
import { flushAuditEntries, type PendingAudit } from './audit-sequencing.js';
import type { BackendCapabilities } from './backends/backend-capabilities.js';
import { migrationProvider } from './migrations/index.js';
import { AppError } from '../core/errors.js';
import { CoalescingTransactions } from './coalescing-transactions.js';

export interface KyselyStoreOptions {
  backend: 'sqlite' | 'postgres';
  db: Kysely<Database>;
  caps: BackendCapabilities;
  /** Resolves once earlier commits are on disk (see Store.durable). */
  onDurable?: () => Promise<void>;
  onClose?: () => Promise<void>;
  /** Single-writer backends share one commit among concurrent commands (see CoalescingTransactions). */
  coalesce?: boolean;
  /**
   * Whether a failed transaction may be run again from the start: concurrent writers on PostgreSQL
   * can lose a race (unique key, deadlock, serialization) that a second run resolves by reading the winner's rows.
   */
  retryable?: (e: unknown) => boolean;
  /** Cross-node wake-up of idle workers (PostgreSQL LISTEN/NOTIFY); absent on a single node. */
  dueSignal?: Store['dueSignal'];
}

/** Backend-neutral Store over a Kysely instance; backends supply the dialect and durability. */
export class KyselyStore implements Store {
  readonly backend: 'sqlite' | 'postgres';
  readonly read: StoreTx;
  readonly dueSignal: Store['dueSignal'];
  private readonly db: Kysely<Database>;
  private readonly coalescer: CoalescingTransactions | null;

  constructor(private readonly opts: KyselyStoreOptions) {
    this.backend = opts.backend;
    this.db = opts.db;
    this.read = new Repositories(opts.db, opts.caps);
    this.coalescer = opts.coalesce ? new CoalescingTransactions(opts.db) : null;
    this.dueSignal = opts.dueSignal;
  }

  async transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(fn);
      } catch (e) {
        if (attempt >= 3 || !this.opts.retryable?.(e)) throw e;
      }
    }
  }

  private once<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    if (this.coalescer) {
      return this.coalescer.run(async (trx, audit: PendingAudit[]) => fn(new Repositories(trx, this.opts.caps, audit)));
    }
    return this.db.transaction().execute(async (trx) => {
      const audit: PendingAudit[] = [];
      const value = await fn(new Repositories(trx, this.opts.caps, audit));
      await flushAuditEntries(trx, audit, this.opts.caps.writableCte);
      return value;
    });
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
    await this.db.destroy();
    await this.opts.onClose?.();
  }
}
