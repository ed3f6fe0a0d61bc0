/**
 * Walks `--flag value` / `--flag=value` arguments: `handle` gets each flag with readers for its value
 * (`value()` consumes the next argument when the value is not inline; `num(min)` parses a number ≥ min;
 * `optional()` is the value when one is given, else undefined, as for `--json [file]`).
 */
export function forEachFlag(argv: string[], handle: (flag: string, value: () => string, num: (min: number) => number, optional: () => string | undefined) => void): void {
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
    const optional = () => inline ?? (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[++i] : undefined);
    handle(flag, value, num, optional);
  }
}
