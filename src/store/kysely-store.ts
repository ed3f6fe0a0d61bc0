import { Migrator, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { Store, StoreTx } from './store.js';
import { Repositories, type BackendCapabilities } from './repositories.js';
import { migrationProvider } from './migrations/index.js';
import { AppError } from '../core/errors.js';
import { CoalescingTransactions } from './coalescing-transactions.js';

/** Backend-neutral Store over a Kysely instance; backends supply the dialect and durability. */
export class KyselyStore implements Store {
  readonly read: StoreTx;
  private readonly coalescer: CoalescingTransactions | null;

  constructor(
    readonly backend: 'sqlite' | 'postgres',
    private readonly db: Kysely<Database>,
    private readonly caps: BackendCapabilities,
    private readonly onDurable: () => Promise<void>,
    private readonly onClose: () => Promise<void> = async () => {},
    /** Single-writer backends share one commit among concurrent commands (see CoalescingTransactions). */
    coalesce = false,
  ) {
    this.read = new Repositories(db, caps);
    this.coalescer = coalesce ? new CoalescingTransactions(db) : null;
  }

  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    if (this.coalescer) return this.coalescer.run((trx) => fn(new Repositories(trx, this.caps)));
    return this.db.transaction().execute((trx) => fn(new Repositories(trx, this.caps)));
  }

  durable(): Promise<void> {
    return this.onDurable();
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
    await this.db.destroy();
    await this.onClose();
  }
}
