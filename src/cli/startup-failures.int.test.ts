import { createServer, type Server } from 'node:net';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../../test/helpers/sealpost-cli.js';

const fresh = () => mkdtempSync(join(tmpdir(), 'sealpost-startfail-'));

/** Each failure: exit 1, one line on stderr naming what and the setting to change, never "unexpected error". */
const oneLine = (r: { code: number | null; stderr: string }) => {
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^sealpost: SP_[A-Z_]+: [^\n]+\n$/);
  expect(r.stderr).not.toContain('unexpected error');
  return r.stderr;
};

describe('sealpost serve: every start-up failure is one line saying what and what to do', () => {
  let busy: Server | undefined;
  afterAll(() => busy?.close());

  it('names the address, the port and SEALPOST_PORT when the port is in use', async () => {
    busy = createServer();
    await new Promise<void>((r) => busy!.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    const line = oneLine(
      await cli({ SEALPOST_DATA_DIR: fresh(), SEALPOST_HOST: '127.0.0.1', SEALPOST_PORT: String(port) }, ['serve']),
    );
    expect(line).toContain(`SP_SERVER_LISTEN_FAILED`);
    expect(line).toContain(`127.0.0.1:${port} (EADDRINUSE)`);
    expect(line).toContain('SEALPOST_PORT');
  }, 60_000);

  it('names the address, the port and SEALPOST_HL7_LISTEN when the HL7 port is in use', async () => {
    const hl7Busy = createServer();
    await new Promise<void>((r) => hl7Busy.listen(0, '127.0.0.1', r));
    const port = (hl7Busy.address() as { port: number }).port;
    try {
      const env = { SEALPOST_DATA_DIR: fresh(), SEALPOST_HOST: '127.0.0.1', SEALPOST_PORT: '0' };
      const line = oneLine(await cli({ ...env, SEALPOST_HL7_LISTEN: `127.0.0.1:${port}` }, ['serve']));
      expect(line).toContain(`SP_SERVER_LISTEN_FAILED`);
      expect(line).toContain(`127.0.0.1:${port} (EADDRINUSE)`);
      expect(line).toContain('SEALPOST_HL7_LISTEN');
    } finally {
      hl7Busy.close();
    }
  }, 60_000);

  it('names the path and SEALPOST_DATA_DIR when the data directory cannot be created', async () => {
    const parent = fresh();
    writeFileSync(join(parent, 'a-file'), '');
    const dir = join(parent, 'a-file', 'data');
    const line = oneLine(await cli({ SEALPOST_DATA_DIR: dir, SEALPOST_PORT: '0' }, ['serve']));
    expect(line).toContain('SP_CONFIG_PATH_UNUSABLE');
    expect(line).toContain(`cannot mkdir ${dir} (ENOTDIR): SEALPOST_DATA_DIR must name`);
  }, 60_000);

  it('names the files and the settings when the configured certificate is not one', async () => {
    const dir = fresh();
    const cert = join(dir, 'cert.pem');
    writeFileSync(cert, 'not a certificate');
    const line = oneLine(
      await cli(
        { SEALPOST_DATA_DIR: dir, SEALPOST_PORT: '0', SEALPOST_TLS_CERT_FILE: cert, SEALPOST_TLS_KEY_FILE: cert },
        ['serve'],
      ),
    );
    expect(line).toContain('SP_TLS_CERT_INVALID');
    expect(line).toContain(`certificate ${cert}`);
    expect(line).toContain('SEALPOST_TLS_CERT_FILE');
    expect(readdirSync(dir)).toEqual(['cert.pem']);
  }, 60_000);

  it('names the keyring file and SEALPOST_KEYRING_FILE when the keyring cannot be read', async () => {
    const dir = fresh();
    mkdirSync(join(dir, 'keyring.json'));
    const line = oneLine(await cli({ SEALPOST_DATA_DIR: dir, SEALPOST_PORT: '0' }, ['serve']));
    expect(line).toContain('SP_CRYPTO_KEYRING_INVALID');
    expect(line).toContain(`${join(dir, 'keyring.json')}: restore it from the backup, or set SEALPOST_KEYRING_FILE`);
  }, 60_000);
});
