import { createHash, X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';

/**
 * Real X.509 material for transport tests, made with the `selfsigned` dependency (@peculiar/x509
 * underneath): CAs, certificates they issue, self-signed ones and ones outside their validity.
 * EC P-256 keeps generation fast.
 */
export interface Pem {
  cert: string;
  key: string;
  /** SHA-256 of the DER certificate, lower-case hex. */
  sha256: string;
}

const DAY = 86_400_000;

function pem(r: { cert: string; private: string }): Pem {
  return {
    cert: r.cert,
    key: r.private,
    sha256: createHash('sha256').update(new X509Certificate(r.cert).raw).digest('hex'),
  };
}

export async function testCa(cn: string): Promise<Pem> {
  return pem(
    await generate([{ name: 'commonName', value: cn }], {
      keyType: 'ec',
      algorithm: 'sha256',
      notBeforeDate: new Date(Date.now() - DAY),
      notAfterDate: new Date(Date.now() + 30 * DAY),
      extensions: [
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
      ],
    } as never),
  );
}

type LeafOptions = { ca?: Pem; notBefore?: Date; notAfter?: Date };

/** An end-entity certificate with the given usage extensions, issued by `ca` or self-signed when `ca` is omitted. */
async function leafCert(cn: string, opts: LeafOptions, extensions: object[]): Promise<Pem> {
  return pem(
    await generate([{ name: 'commonName', value: cn }], {
      keyType: 'ec',
      algorithm: 'sha256',
      notBeforeDate: opts.notBefore ?? new Date(Date.now() - DAY),
      notAfterDate: opts.notAfter ?? new Date(Date.now() + 30 * DAY),
      ...(opts.ca ? { ca: { key: opts.ca.key, cert: opts.ca.cert } } : {}),
      extensions: [{ name: 'basicConstraints', cA: false }, ...extensions],
    } as never),
  );
}

/** A client certificate (extKeyUsage clientAuth), issued by `ca` or self-signed when `ca` is omitted. */
export function clientCert(cn: string, opts: LeafOptions = {}): Promise<Pem> {
  return leafCert(cn, opts, [
    { name: 'keyUsage', digitalSignature: true },
    { name: 'extKeyUsage', clientAuth: true },
  ]);
}

/** A server certificate for 127.0.0.1 and localhost (self-signed unless `ca` is given). */
export function serverCert(cn: string, opts: LeafOptions = {}): Promise<Pem> {
  return leafCert(cn, opts, [
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: 'localhost' },
        { type: 7, ip: '127.0.0.1' },
      ],
    },
  ]);
}

export const daysFromNow = (n: number) => new Date(Date.now() + n * DAY);
