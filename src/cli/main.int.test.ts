import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hermeticEnv } from '../../test/helpers/server-process.js';

const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['bin/sealpost.js', ...args], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: hermeticEnv(env),
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
    // migrate creates the database only: commands that need the keyring say where they looked.
    const outbox = cli(['outbox'], { SEALPOST_DATA_DIR: dir });
    expect(outbox.status).toBe(1);
    expect(outbox.stderr).toContain('SP_CONFIG_NO_INSTALLATION');
    expect(outbox.stderr).toContain(`no keyring at ${join(dir, 'keyring.json')}`);
  });

  it('refuses every command but serve and migrate on a data directory with no installation, creating nothing', () => {
    const parent = mkdtempSync(join(tmpdir(), 'sealpost-cli-'));
    const dir = join(parent, 'elsewhere');
    const env = { SEALPOST_DATA_DIR: dir };
    for (const args of [
      ['users', 'invite', '--email', 'a@example.com', '--name', 'A', '--roles', 'admin'],
      ['outbox'],
      ['keys', 'list'],
      ['export', '--out', join(parent, 'x.export')],
    ]) {
      const r = cli(args, env);
      expect([r.status, r.stdout]).toEqual([1, '']);
      expect(r.stderr).toMatch(/^sealpost: SP_CONFIG_NO_INSTALLATION: .*\n$/);
      expect(r.stderr).toContain(`no keyring at ${join(dir, 'keyring.json')}:`);
      expect(r.stderr).toContain('set SEALPOST_DATA_DIR (or SEALPOST_KEYRING_FILE)');
    }
    expect(readdirSync(parent)).toEqual([]);

    // A keyring of its own but a database URL pointing nowhere: the database is named.
    mkdirSync(dir);
    writeFileSync(join(dir, 'keyring.json'), '{}');
    const r = cli(['outbox'], { ...env, SEALPOST_DATABASE_URL: `sqlite:${join(parent, 'new.db')}` });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('SP_CONFIG_NO_INSTALLATION');
    expect(r.stderr).toContain(`no database at ${join(parent, 'new.db')}:`);
    expect(r.stderr).toContain('SEALPOST_DATABASE_URL');
    expect(readdirSync(parent).sort()).toEqual(['elsewhere']);
  }, 120_000);

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
