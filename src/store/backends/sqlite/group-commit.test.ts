import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.js';

/** A sync whose completion the test controls, recording when each sync started. */
function controlledSync() {
  const started: number[] = [];
  const finishers: (() => void)[] = [];
  let clock = 0;
  const sync = () =>
    new Promise<void>((resolve) => {
      started.push(clock);
      finishers.push(resolve);
    });
  return { sync, started, finish: () => finishers.shift()!(), tick: () => clock++ };
}

const settled = () => new Promise((r) => setImmediate(r));

describe('group commit', () => {
  it('covers many callers with one sync when they arrive together', async () => {
    const c = controlledSync();
    const g = new GroupCommit(c.sync);
    const all = Promise.all([g.flush(), g.flush(), g.flush()]);
    await settled();
    c.finish();
    await settled();
    c.finish(); // the single follow-up sync shared by callers 2 and 3
    await all;
    expect(c.started).toHaveLength(2);
  });

  it('never releases a caller with a sync that started before it asked', async () => {
    const c = controlledSync();
    const g = new GroupCommit(c.sync);
    let late = false;
    void g.flush();
    await settled();
    c.tick(); // a commit happens now, while the first sync runs
    const p = g.flush().then(() => (late = true));
    c.finish(); // the first sync ends: it started before the late caller's commit
    await settled();
    expect(late).toBe(false);
    c.finish();
    await p;
    expect(late).toBe(true);
    expect(c.started).toEqual([0, 1]);
  });

  it('passes a failed sync on to its callers and recovers for the next ones', async () => {
    let fail = true;
    const g = new GroupCommit(async () => {
      if (fail) throw new Error('EIO');
    });
    await expect(g.flush()).rejects.toThrow('EIO');
    fail = false;
    await expect(g.flush()).resolves.toBeUndefined();
  });
});
