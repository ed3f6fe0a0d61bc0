import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';

/**
 * The server's TLS material: the operator's PEM files when configured, otherwise a self-signed
 * certificate for localhost generated once into the data directory (key mode 0600).
 */
export async function loadOrCreateTls(dataDir: string, certFile?: string, keyFile?: string): Promise<{ key: Buffer; cert: Buffer; generated: boolean }> {
  if (certFile && keyFile) return { cert: readFileSync(certFile), key: readFileSync(keyFile), generated: false };
  const certPath = join(dataDir, 'tls-cert.pem');
  const keyPath = join(dataDir, 'tls-key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) return { cert: readFileSync(certPath), key: readFileSync(keyPath), generated: false };
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const pems = await selfSigned();
  writeFileSync(keyPath, pems.private, { mode: 0o600 });
  writeFileSync(certPath, pems.cert, { mode: 0o644 });
  return { cert: Buffer.from(pems.cert), key: Buffer.from(pems.private), generated: true };
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
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
    ],
  } as never) as never;
}
