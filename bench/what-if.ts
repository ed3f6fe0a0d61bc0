import { CoalescingTransactions } from '../src/store/coalescing-transactions.js';

/**
 * Candidate fixes measured without changing src/ (`npm run bench -- --what-if <name>`). The report
 * says in its header which ones were active: such a run does NOT measure the code as committed.
 *
 * - `defer-coalescing`: CoalescingTransactions starts a drain in the event loop's check phase
 *   (setImmediate) instead of at once. A transaction on better-sqlite3 runs to its end in microtasks,
 *   so when it starts at once, no other request can be parsed and queued meanwhile: under HTTP load
 *   every command commits alone (the bench's SQL counters show 1.00 COMMIT per notification and no
 *   savepoints). Deferred, the commands of every request read in one poll phase share one commit.
 */
export const WHAT_IFS = ['defer-coalescing'] as const;
export type WhatIf = (typeof WHAT_IFS)[number];

export function installWhatIf(name: WhatIf): void {
  if (name === 'defer-coalescing') {
    type Internals = { queue: unknown[]; draining: boolean; scheduled?: boolean; drain(): Promise<void> };
    const proto = CoalescingTransactions.prototype as unknown as Internals & { run: (fn: unknown) => Promise<unknown> };
    proto.run = function (this: Internals, fn: unknown) {
      return new Promise((resolve, reject) => {
        this.queue.push({ run: fn, resolve, reject });
        if (this.draining || this.scheduled) return;
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          if (!this.draining) void this.drain();
        });
      });
    };
  }
}
