import type { Store } from '../store/store.js';
import type { DeliveryRow } from '../store/rows.js';
import type { ClaimedBatch, DeliveryOutcome } from './job-queue.js';
import type { Logger } from 'pino';

export interface WorkerOptions {
  owner: string;
  leaseMs: number;
  pollMs: number;
  batchSize: number;
  concurrency: number;
  clock: () => Date;
}

/**
 * The durable queue's consumer: claims due deliveries with a lease, runs them with bounded
 * concurrency, and sleeps until the next due time, a poll tick or a `wake()`, whichever is first.
 * A crash leaves `sending` rows whose lease expires; `releaseExpiredLeases` returns them to the queue.
 */
export class DeliveryWorker {
  private running = false;
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;
  private wakeResolve: (() => void) | null = null;
  private loopDone: Promise<void> | null = null;
  private readonly active = new Set<Promise<void>>();
  onOutcome: (o: DeliveryOutcome, d: DeliveryRow) => void = () => {};

  constructor(
    private readonly store: Store,
    /** Claims (and prepares) up to `limit` due jobs under this worker's lease until `leaseUntil`. */
    private readonly claim: (limit: number, now: number, leaseUntil: number) => Promise<ClaimedBatch>,
    private readonly opts: WorkerOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Something became due now: skip the rest of the current sleep. */
  wake(): void {
    this.wakeResolve?.();
  }

  /** Stops claiming and waits for in-flight deliveries to finish recording their outcome. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loopDone;
    await Promise.allSettled([...this.active]);
  }

  private async loop(): Promise<void> {
    let lastSweep = 0;
    let failures = 0;
    while (this.running) {
      let claimed = 0;
      try {
        const now = this.opts.clock().getTime();
        if (now - lastSweep >= Math.min(this.opts.leaseMs, 5_000)) {
          lastSweep = now;
          const released = await this.store.read.queue.releaseExpired(now);
          if (released) this.log.warn({ released }, 'released deliveries whose lease expired');
        }
        const room = this.opts.concurrency - this.inFlight;
        if (room > 0) {
          const batch = await this.claim(Math.min(room, this.opts.batchSize), now, now + this.opts.leaseMs);
          claimed = batch.jobs.length;
          if (claimed) this.run(batch);
        }
        if (failures) this.log.info({ failures }, 'delivery worker recovered');
        failures = 0;
      } catch (e) {
        // The database is down or unreachable: log once per outage and back off (capped), not every poll.
        if (failures++ === 0) this.log.error({ err: e }, 'delivery worker loop failed; retrying with backoff');
        if (this.running) await this.sleep(Math.min(this.opts.pollMs * 2 ** Math.min(failures, 10), 5_000));
        continue;
      }
      if (!this.running) break;
      // A full batch means there is probably more work: go again at once (unless at capacity).
      if (this.inFlight >= this.opts.concurrency) {
        await this.sleep(this.opts.pollMs); // a finishing delivery wakes us
        continue;
      }
      if (claimed > 0) continue;
      await this.sleep(await this.untilNextDue());
    }
  }

  private run(batch: ClaimedBatch): void {
    const { jobs } = batch;
    this.inFlight += jobs.length;
    const p = batch
      .finish()
      .then((outcomes) => outcomes.forEach((o, i) => this.onOutcome(o, jobs[i])))
      .catch((e) =>
        this.log.error(
          { err: e, deliveries: jobs.length },
          'delivery batch failed; leases will expire and it will be retried',
        ),
      )
      .finally(() => {
        this.inFlight -= jobs.length;
        this.active.delete(p);
        this.wake();
      });
    this.active.add(p);
  }

  private async untilNextDue(): Promise<number> {
    try {
      const next = await this.store.read.queue.nextRunAt();
      if (next == null) return this.opts.pollMs;
      return Math.max(0, Math.min(this.opts.pollMs, next - this.opts.clock().getTime()));
    } catch {
      return this.opts.pollMs;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        this.wakeResolve = null;
        resolve();
      };
      this.wakeResolve = done;
      this.timer = setTimeout(done, ms);
    });
  }
}
