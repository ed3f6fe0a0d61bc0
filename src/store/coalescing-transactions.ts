import { CompiledQuery, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { PendingAudit } from './audit-sequencing.js';
import { AppError } from '../core/errors.js';
import { PendingInserts } from './repositories/commit-buffer.js';

const SAVEPOINT = CompiledQuery.raw('savepoint sp_command');
const RELEASE = CompiledQuery.raw('release savepoint sp_command');
const ROLLBACK_TO = CompiledQuery.raw('rollback to savepoint sp_command');

/** What one command leaves to be written at the end of its transaction. */
export interface CommandWrites {
  /** Audit entries, written (with their indexes) just before COMMIT, only if the command succeeded. */
  audit: PendingAudit[];
  /** New rows of a batchable command (see TransactionOptions.batchable). */
  inserts: PendingInserts;
}

interface Job {
  run: (db: Kysely<Database>, writes: CommandWrites) => Promise<unknown>;
  writes: CommandWrites;
  batchable: boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** Writes commands' handed-over rows (`inserts`) or everything left (`all`: rows, then audit entries) in `trx`. */
export interface WritesFlusher {
  inserts(trx: Kysely<Database>, writes: readonly CommandWrites[]): Promise<void>;
  all(trx: Kysely<Database>, writes: readonly CommandWrites[]): Promise<void>;
}

/**
 * Runs transactions that arrive while another is in progress together, in one database
 * transaction: nobody is answered before the shared COMMIT, so each command keeps its
 * all-or-nothing guarantee. A command that is not batchable runs inside its own savepoint: if it
 * throws, it rolls back to it and only it fails. A batchable command writes nothing itself (it hands
 * its rows over, see CommitBuffer), so it needs no savepoint; consecutive batchable commands insert
 * their rows together (one multi-row statement per table) before the next command that is not
 * batchable runs, so every command still sees the ones before it as if it ran alone.
 *
 * SQLite (one writer) coalesces every command: N commits (N WAL appends of the same hot index pages)
 * become one. PostgreSQL coalesces batchable commands only, in up to `concurrency` transactions at
 * once: each command then costs its reads, and its rows and audit entries share a few statements
 * and one COMMIT with the others'.
 *
 * Contract for callers: a job must not start another transaction on the same store from inside
 * (it would wait for itself). Commands only use the transaction they are given.
 */
export class CoalescingTransactions {
  private readonly queue: Job[] = [];
  private running = 0;
  private scheduled = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly flush: WritesFlusher,
    private readonly opts: { maxBatch?: number; concurrency?: number } = {},
  ) {}

  run<T>(fn: (db: Kysely<Database>, writes: CommandWrites) => Promise<T>, batchable = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        run: fn,
        writes: { audit: [], inserts: new PendingInserts() },
        batchable,
        resolve: resolve as (v: unknown) => void,
        reject,
      });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || !this.queue.length || this.running >= (this.opts.concurrency ?? 1)) return;
    this.scheduled = true;
    // Start on the next turn of the event loop, not now: better-sqlite3 never yields inside a
    // transaction, so a drain started synchronously would always find a queue of one.
    setImmediate(() => {
      this.scheduled = false;
      if (!this.queue.length || this.running >= (this.opts.concurrency ?? 1)) return;
      const batch = this.queue.splice(0, this.opts.maxBatch ?? 256);
      this.running++;
      void (batch.length === 1 ? this.runAlone(batch[0]) : this.runTogether(batch)).finally(() => {
        this.running--;
        this.schedule();
      });
      this.schedule();
    });
  }

  private async runAlone(job: Job): Promise<void> {
    try {
      job.resolve(
        await this.db.transaction().execute(async (trx) => {
          const value = await job.run(trx, job.writes);
          await this.flush.all(trx, [job.writes]);
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
      /** Handed-over rows of the batchable commands run since the last flush. */
      let carried: PendingInserts[] = [];
      for (const [i, job] of batch.entries()) {
        if (!job.batchable) {
          if (carried.length)
            await this.flush.inserts(
              trx,
              carried.map((inserts) => ({ audit: [], inserts })),
            );
          carried = [];
          await trx.executeQuery(SAVEPOINT);
        } else {
          job.writes.inserts = new PendingInserts(carried);
        }
        try {
          results.push({ ok: true, value: await job.run(trx, job.writes) });
          if (!job.batchable) {
            // Rows a command that is not batchable handed over anyway are written inside its savepoint.
            if (!job.writes.inserts.empty) await this.flush.inserts(trx, [job.writes]);
            await trx.executeQuery(RELEASE);
          } else if (!job.writes.inserts.empty) carried.push(job.writes.inserts);
        } catch (error) {
          // A batchable command has no savepoint: a database error in it may have aborted the shared
          // transaction (PostgreSQL aborts on any error; SQLite on I/O errors). Only a refusal of
          // the command's own (AppError) leaves the transaction usable.
          if (job.batchable && !(error instanceof AppError)) throw new SharedTransactionLost(i, error);
          if (!job.batchable) {
            await trx.executeQuery(ROLLBACK_TO);
            await trx.executeQuery(RELEASE);
          }
          results.push({ ok: false, error });
        }
      }
      // A failure from here on fails the whole batch below: nothing of it commits.
      await this.flush.inserts(
        trx,
        carried.map((inserts) => ({ audit: [], inserts })),
      );
      await this.flush.all(
        trx,
        batch.filter((_, i) => results[i].ok).map((j) => ({ audit: j.writes.audit, inserts: new PendingInserts() })),
      );
      await trx.commit().execute();
    } catch (error) {
      if (trx)
        await trx
          .rollback()
          .execute()
          .catch(() => {});
      if (error instanceof SharedTransactionLost) {
        // Only the command that failed fails; the others wrote nothing that survives the rollback
        // and run again, first in the queue, from the start.
        batch[error.index].reject(error.cause);
        const again = batch.filter((_, i) => i !== error.index);
        for (const job of again) job.writes = { audit: [], inserts: new PendingInserts() };
        this.queue.unshift(...again);
        return;
      }
      // The shared transaction itself failed (I/O, lost connection, a conflict at the shared
      // insert): nothing of the batch committed.
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

/** A batchable command failed with a database error: the shared transaction must be given up. */
class SharedTransactionLost extends Error {
  constructor(
    readonly index: number,
    cause: unknown,
  ) {
    super('a batchable command failed with a database error', { cause });
  }
}
