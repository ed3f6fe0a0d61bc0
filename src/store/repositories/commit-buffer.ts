import type { Insertable } from 'kysely';
import type { Database } from '../schema.js';
import type { StoreTx } from '../store.js';
import type { IdempotencyRow } from './idempotency-repository.js';

type Row<T extends keyof Database> = Insertable<Database[T]>;

/**
 * New rows a batchable command (`store.transaction(fn, { batchable: true })`) hands over instead of
 * inserting them itself: such a command writes nothing itself, so it needs no savepoint. The rows
 * are inserted after the command, together with those of the batchable commands that share its
 * transaction, one multi-row statement per table, always before the next command that is not
 * batchable and before COMMIT. The command must not read them back (but for `findIdempotency`).
 */
export interface CommitBuffer {
  notifications(rows: readonly Row<'notifications'>[]): void;
  signatures(rows: readonly Row<'notification_signatures'>[]): void;
  deliveries(rows: readonly Row<'deliveries'>[]): void;
  idempotency(rows: readonly IdempotencyRow[]): void;
  /** Dev-outbox messages (inserted once per delivery id: a repeated one adds nothing). */
  outbox(rows: readonly Row<'dev_outbox'>[]): void;
  /**
   * The idempotency record handed over under (tenant, key) by this command or an earlier batchable
   * command of the same transaction, not yet inserted; the caller checks the table too.
   */
  findIdempotency(tenantId: string, key: string): IdempotencyRow | undefined;
}

export class PendingInserts implements CommitBuffer {
  readonly n: Row<'notifications'>[] = [];
  readonly s: Row<'notification_signatures'>[] = [];
  readonly d: Row<'deliveries'>[] = [];
  readonly i: IdempotencyRow[] = [];
  readonly o: Row<'dev_outbox'>[] = [];

  /** @param earlier the handed-over rows of the batchable commands before this one in the same transaction. */
  constructor(private readonly earlier: readonly PendingInserts[] = []) {}

  notifications(rows: readonly Row<'notifications'>[]): void {
    this.n.push(...rows);
  }

  signatures(rows: readonly Row<'notification_signatures'>[]): void {
    this.s.push(...rows);
  }

  deliveries(rows: readonly Row<'deliveries'>[]): void {
    this.d.push(...rows);
  }

  idempotency(rows: readonly IdempotencyRow[]): void {
    this.i.push(...rows);
  }

  outbox(rows: readonly Row<'dev_outbox'>[]): void {
    this.o.push(...rows);
  }

  findIdempotency(tenantId: string, key: string): IdempotencyRow | undefined {
    for (const p of [this, ...this.earlier]) {
      const r = p.i.find((x) => x.tenant_id === tenantId && x.key === key);
      if (r) return r;
    }
    return undefined;
  }

  get empty(): boolean {
    return !this.n.length && !this.s.length && !this.d.length && !this.i.length && !this.o.length;
  }

  /** Inserts the rows of `all` in `tx`: notifications first (signatures and deliveries refer to them). */
  static async flush(tx: StoreTx, all: readonly PendingInserts[]): Promise<void> {
    const pick = <T>(f: (p: PendingInserts) => T[]) => all.flatMap(f);
    const n = pick((p) => p.n);
    if (n.length) await tx.notifications.insertMany(n);
    const s = pick((p) => p.s);
    if (s.length) await tx.signers.insertSignatures(s);
    const d = pick((p) => p.d);
    if (d.length) await tx.deliveries.insertMany(d);
    // Last: on PostgreSQL a concurrent node's identical key fails this insert (unique violation),
    // and the commands retry, then find that node's record.
    const i = pick((p) => p.i);
    if (i.length) await tx.idempotency.insertMany(i);
    const o = pick((p) => p.o);
    if (o.length) await tx.outbox.recordMany(o);
  }
}

/** Outside a transaction there is no COMMIT to hand rows to. */
export const NO_COMMIT: CommitBuffer = {
  notifications: refuse,
  signatures: refuse,
  deliveries: refuse,
  idempotency: refuse,
  outbox: refuse,
  findIdempotency: () => undefined,
};

function refuse(): never {
  throw new Error('rows are handed to the commit inside a transaction only');
}
