import { beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';
import { isAppError } from '../core/errors.js';
import { checkClientCert, parseClientCertBinding, type ClientCertBinding } from './client-cert.js';
import { clientCert, daysFromNow, serverCert, testCa, type Pem } from '../../test/helpers/transport-pki.js';

const now = () => new Date();
const x509 = (p: Pem) => new X509Certificate(p.cert);
const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return isAppError(e) ? e.code : 'not an AppError';
  }
  return 'no error';
};

describe('client certificate bindings', () => {
  let ca: Pem, sameNameImpostor: Pem, otherCa: Pem;
  let leaf: Pem, expired: Pem, notYet: Pem, fromImpostor: Pem, fromOther: Pem, subCa: Pem, serverOnly: Pem;
  let byCa: ClientCertBinding;

  beforeAll(async () => {
    [ca, sameNameImpostor, otherCa] = await Promise.all([
      testCa('Clinic Client CA'),
      testCa('Clinic Client CA'),
      testCa('Other CA'),
    ]);
    [leaf, expired, notYet, fromImpostor, fromOther, serverOnly] = await Promise.all([
      clientCert('engine', { ca }),
      clientCert('engine', { ca, notBefore: daysFromNow(-10), notAfter: daysFromNow(-1) }),
      clientCert('engine', { ca, notBefore: daysFromNow(1), notAfter: daysFromNow(10) }),
      clientCert('engine', { ca: sameNameImpostor }),
      clientCert('engine', { ca: otherCa }),
      serverCert('engine', { ca }),
    ]);
    // A CA certificate issued by the bound CA is not a client identity.
    subCa = await (async () => {
      const r = await generate([{ name: 'commonName', value: 'sub' }], {
        keyType: 'ec',
        algorithm: 'sha256',
        ca: { key: ca.key, cert: ca.cert },
        extensions: [{ name: 'basicConstraints', cA: true }],
      } as never);
      return { cert: r.cert, key: r.private, sha256: '' };
    })();
    byCa = parseClientCertBinding({ issuerCaPem: ca.cert }, now());
  });

  it('normalises a fingerprint printed with colons and upper case to lower-case hex', () => {
    const printed = leaf.sha256.toUpperCase().match(/../g)!.join(':');
    expect(parseClientCertBinding({ fingerprintSha256: printed }, now())).toEqual({
      kind: 'fingerprint',
      fingerprintSha256: leaf.sha256,
    });
  });

  it('rejects fingerprints that are not 32 bytes of hex and CA PEMs that are not exactly one valid CA', async () => {
    expect(code(() => parseClientCertBinding({ fingerprintSha256: 'ab'.repeat(31) }, now()))).toBe(
      'SP_APIKEY_INVALID_CLIENT_CERT',
    );
    expect(code(() => parseClientCertBinding({ fingerprintSha256: 'g'.repeat(64) }, now()))).toBe(
      'SP_APIKEY_INVALID_CLIENT_CERT',
    );
    expect(code(() => parseClientCertBinding({ issuerCaPem: leaf.cert }, now()))).toBe('SP_APIKEY_INVALID_CLIENT_CERT');
    expect(code(() => parseClientCertBinding({ issuerCaPem: ca.cert + otherCa.cert }, now()))).toBe(
      'SP_APIKEY_INVALID_CLIENT_CERT',
    );
    expect(
      code(() =>
        parseClientCertBinding({ issuerCaPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }, now()),
      ),
    ).toBe('SP_APIKEY_INVALID_CLIENT_CERT');
    expect(code(() => parseClientCertBinding({ issuerCaPem: ca.cert }, daysFromNow(365)))).toBe(
      'SP_APIKEY_INVALID_CLIENT_CERT',
    );
  });

  it('accepts exactly the bound certificate by fingerprint, and says when none was presented', () => {
    const b = parseClientCertBinding({ fingerprintSha256: leaf.sha256 }, now());
    expect(checkClientCert(b, x509(leaf), now())).toBe('ok');
    expect(checkClientCert(b, x509(fromOther), now())).toBe('mismatch');
    expect(checkClientCert(b, null, now())).toBe('missing');
  });

  it('accepts a valid client certificate the bound CA issued', () => {
    expect(checkClientCert(byCa, x509(leaf), now())).toBe('ok');
  });

  it('refuses a certificate from a CA with the same name but another key (issuer name alone is not enough)', () => {
    expect(x509(fromImpostor).checkIssued(x509(ca))).toBe(true);
    expect(checkClientCert(byCa, x509(fromImpostor), now())).toBe('mismatch');
  });

  it('refuses certificates of another CA, outside their validity, for servers only, or that are CAs themselves', () => {
    for (const p of [fromOther, expired, notYet, serverOnly, subCa])
      expect(checkClientCert(byCa, x509(p), now())).toBe('mismatch');
    expect(checkClientCert(byCa, null, now())).toBe('missing');
  });

  it('refuses every certificate once the bound CA itself has expired', () => {
    expect(checkClientCert(byCa, x509(leaf), daysFromNow(31))).toBe('mismatch');
  });
});
