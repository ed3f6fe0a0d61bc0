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
  /** Failures of one timer before an administrator alert (`alert_timer_failed`); default 5. */
  maxFailures?: number;
  /** First retry delay after a failed firing, doubled each time; default 1 s. */
  retryBaseMs?: number;
  /** Retry delay once `maxFailures` is reached (the timer is still tried, slowly); default 60 s. */
  slowRetryMs?: number;
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
  /** Failed firings per timer id on this node (each node counts its own). */
  private readonly failures = new Map<string, number>();

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
   * alert cannot hold the others back. A timer that fails alone stays unfired: it is postponed with
   * backoff (1 s, 2 s, 4 s, …), after `maxFailures` failures an administrator alert is raised and it
   * is still tried every `slowRetryMs`: an open alert never silently stops escalating.
   */
  async fireDue(limit: number): Promise<number> {
    try {
      return await this.fireBatch(limit);
    } catch (e) {
      this.onError(e);
      let n = 0;
      for (let i = 0; i < limit; i++) {
        try {
          const k = await this.fireBatch(1);
          if (!k) break;
          n += k;
        } catch (one) {
          this.onError(one);
          if (!(await this.retryLater())) break;
          n++;
        }
      }
      return n;
    }
  }

  /** The delay before the `n`th retry of a failing timer. */
  retryDelayMs(n: number): number {
    const max = this.o.maxFailures ?? 5;
    const base = this.o.retryBaseMs ?? 1000;
    return n >= max ? (this.o.slowRetryMs ?? 60_000) : base * 2 ** (n - 1);
  }

  private async fireBatch(limit: number): Promise<number> {
    const now = this.o.clock();
    const { sends, n, ids } = await this.store.transaction(async (tx) => {
      const due: AlertTimerRow[] = await tx.alerts.lockDue(now.getTime(), limit);
      const out: PlannedSend[] = [];
      for (const t of due) out.push(...(await this.runner.fireTimerInTx(tx, t, now)));
      return { sends: out, n: due.length, ids: due.map((t) => t.id) };
    });
    if (!n) return 0;
    for (const id of ids) this.failures.delete(id);
    await this.store.durable();
    this.fired += n;
    this.dispatch(sends);
    return n;
  }

  /**
   * The earliest due timer failed on its own: postponed (still unfired) so it cannot block the
   * queue; the `maxFailures`th failure raises the administrator alert. False when none was due.
   */
  private async retryLater(): Promise<boolean> {
    const now = this.o.clock();
    const t = await this.store.transaction(async (tx) => {
      const [t] = await tx.alerts.lockDue(now.getTime(), 1);
      if (!t) return undefined;
      const n = (this.failures.get(t.id) ?? 0) + 1;
      this.failures.set(t.id, n);
      await tx.alerts.postponeTimer(t.id, now.getTime() + this.retryDelayMs(n));
      if (n === (this.o.maxFailures ?? 5)) await this.runner.timerFailedInTx(tx, t, n, now);
      return t;
    });
    if (t) await this.store.durable();
    return t !== undefined;
  }
}
