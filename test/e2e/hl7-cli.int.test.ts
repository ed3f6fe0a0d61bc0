import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import pino from 'pino';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { cli } from '../helpers/sealpost-cli.js';

/**
 * `sealpost hl7 …` as an operator runs it, as its own process against the server's installation:
 * senders, a batch file imported in order, the error queue, and `send` to a running listener.
 * Output carries ids, types, control ids and codes, never message content.
 */

const FIXTURES = new URL('../fixtures/hl7v2/', import.meta.url);
const sample = (name: string, controlId: string) => {
  const lines = readFileSync(new URL(name, FIXTURES), 'utf8')
    .replace(/^\uFEFF/, '')
    .split(/\r\n|\r|\n/)
    .filter((l) => l.trim());
  const msh = lines[0].split('|');
  msh[9] = controlId;
  lines[0] = msh.join('|');
  return lines.join('\r');
};

it('registers a sender, imports a batch in order, works the error queue and sends over MLLP from the command line', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-hl7-cli-'));
  const env = { SEALPOST_DATA_DIR: dataDir, SEALPOST_LOG_LEVEL: 'warn' };
  try {
    // An installation (keyring and database), as `sealpost serve` leaves it.
    await (await buildApp(loadConfig(env), { logger: pino({ level: 'silent' }) })).close();

    const added = await cli(env, [
      'hl7',
      'senders',
      'add',
      '--app',
      'SomeSystem',
      '--facility',
      '',
      '--patient-id-authority',
      '1',
      '--json',
    ]);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    const sender = JSON.parse(added.stdout);
    expect(sender).toMatchObject({ app: 'SomeSystem', facility: '', timeZone: 'UTC' });
    expect((await cli(env, ['hl7', 'senders', 'list'])).stdout).toContain(sender.id);

    // A batch: an ORU for a patient nobody registered (error queue), then an ADT^A04 from an unknown sender.
    const batch = join(dataDir, 'batch.hl7');
    writeFileSync(
      batch,
      [
        'FHS|^~\\&|SomeSystem',
        'BHS|^~\\&|SomeSystem',
        sample('LAB-ORU-1.hl7', 'B-1'),
        sample('ADT-A04-01.hl7', 'B-2'),
        'BTS|2',
        'FTS|1',
      ].join('\r'),
    );
    const imported = await cli(env, ['hl7', 'import', batch]);
    expect(imported.code).toBe(0);
    expect(imported.stdout.trim().split('\n')).toEqual(['B-1 AE error', 'B-2 AR rejected']);

    const listed = await cli(env, ['hl7', 'errors', 'list', '--json']);
    const [queued] = JSON.parse(listed.stdout);
    expect(queued).toMatchObject({ errorCode: 'SP_HL7_UNKNOWN_PATIENT', segment: 'PID', field: 3 });
    // MSH-10 is caller text: listed as its keyed hash, never in clear.
    expect(queued.controlId).not.toBe('B-1');
    expect(listed.stdout).not.toContain('B-1');
    expect(listed.stdout).not.toContain('DUCK');
    const replay = await cli(env, ['hl7', 'errors', 'replay', queued.id]);
    expect(replay.stdout).toContain(' error ');
    expect((await cli(env, ['hl7', 'errors', 'discard', queued.id])).stdout).toContain(' discarded ');

    // `send`: to a listening server on the same installation.
    const app = await buildApp(loadConfig({ ...env, SEALPOST_HL7_LISTEN: '127.0.0.1:0', SEALPOST_WORKER: 'false' }), {
      logger: pino({ level: 'silent' }),
    });
    app.start();
    try {
      const port = (await app.hl7Port())!;
      const file = join(dataDir, 'one.hl7');
      writeFileSync(file, sample('LAB-ORU-2.hl7', 'S-1'));
      const sent = await cli(env, ['hl7', 'send', file, '--port', String(port)]);
      expect(sent.stderr).toBe('');
      expect(sent.stdout.trim()).toBe('S-1 AE SP_HL7_UNKNOWN_PATIENT');
      // `send` is a client: it runs from a machine with no installation of its own.
      const elsewhere = mkdtempSync(join(tmpdir(), 'sealpost-hl7-client-'));
      try {
        writeFileSync(join(elsewhere, 'one.hl7'), sample('LAB-ORU-2.hl7', 'S-2'));
        const client = { SEALPOST_DATA_DIR: elsewhere, SEALPOST_LOG_LEVEL: 'warn' };
        const remote = await cli(client, ['hl7', 'send', join(elsewhere, 'one.hl7'), '--port', String(port)]);
        expect(remote.stdout.trim()).toBe('S-2 AE SP_HL7_UNKNOWN_PATIENT');
        const badPort = await cli(client, ['hl7', 'send', join(elsewhere, 'one.hl7'), '--port', 'x']);
        expect(badPort.code).not.toBe(0);
        expect(badPort.stderr).toContain('SP_CONFIG_INVALID');
      } finally {
        rmSync(elsewhere, { recursive: true, force: true });
      }
    } finally {
      await app.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 300_000);
