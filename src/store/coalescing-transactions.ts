import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import { flushAuditEntries, type PendingAudit } from './audit-sequencing.js';

interface Job {
  run: (db: Kysely<Database>, audit: PendingAudit[]) => Promise<unknown>;
  /** The job's audit entries; written (with their indexes) just before the shared COMMIT, only if the job succeeded. */
  audit: PendingAudit[];
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * Runs transactions that arrive while another is in progress together, in one database
 * transaction, each inside its own savepoint: a command that throws rolls back to its savepoint and
 * only it fails; the others commit together. Nobody is answered before the shared COMMIT, so the
 * all-or-nothing guarantee of each command is unchanged. For a single-writer database (SQLite) this
 * turns N commits (N WAL appends of the same hot index pages) into one.
 *
 * Contract for callers: a job must not start another transaction on the same store from inside
 * (it would wait for itself). Commands only use the transaction they are given.
 */
export class CoalescingTransactions {
  private readonly queue: Job[] = [];
  private draining = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly maxBatch = 256,
  ) {}

  run<T>(fn: (db: Kysely<Database>, audit: PendingAudit[]) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run: fn, audit: [], resolve: resolve as (v: unknown) => void, reject });
      if (!this.draining) {
        this.draining = true;
        // Start on the next turn of the event loop, not now: better-sqlite3 never yields inside a
        // transaction, so a drain started synchronously would always find a queue of one.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.maxBatch);
        if (batch.length === 1) await this.runAlone(batch[0]);
        else await this.runTogether(batch);
      }
    } finally {
      this.draining = false;
    }
  }

  private async runAlone(job: Job): Promise<void> {
    try {
      job.resolve(
        await this.db.transaction().execute(async (trx) => {
          const value = await job.run(trx, job.audit);
          await flushAuditEntries(trx, job.audit);
          return value;
        }),
      );
    } catch (e) {
      job.reject(e);
    }
  }

  private async runTogether(batch: Job[]): Promise<void> {
    const results: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    let trx;
    try {
      trx = await this.db.startTransaction().execute();
      for (const job of batch) {
        await sql`savepoint sp_command`.execute(trx);
        try {
          results.push({ ok: true, value: await job.run(trx, job.audit) });
          await sql`release savepoint sp_command`.execute(trx);
        } catch (error) {
          await sql`rollback to savepoint sp_command`.execute(trx);
          await sql`release savepoint sp_command`.execute(trx);
          results.push({ ok: false, error });
        }
      }
      await flushAuditEntries(trx, batch.filter((_, i) => results[i].ok).flatMap((j) => j.audit));
      await trx.commit().execute();
    } catch (error) {
      // The shared transaction itself failed (I/O, lost connection): nothing of the batch committed.
      if (trx) await trx.rollback().execute().catch(() => {});
      for (const job of batch) job.reject(error);
      return;
    }
    batch.forEach((job, i) => {
      const r = results[i];
      if (r.ok) job.resolve(r.value);
      else job.reject(r.error);
    });
  }
}
