/**
 * Retry delay with AWS "full jitter" (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/):
 * a uniformly random whole number of milliseconds in [0, min(cap, base * 2^(attempt-1))]. Spreading retries over the whole
 * window keeps workers that failed together (a provider outage) from retrying together.
 *
 * `attempt` counts from 1 (the attempt that just failed). `random` must return a number in [0, 1)
 * like Math.random; it is injectable so tests are deterministic. Returns whole milliseconds.
 */
export function fullJitterBackoff(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  if (!Number.isSafeInteger(attempt) || attempt < 1) throw new RangeError('attempt must be an integer >= 1');
  if (!Number.isFinite(baseMs) || baseMs < 0) throw new RangeError('baseMs must be a finite number >= 0');
  if (!Number.isFinite(capMs) || capMs < 0) throw new RangeError('capMs must be a finite number >= 0');
  // 2 ** 1024 is Infinity and 0 * Infinity is NaN; past 2^1000 any positive base is above any finite cap.
  const exponent = Math.min(attempt - 1, 1000);
  const ceiling = Math.min(capMs, baseMs * 2 ** exponent);
  const r = random();
  if (!(r >= 0 && r < 1)) throw new RangeError('random() must return a number in [0, 1)');
  // Uniform over the whole milliseconds 0..top; r < 1 keeps the result <= top.
  const top = Math.floor(ceiling);
  return Math.floor(r * (top + 1));
}
