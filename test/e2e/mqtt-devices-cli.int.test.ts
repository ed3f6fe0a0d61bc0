import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import pino from 'pino';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { cli } from '../helpers/sealpost-cli.js';
import { clientCert } from '../helpers/transport-pki.js';

/**
 * `sealpost devices …` as an operator runs it, as its own process against the server's installation:
 * registration by certificate, clear errors for bad input (nothing written), list and removal.
 */
it('adds, lists and removes medical devices from the command line, refusing bad input with clear errors', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-devices-cli-'));
  const env = { SEALPOST_DATA_DIR: dataDir, SEALPOST_LOG_LEVEL: 'warn' };
  try {
    await (await buildApp(loadConfig(env), { logger: pino({ level: 'silent' }) })).close();
    const [mon, other] = await Promise.all([clientCert('mon-4w-12'), clientCert('mon-4w-13')]);
    const monPem = join(dataDir, 'mon.pem');
    const otherPem = join(dataDir, 'other.pem');
    const junk = join(dataDir, 'junk.pem');
    writeFileSync(monPem, mon.cert);
    writeFileSync(otherPem, other.cert);
    writeFileSync(junk, 'not a certificate');

    const added = await cli(env, [
      'devices',
      'add',
      '--id',
      'mon-4w-12',
      '--cert',
      monPem,
      '--location',
      '4-west/12',
      '--json',
    ]);
    expect(added.stderr).toBe('');
    expect(JSON.parse(added.stdout)).toMatchObject({ id: 'mon-4w-12', certSha256: mon.sha256, location: '4-west/12' });

    const refused: [string[], RegExp][] = [
      [['--id', 'mon-4w-12', '--cert', otherPem, '--location', '4-west/13'], /SP_MEDDEVICE_EXISTS/],
      [['--id', 'mon-4w-13', '--cert', monPem, '--location', '4-west/13'], /SP_MEDDEVICE_CERT_TAKEN/],
      [['--id', 'mon-4w-13', '--cert', junk, '--location', '4-west/13'], /SP_MEDDEVICE_INVALID.*cert/],
      [
        ['--id', 'mon-4w-13', '--cert', join(dataDir, 'missing.pem'), '--location', '4-west/13'],
        /SP_MEDDEVICE_INVALID.*cannot read/,
      ],
      [['--id', 'mon-4w-13', '--cert', otherPem, '--location', 'nowhere'], /SP_MEDDEVICE_INVALID.*location/],
      [
        ['--id', 'mon-4w-13', '--cert', otherPem, '--location', '4-west/13', '--tenant', 'nope'],
        /SP_MEDDEVICE_INVALID.*tenant/,
      ],
      [
        ['--id', 'mon-4w-13', '--cert', otherPem, '--location', '4-west/13', '--patient', 'nobody'],
        /SP_MEDDEVICE_INVALID.*patient/,
      ],
      [
        ['--id', 'mon-4w-13', '--cert', otherPem, '--location', '4-west/13', '--kind', 'toaster'],
        /SP_MEDDEVICE_INVALID.*kind/,
      ],
    ];
    for (const [args, message] of refused) {
      const r = await cli(env, ['devices', 'add', ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
    }
    const list = await cli(env, ['devices', 'list']);
    expect(list.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^mon-4w-12 tenant=default kind=monitor location=4-west\/12 /),
    ]);

    const changed = await cli(env, [
      'devices',
      'change',
      'mon-4w-12',
      '--location',
      '5-east/3',
      '--target',
      'group:rrt',
    ]);
    expect(changed.stdout).toMatch(/^mon-4w-12 .*location=5-east\/3 .*target=group:rrt /);
    expect((await cli(env, ['devices', 'change', 'mon-4w-12', '--target', '-'])).stdout).toMatch(/ target=- /);
    const badChange = await cli(env, ['devices', 'change', 'mon-4w-12', '--location', 'nowhere']);
    expect([badChange.code, badChange.stderr]).toEqual([1, expect.stringMatching(/SP_MEDDEVICE_INVALID.*location/)]);
    expect((await cli(env, ['devices', 'remove', 'mon-4w-12'])).stdout.trim()).toBe('removed mon-4w-12');
    expect((await cli(env, ['devices', 'remove', 'mon-4w-12'])).stderr).toMatch(/SP_MEDDEVICE_NOT_FOUND/);
    expect((await cli(env, ['devices', 'list'])).stdout.trim()).toBe('');
    // A removed id may be registered again (a replaced monitor keeps its bed's id).
    const again = await cli(env, [
      'devices',
      'add',
      '--id',
      'mon-4w-12',
      '--cert',
      otherPem,
      '--location',
      '4-west/12',
    ]);
    expect(again.code).toBe(0);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 240_000);
