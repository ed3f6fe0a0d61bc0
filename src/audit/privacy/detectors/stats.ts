/** Small robust statistics over plain number arrays (the detectors' baselines). */

/** The q-quantile (0..1) by nearest rank of a copy of `xs`; 0 for an empty array. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median absolute deviation from `med`. */
export function mad(xs: readonly number[], med: number): number {
  return median(xs.map((x) => Math.abs(x - med)));
}

/** Appends to a bounded ring kept as `{ buf, pos }` (plain JSON): the oldest value goes when full. */
export interface Ring {
  buf: number[];
  pos: number;
}

export function ringPush(r: Ring, v: number, max: number): void {
  if (r.buf.length < max) r.buf.push(v);
  else {
    r.buf[r.pos] = v;
    r.pos = (r.pos + 1) % max;
  }
}

export const round1 = (x: number): number => Math.round(x * 10) / 10;

export const clamp01 = (x: number): number => (x < 0 ? 0 : x > 1 ? 1 : x);
