/**
 * In-process shared/exclusive locks by key (`tenant/patient`): the send locks of a single-node
 * backend (SQLite), where every sender and every revocation run in this process. A waiting exclusive
 * request holds back later shared ones (a stream of sends never starves a STOP). Several keys are
 * taken in sorted order, so two holders never wait for each other in a cycle.
 */
export class SendLocks {
  private readonly held = new Map<string, { shared: number; exclusive: boolean; queue: Waiter[] }>();

  async shared<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    return this.run(keys, false, fn);
  }

  async exclusive<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    return this.run(keys, true, fn);
  }

  private async run<T>(keys: readonly string[], exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const taken: string[] = [];
    try {
      for (const k of sorted) {
        await this.acquire(k, exclusive);
        taken.push(k);
      }
      return await fn();
    } finally {
      for (const k of taken) this.release(k, exclusive);
    }
  }

  private state(k: string) {
    let s = this.held.get(k);
    if (!s) this.held.set(k, (s = { shared: 0, exclusive: false, queue: [] }));
    return s;
  }

  private acquire(k: string, exclusive: boolean): Promise<void> {
    const s = this.state(k);
    const free = exclusive ? !s.exclusive && s.shared === 0 : !s.exclusive;
    if (free && !s.queue.length) {
      if (exclusive) s.exclusive = true;
      else s.shared++;
      return Promise.resolve();
    }
    return new Promise((resolve) => s.queue.push({ exclusive, resolve }));
  }

  private release(k: string, exclusive: boolean): void {
    const s = this.held.get(k)!;
    if (exclusive) s.exclusive = false;
    else s.shared--;
    // Grant waiters in order: one exclusive alone, or every shared one up to the next exclusive.
    while (s.queue.length) {
      const w = s.queue[0]!;
      if (w.exclusive) {
        if (s.shared || s.exclusive) break;
        s.exclusive = true;
        s.queue.shift();
        w.resolve();
        break;
      }
      if (s.exclusive) break;
      s.shared++;
      s.queue.shift();
      w.resolve();
    }
    if (!s.shared && !s.exclusive && !s.queue.length) this.held.delete(k);
  }
}

interface Waiter {
  exclusive: boolean;
  resolve: () => void;
}

/**
 * At most `n` callers inside `run` at once; the others wait in order. On PostgreSQL a send holds a
 * pooled connection (its lock transaction) while its channel calls run: capping how many do so
 * leaves connections for everything else, a dev-outbox channel's own writes included.
 */
export class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly n: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.used >= this.n) await new Promise<void>((r) => this.waiting.push(r));
    else this.used++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.used--;
    }
  }
}
