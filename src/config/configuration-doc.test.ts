import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './load-config.js';
import { STAFF_ROLES } from '../core/domain.js';

/**
 * docs/configuration.md against the code. The code decides which variables exist: `loadConfig` warns
 * (`ignoredVariables`) about every SEALPOST_* variable it does not read, so that warning is the arbiter
 * of "known". Which names to ask it about comes from the doc's rows and from recording every variable
 * `loadConfig` reads (a Proxy env), with the conditional sections (pkcs11, twilio, smtp, http, OIDC) on.
 */

const root = join(import.meta.dirname, '..', '..');
const DOC = 'docs/configuration.md';

type Env = Record<string, string>;

/** One variable per row, written in full; a secret that may come from a file carries " (or `_FILE`)". */
interface Row {
  line: number;
  name: string;
  fileVariant: boolean;
  defaultCell: string;
}

function parseDoc(text: string): { rows: Row[]; malformed: string[] } {
  const rows: Row[] = [];
  const malformed: string[] = [];
  text.split('\n').forEach((raw, i) => {
    if (!raw.startsWith('|')) return;
    const cells = raw.split('|').slice(1, -1);
    const first = cells[0]?.trim() ?? '';
    if (!first.includes('SEALPOST_')) return;
    const m = /^`(SEALPOST_[A-Z0-9_]+)`( \(or `_FILE`\))?$/.exec(first);
    if (!m || cells.length !== 3) {
      malformed.push(
        `${DOC}:${i + 1}: "${first}": write one variable per row, in full, in backticks ` +
          '(optionally followed by " (or `_FILE`)"), in a three-column row',
      );
      return;
    }
    rows.push({ line: i + 1, name: m[1]!, fileVariant: !!m[2], defaultCell: cells[1]!.trim() });
  });
  return { rows, malformed };
}

/** Every SEALPOST_* name `loadConfig` reads from `env` (a scenario may be invalid: the reads still count). */
function namesRead(env: Env): Set<string> {
  const read = new Set<string>();
  const spy = new Proxy(env, {
    get(target, key) {
      if (typeof key === 'string' && key.startsWith('SEALPOST_')) read.add(key);
      return Reflect.get(target, key);
    },
  });
  try {
    loadConfig(spy);
  } catch {
    // a scenario that is missing a required companion variable still read everything
  }
  return read;
}

/** Valid settings that turn on the parts of the configuration only present when asked for. */
const WITH_OIDC: Env = {
  SEALPOST_OIDC_ISSUER: 'https://idp.example',
  SEALPOST_OIDC_CLIENT_ID: 'sealpost',
  SEALPOST_OIDC_GROUP_ROLES: `staff=${STAFF_ROLES[0]}`,
};
const SCENARIOS: Env[] = [
  {},
  { SEALPOST_KEY_PROVIDER: 'pkcs11' },
  { SEALPOST_SMS_PROVIDER: 'twilio' },
  { SEALPOST_EMAIL_PROVIDER: 'smtp' },
  { SEALPOST_WEBHOOK_PROVIDER: 'http' },
  WITH_OIDC,
];

/** Of `names`, those `loadConfig` knows: the ones it does not warn about when they are set (empty = unset). */
function known(names: Iterable<string>): Set<string> {
  const all = [...names];
  const ignored = new Set(loadConfig(Object.fromEntries(all.map((n) => [n, '']))).ignoredVariables);
  return new Set(all.filter((n) => !ignored.has(n)));
}

describe(DOC, () => {
  const { rows, malformed } = parseDoc(readFileSync(join(root, DOC), 'utf8'));
  const documented = new Set(rows.flatMap((r) => (r.fileVariant ? [r.name, `${r.name}_FILE`] : [r.name])));
  const read = new Set(SCENARIOS.flatMap((env) => [...namesRead(env)]));
  const code = known([...read, ...documented]);
  /** A secret: X whose content may instead come from the file named by X_FILE. */
  const secrets = new Set([...code].filter((n) => code.has(`${n}_FILE`)));

  it('has one well-formed row per variable, each once', () => {
    const seen = new Map<string, number>();
    const dupes = rows.flatMap((r) => {
      const first = seen.get(r.name);
      seen.set(r.name, first ?? r.line);
      return first ? [`${DOC}:${r.line}: ${r.name} is already documented at line ${first}`] : [];
    });
    expect([...malformed, ...dupes]).toEqual([]);
    expect(rows.length).toBeGreaterThan(40);
  });

  it('lists every variable the code reads, and only those', () => {
    expect(read.size).toBeGreaterThan(40); // the recording works
    // Every name recorded is one the unknown-variable warning accepts: both say the same thing.
    expect([...read].filter((n) => !code.has(n))).toEqual([]);
    const problems = [
      ...[...code]
        .filter((n) => !documented.has(n) && !(n.endsWith('_FILE') && secrets.has(n.slice(0, -5))))
        .map((n) => `${n}: loadConfig reads it; add a row for it to ${DOC}`),
      ...[...documented]
        .filter((n) => !code.has(n))
        .map((n) => `${n}: documented in ${DOC} but unknown to loadConfig (it would be warned about); remove it`),
    ];
    expect(problems).toEqual([]);
  });

  it('marks every secret that may come from a file with "(or `_FILE`)", and no other variable', () => {
    const problems = rows.flatMap((r) => {
      if (secrets.has(r.name) && !r.fileVariant)
        return [`${DOC}:${r.line}: ${r.name} may also be read from ${r.name}_FILE; write " (or \`_FILE\`)" after it`];
      if (r.fileVariant && !secrets.has(r.name))
        return [`${DOC}:${r.line}: ${r.name} has no ${r.name}_FILE variant; remove " (or \`_FILE\`)"`];
      if (r.name.endsWith('_FILE') && secrets.has(r.name.slice(0, -5)))
        return [`${DOC}:${r.line}: document ${r.name} as " (or \`_FILE\`)" on the row of ${r.name.slice(0, -5)}`];
      return [];
    });
    expect(problems).toEqual([]);
  });

  it('gives the code’s default wherever the default cell is a literal in backticks', () => {
    // A literal default is one value in backticks, not a placeholder (`<data dir>/…`) or another variable.
    const literal = (cell: string) => /^`([^`<>]+)`$/.exec(cell)?.[1];
    const checked = rows.filter((r) => code.has(r.name) && literal(r.defaultCell) !== undefined);
    const problems: string[] = [];
    for (const r of checked) {
      const value = literal(r.defaultCell)!;
      // Setting a variable to its default must change nothing, with the optional parts on or off.
      for (const base of [{}, WITH_OIDC]) {
        let same: boolean;
        try {
          same = JSON.stringify(loadConfig({ ...base, [r.name]: value })) === JSON.stringify(loadConfig(base));
        } catch (e) {
          problems.push(`${DOC}:${r.line}: ${r.name}: the documented default \`${value}\` is refused: ${e}`);
          break;
        }
        if (!same) {
          problems.push(
            `${DOC}:${r.line}: ${r.name}: the documented default \`${value}\` is not the code's default ` +
              '(setting it changes the configuration); correct the default cell',
          );
          break;
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked.length).toBeGreaterThan(30); // the cells are read as intended
  });
});
