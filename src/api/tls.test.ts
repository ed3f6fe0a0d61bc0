import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { isAppError } from '../core/errors.js';
import { loadOrCreateTls, readTlsPair, secureContextOptions } from './tls.js';
import { daysFromNow, serverCert, type Pem } from '../../test/helpers/transport-pki.js';

const dir = mkdtempSync(join(tmpdir(), 'sealpost-tls-unit-'));
const write = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};
const reason = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return isAppError(e) ? `${e.code}: ${e.detail}` : 'not an AppError';
  }
  return 'no error';
};

describe('server TLS material', () => {
  let good: Pem, other: Pem, expired: Pem, notYet: Pem;
  beforeAll(async () => {
    [good, other, expired, notYet] = await Promise.all([
      serverCert('good'),
      serverCert('other'),
      serverCert('expired', { notBefore: daysFromNow(-10), notAfter: daysFromNow(-1) }),
      serverCert('later', { notBefore: daysFromNow(1), notAfter: daysFromNow(10) }),
    ]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('allows TLS 1.2 and 1.3 only, with ECDHE and AEAD ciphers for 1.2', () => {
    const o = secureContextOptions({ key: good.key, cert: good.cert });
    expect([o.minVersion, o.maxVersion]).toEqual(['TLSv1.2', 'TLSv1.3']);
    for (const c of o.ciphers!.split(':').filter((c) => !c.startsWith('TLS_')))
      expect(c).toMatch(/^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
  });

  it('reads a good pair and reports its fingerprint', () => {
    const p = readTlsPair(write('g.crt', good.cert), write('g.key', good.key), new Date());
    expect(p.info.fingerprint256).toBe(new X509Certificate(good.cert).fingerprint256);
  });

  it('names what is wrong with a bad pair, never the key', () => {
    const now = new Date();
    expect(reason(() => readTlsPair(write('a.crt', good.cert), write('a.key', other.key), now))).toBe(
      'SP_TLS_CERT_INVALID: the key does not match the certificate',
    );
    expect(reason(() => readTlsPair(write('e.crt', expired.cert), write('e.key', expired.key), now))).toBe(
      'SP_TLS_CERT_INVALID: the certificate has expired',
    );
    expect(reason(() => readTlsPair(write('n.crt', notYet.cert), write('n.key', notYet.key), now))).toBe(
      'SP_TLS_CERT_INVALID: the certificate is not yet valid',
    );
    expect(reason(() => readTlsPair(join(dir, 'missing.crt'), write('m.key', good.key), now))).toBe(
      'SP_TLS_CERT_INVALID: the certificate file cannot be read',
    );
    expect(reason(() => readTlsPair(write('k.crt', good.cert), join(dir, 'missing.key'), now))).toBe(
      'SP_TLS_CERT_INVALID: the key file cannot be read',
    );
    expect(reason(() => readTlsPair(write('x.crt', 'junk'), write('x.key', good.key), now))).toBe(
      'SP_TLS_CERT_INVALID: the certificate file holds no PEM certificate',
    );
    expect(reason(() => readTlsPair(write('y.crt', good.cert), write('y.key', 'junk'), now))).toBe(
      'SP_TLS_CERT_INVALID: the key file holds no unencrypted PEM private key',
    );
  });

  it('refuses to start with only one of the two PEM paths', async () => {
    await expect(loadOrCreateTls(dir, write('only.crt', good.cert), undefined)).rejects.toMatchObject({
      code: 'SP_TLS_CERT_INVALID',
    });
  });

  it('replaces an expired self-signed default in the data directory instead of refusing to start', async () => {
    const data = mkdtempSync(join(dir, 'data-'));
    writeFileSync(join(data, 'tls-cert.pem'), expired.cert);
    writeFileSync(join(data, 'tls-key.pem'), expired.key);
    const t = await loadOrCreateTls(data);
    expect(t.generated).toBe(true);
    expect(new Date(new X509Certificate(t.cert).validTo).getTime()).toBeGreaterThan(Date.now());
    expect((await loadOrCreateTls(data)).generated).toBe(false);
  });
});
