import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('the SDK runs in browsers', () => {
  it('imports node: modules, Buffer and process only under src/node/', () => {
    const offenders = files(SRC)
      .filter((f) => !relative(SRC, f).startsWith('node/') && !relative(SRC, f).startsWith('generated/'))
      .filter((f) => {
        const text = readFileSync(f, 'utf8');
        return /from ['"]node:|require\(|\bBuffer\.|\bprocess\./.test(text);
      })
      .map((f) => relative(SRC, f));
    expect(offenders).toEqual([]);
  });

  it('never imports the server', () => {
    const offenders = files(SRC).filter((f) => /from ['"](\.\.\/)+(\.\.\/)src\//.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
