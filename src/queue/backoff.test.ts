import { describe, expect, it } from 'vitest';
import { fullJitterBackoff } from './backoff.js';

const almostOne = 1 - Number.EPSILON;

describe('fullJitterBackoff', () => {
  it('waits between 0 and the base delay after the first attempt', () => {
    expect(fullJitterBackoff(1, 2000, 300_000, () => 0)).toBe(0);
    expect(fullJitterBackoff(1, 2000, 300_000, () => almostOne)).toBe(2000);
  });

  it('doubles the window with each attempt', () => {
    expect(fullJitterBackoff(2, 2000, 300_000, () => almostOne)).toBe(4000);
    expect(fullJitterBackoff(4, 2000, 300_000, () => almostOne)).toBe(16_000);
  });

  it('scales the delay with the random draw within the window', () => {
    expect(fullJitterBackoff(3, 1000, 300_000, () => 0.5)).toBe(2000);
    expect(fullJitterBackoff(3, 1000, 300_000, () => 0.25)).toBe(1000);
  });

  it('never exceeds the cap', () => {
    expect(fullJitterBackoff(20, 2000, 300_000, () => almostOne)).toBe(300_000);
    expect(fullJitterBackoff(20, 2000, 300_000, () => 0.5)).toBe(150_000);
  });

  it('stays finite and capped for huge attempt numbers instead of overflowing', () => {
    for (const attempt of [1024, 1025, 5000, Number.MAX_SAFE_INTEGER]) {
      expect(fullJitterBackoff(attempt, 2000, 300_000, () => almostOne)).toBe(300_000);
    }
    expect(fullJitterBackoff(5000, 0, 300_000, () => almostOne)).toBe(0);
  });

  it('is deterministic for the same injected random sequence', () => {
    const draws = [0.1, 0.9, 0.42, 0.7];
    const run = () => {
      let i = 0;
      const random = () => draws[i++ % draws.length];
      return [1, 2, 3, 4].map((a) => fullJitterBackoff(a, 500, 60_000, random));
    };
    expect(run()).toEqual(run());
    expect(run()).toEqual([50, 900, 840, 2800]);
  });

  it('returns whole milliseconds within bounds with the default random source', () => {
    for (let i = 0; i < 200; i++) {
      const d = fullJitterBackoff(3, 1000, 300_000);
      expect(Number.isInteger(d)).toBe(true);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(4000);
    }
  });

  it.each([
    ['attempt 0', 0, 1000, 5000],
    ['a fractional attempt', 1.5, 1000, 5000],
    ['a negative base', 1, -1, 5000],
    ['a NaN cap', 1, 1000, Number.NaN],
  ])('rejects %s', (_what, attempt, base, cap) => {
    expect(() => fullJitterBackoff(attempt, base, cap, () => 0.5)).toThrow(RangeError);
  });

  it('rejects a random source that returns a value outside [0, 1)', () => {
    expect(() => fullJitterBackoff(1, 1000, 5000, () => 1)).toThrow(RangeError);
    expect(() => fullJitterBackoff(1, 1000, 5000, () => Number.NaN)).toThrow(RangeError);
  });
});
