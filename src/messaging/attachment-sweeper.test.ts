import { afterEach, describe, expect, it, vi } from 'vitest';
import { AttachmentSweeper } from './attachment-sweeper.js';

describe('attachment sweeper', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sweeps after the first delay and then at every interval until stopped', async () => {
    vi.useFakeTimers();
    let rounds = 0;
    const sweeper = new AttachmentSweeper(
      { sweepOrphans: async () => ++rounds },
      { intervalMs: 1000, firstDelayMs: 10 },
    );
    sweeper.start();
    sweeper.start(); // a second start does not add a second timer
    await vi.advanceTimersByTimeAsync(10);
    expect(rounds).toBe(1);
    await vi.advanceTimersByTimeAsync(3000);
    expect(rounds).toBe(4);
    await sweeper.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(rounds).toBe(4);
  });

  it('reports a failed round and tries again at the next interval', async () => {
    vi.useFakeTimers();
    const errors: unknown[] = [];
    let calls = 0;
    const sweeper = new AttachmentSweeper(
      {
        sweepOrphans: async () => {
          if (++calls === 1) throw new Error('database unavailable');
          return 0;
        },
      },
      { intervalMs: 1000, firstDelayMs: 0 },
      (e) => errors.push(e),
    );
    sweeper.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(errors).toHaveLength(1);
    expect(calls).toBe(2);
    await sweeper.stop();
  });

  it('waits for a round in progress when stopped', async () => {
    vi.useFakeTimers();
    let finish: () => void = () => undefined;
    let finished = false;
    const sweeper = new AttachmentSweeper(
      {
        sweepOrphans: () =>
          new Promise<number>((r) => {
            finish = () => {
              finished = true;
              r(0);
            };
          }),
      },
      { intervalMs: 1000, firstDelayMs: 0 },
    );
    sweeper.start();
    await vi.advanceTimersByTimeAsync(0);
    let stoppedYet = false;
    const stopped = sweeper.stop().then(() => (stoppedYet = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(stoppedYet).toBe(false);
    finish();
    await stopped;
    expect(finished && stoppedYet).toBe(true);
  });
});
