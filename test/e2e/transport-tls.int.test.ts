import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, createServer, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { eventually, freePort, httpsJson } from '../helpers/sealpost-harness.js';
import { daysFromNow, serverCert, type Pem } from '../helpers/transport-pki.js';
import { TLS12_CIPHERS } from '../../src/api/tls.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Opens a TLS connection; resolves with the negotiated socket or rejects with the handshake error. */
function handshake(port: number, opts: ConnectionOptions = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts }, () => resolve(s));
    s.once('error', reject);
  });
}
const sha256Of = (s: TLSSocket) => createHash('sha256').update(s.getPeerCertificate().raw).digest('hex');
const servedFingerprint = async (port: number) => {
  const s = await handshake(port);
  const fp = sha256Of(s);
  s.destroy();
  return fp;
};
// OpenSSL 3 refuses TLS 1.0/1.1 below security level 0 on the client too; lower it so the refusal
// measured here is the server's, not our own client's.
const LEGACY_CLIENT: ConnectionOptions = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' };

function serve(env: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SEALPOST_')));
  const child = spawn(process.execPath, ['bin/sealpost.js', 'serve'], {
    cwd: ROOT,
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { text: '' };
  child.stdout!.on('data', (c: Buffer) => (out.text += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (out.text += c.toString('utf8')));
  return { child, out };
}

describe('HTTPS listener of `sealpost serve`: TLS versions, secure headers, certificate reload on SIGHUP', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-tls-'));
  const certFile = join(dir, 'server-cert.pem');
  const keyFile = join(dir, 'server-key.pem');
  let first: Pem, second: Pem, third: Pem;
  let child: ChildProcess;
  let out: { text: string };
  let port = 0;
  const install = (p: { cert: string; key: string }) => {
    writeFileSync(certFile, p.cert);
    writeFileSync(keyFile, p.key);
  };
  const logLines = (msg: string) =>
    out.text
      .split('\n')
      .filter((l) => l.includes(`"msg":"${msg}"`))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  beforeAll(async () => {
    [first, second, third] = await Promise.all([serverCert('first'), serverCert('second'), serverCert('third')]);
    install(first);
    port = await freePort();
    ({ child, out } = serve({
      SEALPOST_DATA_DIR: join(dir, 'data'),
      SEALPOST_PORT: String(port),
      SEALPOST_HOST: '127.0.0.1',
      SEALPOST_PUBLIC_URL: `https://127.0.0.1:${port}`,
      SEALPOST_TLS_CERT_FILE: certFile,
      SEALPOST_TLS_KEY_FILE: keyFile,
    }));
    await eventually(
      async () => {
        if (child.exitCode != null) throw new Error(`serve exited ${child.exitCode}: ${out.text}`);
        return out.text.includes('sealpost is serving');
      },
      'sealpost serve is up',
      60_000,
    );
  }, 90_000);

  afterAll(async () => {
    if (child && child.exitCode == null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the operator certificate and negotiates TLS 1.3 when the client offers it', async () => {
    const s = await handshake(port);
    expect(sha256Of(s)).toBe(first.sha256);
    expect(s.getProtocol()).toBe('TLSv1.3');
    s.destroy();
  });

  it('speaks TLS 1.2 only with forward-secret AEAD ciphers, and refuses a TLS 1.2 client that offers only CBC', async () => {
    const s = await handshake(port, { maxVersion: 'TLSv1.2' });
    expect(s.getProtocol()).toBe('TLSv1.2');
    expect(TLS12_CIPHERS).toContain(s.getCipher().name);
    s.destroy();
    await expect(
      handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA' }),
    ).rejects.toThrow(/handshake failure|no shared cipher/i);
  });

  it('refuses TLS 1.0 and 1.1 clients (the same client does connect to a server that still allows 1.1)', async () => {
    // Control: proves LEGACY_CLIENT really negotiates TLS 1.1 when a server permits it.
    const legacy = createServer(
      { cert: first.cert, key: first.key, minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' },
      (s) => s.end(),
    );
    await new Promise<void>((r) => legacy.listen(0, '127.0.0.1', r));
    const ok = await handshake((legacy.address() as { port: number }).port, LEGACY_CLIENT);
    expect(ok.getProtocol()).toBe('TLSv1.1');
    ok.destroy();
    legacy.close();
    await expect(handshake(port, LEGACY_CLIENT)).rejects.toThrow(/protocol version|unsupported protocol/i);
    await expect(handshake(port, { ...LEGACY_CLIENT, maxVersion: 'TLSv1' })).rejects.toThrow(
      /protocol version|unsupported protocol/i,
    );
  });

  it('sends HSTS and strict secure headers on API answers, and no-store so nothing caches PHI', async () => {
    const res = await httpsJson(`https://127.0.0.1:${port}`, first.cert, 'GET', '/healthz');
    expect(res.status).toBe(200);
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
  });

  it('keeps the portal pages\u2019 own policy (inline styles, same-origin forms)', async () => {
    const res = await httpsJson(`https://127.0.0.1:${port}`, first.cert, 'GET', '/m/not-a-real-token', undefined, {});
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.headers['content-security-policy']).toContain("form-action 'self'");
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('on SIGHUP installs a replaced certificate for new connections without dropping the listener or open connections', async () => {
    const open = await handshake(port);
    install(second);
    child.kill('SIGHUP');
    await eventually(async () => logLines('tls certificate reloaded').length >= 1, 'reload logged');
    expect(logLines('tls certificate reloaded')[0]!.fingerprint256).toBe(
      second.sha256.toUpperCase().match(/../g)!.join(':'),
    );
    expect(await servedFingerprint(port)).toBe(second.sha256);
    // The connection opened before the reload still works and still has the old certificate.
    expect(sha256Of(open)).toBe(first.sha256);
    expect(open.destroyed).toBe(false);
    open.destroy();
    const res = await httpsJson(`https://127.0.0.1:${port}`, second.cert, 'GET', '/healthz');
    expect(res.body.ok).toBe(true);
  });

  it('refuses a bad new pair on SIGHUP with a clear log line and keeps serving the previous certificate', async () => {
    const [expired, notYet] = await Promise.all([
      serverCert('expired', { notBefore: daysFromNow(-30), notAfter: daysFromNow(-1) }),
      serverCert('not yet', { notBefore: daysFromNow(2), notAfter: daysFromNow(30) }),
    ]);
    const bad: [string, () => void][] = [
      ['the key does not match the certificate', () => install({ cert: third.cert, key: second.key })],
      ['the certificate has expired', () => install(expired)],
      ['the certificate is not yet valid', () => install(notYet)],
      ['the certificate file cannot be read', () => unlinkSync(certFile)],
      ['the certificate file holds no PEM certificate', () => install({ cert: 'garbage', key: third.key })],
    ];
    for (const [i, [reason, apply]] of bad.entries()) {
      apply();
      child.kill('SIGHUP');
      await eventually(
        async () => logLines('tls certificate reload refused; the previous certificate stays in use').length >= i + 1,
        `refusal ${i + 1} logged`,
      );
      const line = logLines('tls certificate reload refused; the previous certificate stays in use')[i]!;
      expect(line).toMatchObject({ code: 'SP_TLS_CERT_INVALID', reason, level: 50 });
      expect(await servedFingerprint(port)).toBe(second.sha256);
    }
    expect(child.exitCode).toBeNull();
    expect(out.text).not.toContain('PRIVATE KEY');
  });

  it('refuses to start with a certificate whose key does not match, naming SP_TLS_CERT_INVALID', async () => {
    const mismatched = join(dir, 'mismatch');
    writeFileSync(`${mismatched}-cert.pem`, first.cert);
    writeFileSync(`${mismatched}-key.pem`, third.key);
    const other = await freePort();
    const bad = serve({
      SEALPOST_DATA_DIR: join(dir, 'data2'),
      SEALPOST_PORT: String(other),
      SEALPOST_PUBLIC_URL: `https://127.0.0.1:${other}`,
      SEALPOST_TLS_CERT_FILE: `${mismatched}-cert.pem`,
      SEALPOST_TLS_KEY_FILE: `${mismatched}-key.pem`,
    });
    const code = await new Promise<number | null>((r) => bad.child.once('exit', r));
    expect(code).toBe(1);
    expect(bad.out.text).toContain('SP_TLS_CERT_INVALID');
    expect(bad.out.text).toContain('the key does not match the certificate');
  }, 90_000);
});
