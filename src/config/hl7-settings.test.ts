import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daysFromNow, serverCert, testCa, type Pem } from '../../test/helpers/transport-pki.js';
import { loadConfig } from './load-config.js';
import { parseListenAddress } from './hl7-settings.js';

const base = { SEALPOST_DATA_DIR: '/tmp/x' };
const problems = (env: Record<string, string>): string => {
  try {
    loadConfig({ ...base, ...env });
  } catch (e) {
    return (e as { detail?: string }).detail ?? (e as Error).message;
  }
  return '';
};

describe('SEALPOST_HL7_*', () => {
  let cert: Pem, other: Pem, expired: Pem, ca: Pem;
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-hl7-config-'));
  beforeAll(async () => {
    [cert, other, expired, ca] = await Promise.all([
      serverCert('mllp'),
      serverCert('other'),
      serverCert('old', { notBefore: daysFromNow(-10), notAfter: daysFromNow(-1) }),
      testCa('senders'),
    ]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is off by default, with bounded limits', () => {
    expect(loadConfig(base).hl7).toEqual({
      maxMessageBytes: 1_048_576,
      maxConnections: 100,
      maxConnectionsPerAddress: 10,
      idleTimeoutMs: 600_000,
    });
  });

  it('parses host:port, IPv6 in brackets, and host names', () => {
    expect(parseListenAddress('127.0.0.1:2575')).toEqual({ host: '127.0.0.1', port: 2575 });
    expect(parseListenAddress('[::1]:2575')).toEqual({ host: '::1', port: 2575 });
    expect(parseListenAddress('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(parseListenAddress('mllp.hospital.example:6661')).toEqual({ host: 'mllp.hospital.example', port: 6661 });
    for (const bad of [
      '2575',
      '127.0.0.1',
      '127.0.0.1:',
      ':2575',
      '127.0.0.1:65536',
      '::1:2575',
      '[127.0.0.1]:1',
      'a b:1',
      'x:-1',
      'host:25x',
      '[::1]2575',
    ])
      expect(parseListenAddress(bad), bad).toBeNull();
  });

  it('turns the listener on for a loopback address without TLS', () => {
    expect(loadConfig({ ...base, SEALPOST_HL7_LISTEN: '127.0.0.1:2575' }).hl7.listen).toEqual({
      host: '127.0.0.1',
      port: 2575,
    });
    expect(loadConfig({ ...base, SEALPOST_HL7_LISTEN: 'localhost:2575' }).hl7.tls).toBeUndefined();
  });

  it('refuses plaintext MLLP on a non-loopback address', () => {
    expect(problems({ SEALPOST_HL7_LISTEN: '0.0.0.0:2575' })).toMatch(
      /SEALPOST_HL7_LISTEN: .*plaintext MLLP is allowed only on a loopback/,
    );
    expect(problems({ SEALPOST_HL7_LISTEN: '10.0.0.5:2575' })).toMatch(/plaintext MLLP/);
  });

  it('refuses TLS without a client CA on a non-loopback address (every remote sender presents a certificate)', () => {
    const tls = { SEALPOST_HL7_TLS_CERT: cert.cert, SEALPOST_HL7_TLS_KEY: cert.key };
    expect(problems({ ...tls, SEALPOST_HL7_LISTEN: '0.0.0.0:2575' })).toMatch(
      /SEALPOST_HL7_LISTEN: a listener on a non-loopback address needs .*SEALPOST_HL7_TLS_CLIENT_CA/,
    );
    expect(problems({ ...tls, SEALPOST_HL7_LISTEN: '10.0.0.5:2575' })).toMatch(/SEALPOST_HL7_TLS_CLIENT_CA/);
    // On a loopback address (an engine on this host), TLS without a client CA stays allowed.
    expect(loadConfig({ ...base, ...tls, SEALPOST_HL7_LISTEN: '127.0.0.1:2575' }).hl7.tls).toMatchObject({
      cert: cert.cert,
    });
  });

  it('takes certificate, key and client CA inline or from files, and then listens anywhere', () => {
    writeFileSync(join(dir, 'k.pem'), cert.key);
    writeFileSync(join(dir, 'ca.pem'), ca.cert);
    const c = loadConfig({
      ...base,
      SEALPOST_HL7_LISTEN: '0.0.0.0:2575',
      SEALPOST_HL7_TLS_CERT: cert.cert,
      SEALPOST_HL7_TLS_KEY_FILE: join(dir, 'k.pem'),
      SEALPOST_HL7_TLS_CLIENT_CA_FILE: join(dir, 'ca.pem'),
    }).hl7;
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 2575 });
    expect(c.tls?.cert).toBe(cert.cert);
    expect(c.tls?.key).toBe(cert.key.trim());
    expect(c.tls?.clientCa).toBe(ca.cert.trim());
  });

  it('refuses a bad address, a lone certificate or key, a mismatched or expired pair, a bad CA, bad limits', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ SEALPOST_HL7_LISTEN: 'nope' }, /SEALPOST_HL7_LISTEN: expected host:port/],
      [{ SEALPOST_HL7_TLS_CERT: cert.cert }, /set both or neither/],
      [{ SEALPOST_HL7_TLS_KEY: cert.key }, /set both or neither/],
      [{ SEALPOST_HL7_TLS_CERT: cert.cert, SEALPOST_HL7_TLS_KEY: other.key }, /the key does not match the certificate/],
      [{ SEALPOST_HL7_TLS_CERT: expired.cert, SEALPOST_HL7_TLS_KEY: expired.key }, /the certificate has expired/],
      [{ SEALPOST_HL7_TLS_CERT: 'junk', SEALPOST_HL7_TLS_KEY: cert.key }, /not a PEM certificate/],
      [{ SEALPOST_HL7_TLS_CERT: cert.cert, SEALPOST_HL7_TLS_KEY: 'junk' }, /not an unencrypted PEM private key/],
      [{ SEALPOST_HL7_TLS_CLIENT_CA: ca.cert }, /SEALPOST_HL7_TLS_CLIENT_CA: needs/],
      [
        { SEALPOST_HL7_TLS_CERT: cert.cert, SEALPOST_HL7_TLS_KEY: cert.key, SEALPOST_HL7_TLS_CLIENT_CA: 'junk' },
        /expected PEM CA/,
      ],
      [
        { SEALPOST_HL7_TLS_CERT_FILE: join(dir, 'missing.pem'), SEALPOST_HL7_TLS_KEY: cert.key },
        /SEALPOST_HL7_TLS_CERT_FILE: cannot read/,
      ],
      [{ SEALPOST_HL7_MAX_MESSAGE_BYTES: '100' }, /SEALPOST_HL7_MAX_MESSAGE_BYTES/],
      [{ SEALPOST_HL7_MAX_CONNECTIONS: '0' }, /SEALPOST_HL7_MAX_CONNECTIONS/],
      [{ SEALPOST_HL7_MAX_CONNECTIONS_PER_ADDRESS: '0' }, /SEALPOST_HL7_MAX_CONNECTIONS_PER_ADDRESS/],
      [{ SEALPOST_HL7_IDLE_TIMEOUT_MS: 'soon' }, /SEALPOST_HL7_IDLE_TIMEOUT_MS/],
    ];
    for (const [env, expected] of cases) expect(problems(env), JSON.stringify(Object.keys(env))).toMatch(expected);
  });

  it('never puts key material into an error', () => {
    const p = problems({ SEALPOST_HL7_TLS_CERT: cert.cert, SEALPOST_HL7_TLS_KEY: other.key });
    expect(p).not.toContain('PRIVATE KEY');
    expect(p).not.toContain(other.key.split('\n')[1]!);
  });
});
