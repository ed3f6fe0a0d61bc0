import { describe, expect, it } from 'vitest';
import { SendLocks, Slots } from './send-locks.js';

/** A promise and its resolver. */
function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}
const turns = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe('SendLocks: shared sends, exclusive revocations, per key', () => {
  it('lets shared holders overlap and makes an exclusive one wait until every one of them is done', async () => {
    const locks = new SendLocks();
    const log: string[] = [];
    const a = gate();
    const b = gate();
    const s1 = locks.shared(['t/p1'], async () => (log.push('s1 in'), await a.p, log.push('s1 out')));
    const s2 = locks.shared(['t/p1', 't/p2'], async () => (log.push('s2 in'), await b.p, log.push('s2 out')));
    await turns();
    const x = locks.exclusive(['t/p1'], async () => log.push('x'));
    await turns();
    expect(log).toEqual(['s1 in', 's2 in']);
    a.open();
    await turns();
    expect(log).not.toContain('x');
    b.open();
    await Promise.all([s1, s2, x]);
    expect(log).toEqual(['s1 in', 's2 in', 's1 out', 's2 out', 'x']);
  });

  it('holds back a new shared holder behind a waiting exclusive one (a STOP is not starved), other keys run on', async () => {
    const locks = new SendLocks();
    const log: string[] = [];
    const a = gate();
    const s1 = locks.shared(['t/p1'], async () => (await a.p, log.push('s1')));
    await turns();
    const x = locks.exclusive(['t/p1'], async () => log.push('x'));
    const s2 = locks.shared(['t/p1'], async () => log.push('s2'));
    const other = locks.shared(['t/p2'], async () => log.push('other'));
    await other;
    a.open();
    await Promise.all([s1, x, s2]);
    expect(log).toEqual(['other', 's1', 'x', 's2']);
  });

  it('releases the keys when the holder throws', async () => {
    const locks = new SendLocks();
    await expect(locks.exclusive(['t/p1'], async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await locks.exclusive(['t/p1'], async () => 'again')).toBe('again');
  });
});

describe('Slots', () => {
  it('runs at most n at once, the others in order', async () => {
    const slots = new Slots(2);
    let inside = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        slots.run(async () => {
          inside++;
          most = Math.max(most, inside);
          order.push(i);
          await turns(3);
          inside--;
        }),
      ),
    );
    expect(most).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
