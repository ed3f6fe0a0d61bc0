import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HELP_WIDTH, cliReference, withCliReference } from './cli-doc.js';
import { buildProgram } from './main.js';

const file = join(import.meta.dirname, '..', '..', 'docs', 'cli.md');

describe('docs/cli.md', () => {
  it('shows the help of every command as the code prints it', () => {
    const doc = readFileSync(file, 'utf8');
    expect(doc, 'docs/cli.md is out of date with src/cli/: run `npm run docs:cli`').toBe(withCliReference(doc));
  });

  it('has a section for every command and subcommand', () => {
    const names: string[] = [];
    const walk = (cmd: ReturnType<typeof buildProgram>, prefix: string) => {
      names.push(`${prefix}${cmd.name()}`);
      for (const sub of cmd.commands) walk(sub, `${prefix}${cmd.name()} `);
    };
    walk(buildProgram(), '');
    const reference = cliReference();
    for (const name of names) expect(reference).toMatch(new RegExp(`^#+ \`${name}\`$`, 'm'));
    expect(names).toContain('sealpost keys rotate');
  });

  it('wraps help at a fixed width, whatever the terminal', () => {
    const inBlocks = [...cliReference().matchAll(/```text\n([\s\S]*?)\n```/g)].flatMap((m) => m[1]!.split('\n'));
    expect(inBlocks.length).toBeGreaterThan(100);
    for (const line of inBlocks) expect(line.length).toBeLessThanOrEqual(HELP_WIDTH);
  });
});
