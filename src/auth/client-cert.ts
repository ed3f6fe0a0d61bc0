import { createHash, X509Certificate } from 'node:crypto';
import type { TLSSocket, DetailedPeerCertificate } from 'node:tls';
import { AppError } from '../core/errors.js';

/**
 * How an API key is bound to a client certificate (mTLS):
 * - `fingerprint`: exactly one certificate, by SHA-256 of its DER encoding (lower-case hex);
 * - `ca`: any currently valid certificate issued directly by this CA (bind the issuing
 *   intermediate, not a root, when the client PKI has several levels).
 */
export type ClientCertBinding =
  { kind: 'fingerprint'; fingerprintSha256: string } | { kind: 'ca'; caPem: string; caFingerprintSha256: string };

/** The request body shape: `{ fingerprintSha256 }` or `{ issuerCaPem }`. */
export type ClientCertInput = { fingerprintSha256: string } | { issuerCaPem: string };

export type ClientCertVerdict = 'ok' | 'missing' | 'mismatch';

const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';
const ANY_EKU = '2.5.29.37.0';

/** SHA-256 over the DER encoding, lower-case hex without separators (what `openssl x509 -fingerprint -sha256` shows, normalised). */
export function fingerprintSha256(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

const thumbprints = new WeakMap<object, string | null>();

/**
 * The client certificate's thumbprint for audit entries (`details.certThumbprint`): SHA-256 of the
 * DER, base64url. Once per TLS connection (the certificate cannot change within one); null when the
 * connection presented none.
 */
export function certThumbprint(socket: object): string | null {
  let t = thumbprints.get(socket);
  if (t === undefined) {
    const raw = (socket as Partial<TLSSocket>).getPeerCertificate?.(false) as { raw?: Buffer } | undefined;
    t = raw?.raw?.length ? createHash('sha256').update(raw.raw).digest('base64url') : null;
    thumbprints.set(socket, t);
  }
  return t;
}

/** Validates and normalises a binding given by an administrator; throws SP_APIKEY_INVALID_CLIENT_CERT. */
export function parseClientCertBinding(input: ClientCertInput, now: Date): ClientCertBinding {
  if ('fingerprintSha256' in input) {
    // Accept the colon-separated upper-case form tools print, store one canonical form.
    const hex = input.fingerprintSha256.replace(/:/g, '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex))
      throw new AppError('SP_APIKEY_INVALID_CLIENT_CERT', 'clientCert.fingerprintSha256 must be 32 bytes of hex');
    return { kind: 'fingerprint', fingerprintSha256: hex };
  }
  const pem = input.issuerCaPem;
  if ((pem.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length !== 1) {
    throw new AppError('SP_APIKEY_INVALID_CLIENT_CERT', 'clientCert.issuerCaPem must hold exactly one PEM certificate');
  }
  let ca: X509Certificate;
  try {
    ca = new X509Certificate(pem);
  } catch {
    throw new AppError('SP_APIKEY_INVALID_CLIENT_CERT', 'clientCert.issuerCaPem is not a parsable certificate');
  }
  if (!ca.ca)
    throw new AppError(
      'SP_APIKEY_INVALID_CLIENT_CERT',
      'clientCert.issuerCaPem is not a CA certificate (basicConstraints CA:TRUE)',
    );
  if (!validAt(ca, now)) throw new AppError('SP_APIKEY_INVALID_CLIENT_CERT', 'clientCert.issuerCaPem is not valid now');
  return { kind: 'ca', caPem: ca.toString(), caFingerprintSha256: fingerprintSha256(ca.raw) };
}

/** The binding stored on an api_keys row (null columns: unbound). */
export function bindingFromColumns(
  fingerprint: string | null | undefined,
  caPem: string | null | undefined,
): ClientCertBinding | null {
  if (fingerprint) return { kind: 'fingerprint', fingerprintSha256: fingerprint };
  if (caPem) return { kind: 'ca', caPem, caFingerprintSha256: fingerprintSha256(new X509Certificate(caPem).raw) };
  return null;
}

/** The leaf certificate the client presented on this connection, or null (none, or plain HTTP). */
export function peerCertificate(socket: unknown): X509Certificate | null {
  const s = socket as Partial<TLSSocket>;
  if (typeof s.getPeerCertificate !== 'function') return null;
  const peer = s.getPeerCertificate(true) as DetailedPeerCertificate | Record<string, never>;
  const raw = (peer as DetailedPeerCertificate).raw;
  if (!raw || raw.length === 0) return null;
  try {
    return new X509Certificate(raw);
  } catch {
    return null;
  }
}

/**
 * Checks the presented certificate against a binding. The listener does not verify client chains
 * (rejectUnauthorized is off so unbound keys need no certificate), so the CA case is verified here:
 * issuer name matches, the CA's key verifies the signature, both are within their validity, and the
 * leaf's extended key usage (when present) allows client authentication. Possession of the private
 * key was already proven by the TLS handshake (CertificateVerify).
 */
export function checkClientCert(
  binding: ClientCertBinding,
  leaf: X509Certificate | null,
  now: Date,
): ClientCertVerdict {
  if (!leaf) return 'missing';
  if (binding.kind === 'fingerprint')
    return fingerprintSha256(leaf.raw) === binding.fingerprintSha256 ? 'ok' : 'mismatch';
  const ca = new X509Certificate(binding.caPem);
  if (!leaf.checkIssued(ca)) return 'mismatch';
  if (!leaf.verify(ca.publicKey)) return 'mismatch';
  if (!validAt(leaf, now) || !validAt(ca, now)) return 'mismatch';
  // A CA certificate is not a client identity, even when signed by the bound CA.
  if (leaf.ca) return 'mismatch';
  const eku = leaf.keyUsage;
  if (eku && eku.length && !eku.includes(CLIENT_AUTH_EKU) && !eku.includes(ANY_EKU)) return 'mismatch';
  return 'ok';
}

function validAt(c: X509Certificate, now: Date): boolean {
  return new Date(c.validFrom).getTime() <= now.getTime() && now.getTime() < new Date(c.validTo).getTime();
}
