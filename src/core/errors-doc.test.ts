import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from './errors.js';

const root = join(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('errors.ts') ? [p] : [];
  });
}

describe('docs/errors.md', () => {
  const doc = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
  const documented = new Map([...doc.matchAll(/^\| `(SP_\w+)` \| (\d+) \|/gm)].map((m) => [m[1], Number(m[2])]));

  it('lists exactly the codes the code defines, with the same HTTP status', () => {
    expect(Object.fromEntries(documented)).toEqual(
      Object.fromEntries(Object.entries(ERROR_CODES).map(([k, v]) => [k, v.status])),
    );
  });

  it('has no code that nothing raises', () => {
    const all = sources(join(root, 'src'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const unused = Object.keys(ERROR_CODES).filter((c) => !all.includes(`'${c}'`));
    expect(unused).toEqual([]);
  });

  it('names codes in the SP_<AREA>_<WHAT> shape', () => {
    for (const code of Object.keys(ERROR_CODES)) expect(code).toMatch(/^SP_[A-Z][A-Z0-9]*_[A-Z_]+$/);
  });
});
