import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['bin/sealpost.js', ...args], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });

describe('the sealpost command', () => {
  for (const command of ['serve', 'migrate', 'outbox']) {
    it(`explains "${command}" with --help`, () => {
      const r = cli([command, '--help']);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`Usage: sealpost ${command}`);
    });
  }

  it('explains "audit verify" with --help', () => {
    const r = cli(['audit', 'verify', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: sealpost audit verify');
  });

  it('says that "api-keys revoke" and "rotate" take the key\'s id, and how long a revoked key may still work', () => {
    const help = (args: string[]) => cli([...args, '--help']).stdout.replace(/\s+/g, ' ');
    const revoke = help(['api-keys', 'revoke']);
    expect(revoke).toContain('Usage: sealpost api-keys revoke [options] <id>');
    expect(revoke).toContain('by its id (the first column of `api-keys list`, not the key itself)');
    expect(revoke).toContain('may still accept it for up to 5 seconds');
    expect(help(['api-keys', 'rotate'])).toContain('key with this id (the first column of `api-keys list`)');
  });

  it('lists its commands with --help', () => {
    const r = cli(['--help']);
    expect(r.status).toBe(0);
    for (const c of ['serve', 'migrate', 'outbox', 'audit']) expect(r.stdout).toContain(c);
  });

  it('migrates a fresh data directory, then reports it up to date', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-cli-'));
    const first = cli(['migrate'], { SEALPOST_DATA_DIR: dir });
    expect(first.stdout).toContain('applied: 001-initial, 002-audit-log');
    expect(cli(['migrate'], { SEALPOST_DATA_DIR: dir }).stdout).toContain('up to date');
    expect(cli(['outbox'], { SEALPOST_DATA_DIR: dir }).status).toBe(0);
  });

  it('reports every invalid setting at once and exits non-zero', () => {
    const r = cli(['migrate'], {
      SEALPOST_PORT: 'eighty',
      SEALPOST_SQLITE_DURABILITY: 'maybe',
      SEALPOST_PUBLIC_URL: 'http://x',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('SP_CONFIG_INVALID');
    for (const v of ['SEALPOST_PORT', 'SEALPOST_SQLITE_DURABILITY', 'SEALPOST_PUBLIC_URL'])
      expect(r.stderr).toContain(v);
  });
});
