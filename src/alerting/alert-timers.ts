import type { Store } from '../store/store.js';
import type { AlertTimerRow } from '../store/repositories/alert-repository.js';
import type { PlannedSend } from './alert-types.js';
import type { EscalationRunner } from './escalation-policy-runner.js';

export interface TimerWorkerOptions {
  /** Timers fired per transaction. */
  batchSize: number;
  /**
   * Longest sleep between looks at the table: another node may have written an earlier timer, so
   * this bounds how late such a timer fires (plus one batch).
   */
  maxSleepMs: number;
  clock: () => Date;
}

/**
 * Fires due escalation timers. Each round claims due timers in one transaction (FOR UPDATE SKIP
 * LOCKED on PostgreSQL, so nodes split them and a killed node's locks vanish with its connection),
 * marks each fired conditionally, fires its step (EscalationRunner) and commits; the nudges go to
 * their channels once the commit is durable. Between rounds it sleeps until the earliest due timer,
 * at most `maxSleepMs`; a timer written on this node re-arms it at once (`wake`).
 */
export class TimerWorker {
  private running = false;
  private sleeping: NodeJS.Timeout | null = null;
  private wakeAt = Infinity;
  private round: Promise<void> | null = null;
  private again = false;
  /** Timers fired by this worker (benches and tests read it). */
  fired = 0;

  constructor(
    private readonly store: Store,
    private readonly runner: EscalationRunner,
    private readonly dispatch: (sends: readonly PlannedSend[]) => void,
    private readonly o: TimerWorkerOptions,
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.arm(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.sleeping) clearTimeout(this.sleeping);
    this.sleeping = null;
    await this.round?.catch(() => undefined);
  }

  /** A timer due at `dueAt` was written on this node: sleep no later than that. */
  wake(dueAt: number = 0): void {
    if (!this.running) return;
    if (this.round) {
      this.again = true;
      return;
    }
    const delay = Math.max(0, dueAt - this.o.clock().getTime());
    if (dueAt < this.wakeAt) this.arm(delay);
  }

  private arm(delayMs: number): void {
    if (!this.running) return;
    if (this.sleeping) clearTimeout(this.sleeping);
    const d = Math.min(Math.max(0, delayMs), this.o.maxSleepMs);
    this.wakeAt = this.o.clock().getTime() + d;
    this.sleeping = setTimeout(() => {
      this.sleeping = null;
      this.wakeAt = Infinity;
      this.round = this.run().finally(() => (this.round = null));
    }, d);
  }

  private async run(): Promise<void> {
    let next = this.o.maxSleepMs;
    try {
      while (this.running && (await this.fireDue(this.o.batchSize)) === this.o.batchSize);
      const due = await this.store.read.alerts.nextDueAt();
      if (due !== null) next = due - this.o.clock().getTime();
    } catch (e) {
      this.onError(e);
    }
    if (this.again) next = 0;
    this.again = false;
    this.arm(next);
  }

  /**
   * One round: fires up to `limit` due timers in one transaction; resolves with how many were
   * claimed. When the batch fails as a whole it is retried one timer per transaction, so one bad
   * alert cannot hold the others back; a timer that fails alone is marked fired (and reported).
   */
  async fireDue(limit: number): Promise<number> {
    try {
      return await this.fireBatch(limit);
    } catch (e) {
      if (limit === 1) throw e;
      this.onError(e);
      let n = 0;
      for (let i = 0; i < limit; i++) {
        try {
          const k = await this.fireBatch(1);
          if (!k) break;
          n += k;
        } catch (one) {
          this.onError(one);
          await this.skipOne();
          n++;
        }
      }
      return n;
    }
  }

  private async fireBatch(limit: number): Promise<number> {
    const now = this.o.clock();
    const { sends, n } = await this.store.transaction(async (tx) => {
      const due: AlertTimerRow[] = await tx.alerts.lockDue(now.getTime(), limit);
      const out: PlannedSend[] = [];
      for (const t of due) out.push(...(await this.runner.fireTimerInTx(tx, t, now)));
      return { sends: out, n: due.length };
    });
    if (!n) return 0;
    await this.store.durable();
    this.fired += n;
    this.dispatch(sends);
    return n;
  }

  /** The earliest due timer failed on its own: marked fired so it cannot block the queue. */
  private async skipOne(): Promise<void> {
    const now = this.o.clock().getTime();
    await this.store.transaction(async (tx) => {
      const [t] = await tx.alerts.lockDue(now, 1);
      if (t) await tx.alerts.markFired(t.id, now, 'failed');
    });
  }
}
