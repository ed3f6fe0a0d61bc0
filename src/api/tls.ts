import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { generate } from 'selfsigned';
import { AppError } from '../core/errors.js';

/** The server's certificate and key (PEM) and where they came from, so SIGHUP can read them again. */
export interface TlsMaterial {
  key: Buffer;
  cert: Buffer;
  /** True when this start generated the self-signed default. */
  generated: boolean;
  certFile: string;
  keyFile: string;
}

/** What a loaded pair is, for log lines (never the key). */
export interface TlsPairInfo {
  fingerprint256: string;
  subject: string;
  validFrom: string;
  validTo: string;
}

/**
 * TLS 1.2 is the floor (NIST SP 800-52r2, HIPAA transmission security); 1.3 is preferred because
 * OpenSSL negotiates the highest version both sides offer. For 1.2 only forward-secret ECDHE key
 * exchange with AEAD ciphers: no CBC (Lucky13/POODLE family), no RSA key transport, no SHA-1 MACs.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];
const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/** Options of every secure context the listener uses: the first one and each one SIGHUP installs. */
export function secureContextOptions(pair: { key: string | Buffer; cert: string | Buffer }): SecureContextOptions {
  return {
    key: pair.key,
    cert: pair.cert,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: [...TLS13_SUITES, ...TLS12_CIPHERS].join(':'),
    honorCipherOrder: true,
  };
}

/**
 * Options for the HTTPS listener. Client certificates are requested but not required: API keys
 * bound to a certificate are checked in the auth hook (client-cert.ts), unbound keys and the patient
 * portal need none. The handshake still proves the client holds the certificate's private key.
 */
export function httpsServerOptions(pair: { key: string | Buffer; cert: string | Buffer }) {
  return { ...secureContextOptions(pair), requestCert: true, rejectUnauthorized: false };
}

/**
 * Reads and checks a certificate/key pair: both readable, the key matches the certificate, the
 * certificate is valid now, and OpenSSL accepts the pair with our context options.
 * Throws SP_TLS_CERT_INVALID naming what is wrong (never key material).
 */
export function readTlsPair(
  certFile: string,
  keyFile: string,
  now: Date,
): { key: Buffer; cert: Buffer; info: TlsPairInfo } {
  const bad = (what: string) => new AppError('SP_TLS_CERT_INVALID', what);
  let cert: Buffer, key: Buffer;
  try {
    cert = readFileSync(certFile);
  } catch {
    throw bad('the certificate file cannot be read');
  }
  try {
    key = readFileSync(keyFile);
  } catch {
    throw bad('the key file cannot be read');
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw bad('the certificate file holds no PEM certificate');
  }
  let matches = false;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(key));
  } catch {
    throw bad('the key file holds no unencrypted PEM private key');
  }
  if (!matches) throw bad('the key does not match the certificate');
  if (new Date(x509.validFrom).getTime() > now.getTime()) throw bad('the certificate is not yet valid');
  if (new Date(x509.validTo).getTime() <= now.getTime()) throw bad('the certificate has expired');
  try {
    createSecureContext(secureContextOptions({ key, cert }));
  } catch {
    throw bad('OpenSSL refused the pair (key too weak or unsupported?)');
  }
  return {
    key,
    cert,
    info: {
      fingerprint256: x509.fingerprint256,
      subject: x509.subject.replace(/\n/g, ', '),
      validFrom: x509.validFrom,
      validTo: x509.validTo,
    },
  };
}

/**
 * The server's TLS material: the operator's PEM files when configured, otherwise a self-signed
 * certificate for localhost generated once into the data directory (key mode 0600), and again when
 * that default has expired. A configured pair that is unusable stops the start (SP_TLS_CERT_INVALID).
 */
export async function loadOrCreateTls(
  dataDir: string,
  certFile?: string,
  keyFile?: string,
  now = new Date(),
): Promise<TlsMaterial> {
  if (certFile || keyFile) {
    if (!certFile || !keyFile)
      throw new AppError('SP_TLS_CERT_INVALID', 'set both SEALPOST_TLS_CERT_FILE and SEALPOST_TLS_KEY_FILE');
    const { key, cert } = readTlsPair(certFile, keyFile, now);
    return { key, cert, generated: false, certFile, keyFile };
  }
  const certPath = join(dataDir, 'tls-cert.pem');
  const keyPath = join(dataDir, 'tls-key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) {
    const x509 = new X509Certificate(readFileSync(certPath));
    if (new Date(x509.validTo).getTime() > now.getTime()) {
      const { key, cert } = readTlsPair(certPath, keyPath, now);
      return { key, cert, generated: false, certFile: certPath, keyFile: keyPath };
    }
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const pems = await selfSigned();
  writeFileSync(keyPath, pems.private, { mode: 0o600 });
  writeFileSync(certPath, pems.cert, { mode: 0o644 });
  return {
    cert: Buffer.from(pems.cert),
    key: Buffer.from(pems.private),
    generated: true,
    certFile: certPath,
    keyFile: keyPath,
  };
}

/**
 * SIGHUP: reads the pair again and installs it for new connections (open connections keep theirs;
 * the listener is never closed). A bad pair is refused and logged, and the old one stays in use.
 */
export function reloadTls(
  server: TlsServer,
  material: Pick<TlsMaterial, 'certFile' | 'keyFile'>,
  logger: Logger,
  now = new Date(),
): boolean {
  try {
    const pair = readTlsPair(material.certFile, material.keyFile, now);
    server.setSecureContext(secureContextOptions(pair));
    logger.info(
      { fingerprint256: pair.info.fingerprint256, subject: pair.info.subject, validTo: pair.info.validTo },
      'tls certificate reloaded',
    );
    return true;
  } catch (e) {
    const code = e instanceof AppError ? e.code : 'SP_TLS_CERT_INVALID';
    const reason = e instanceof AppError ? e.detail : 'the secure context could not be built';
    logger.error({ code, reason }, 'tls certificate reload refused; the previous certificate stays in use');
    return false;
  }
}

export async function selfSigned(): Promise<{ cert: string; private: string }> {
  const notAfter = new Date(Date.now() + 365 * 86_400_000);
  return generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  } as never) as never;
}
