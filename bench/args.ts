/**
 * Walks `--flag value` / `--flag=value` arguments: `handle` gets each flag with readers for its value
 * (`value()` consumes the next argument when the value is not inline; `num(min)` parses a number ≥ min;
 * `optional()` is the value when one is given, else undefined, as for `--json [file]`).
 */
export function forEachFlag(
  argv: string[],
  handle: (flag: string, value: () => string, num: (min: number) => number, optional: () => string | undefined) => void,
): void {
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2) as [string, string | undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const num = (min: number) => {
      const n = Number(value());
      if (!Number.isFinite(n) || n < min) throw new Error(`${flag}: expected a number ≥ ${min}`);
      return n;
    };
    const optional = () =>
      inline ?? (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[++i] : undefined);
    handle(flag, value, num, optional);
  }
}

/** The load options both the SQLite and the PostgreSQL bench take. */
export interface LoadFlags {
  durationSec: number;
  warmupSec: number;
  connections: number;
  patients: number;
  quietWaitSec: number;
  drainTimeoutSec: number;
}

/** Applies `flag` when it is one of the shared load options; false when it is not. */
export function loadFlag(flag: string, o: LoadFlags, num: (min: number) => number, minPatients = 1): boolean {
  switch (flag) {
    case '--duration':
      o.durationSec = num(1);
      return true;
    case '--warmup':
      o.warmupSec = num(0);
      return true;
    case '--connections':
      o.connections = Math.round(num(1));
      return true;
    case '--patients':
      o.patients = Math.round(num(minPatients));
      return true;
    case '--wait-quiet':
      o.quietWaitSec = num(0);
      return true;
    case '--drain-timeout':
      o.drainTimeoutSec = num(1);
      return true;
    default:
      return false;
  }
}
