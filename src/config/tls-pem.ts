import { X509Certificate, createPrivateKey } from 'node:crypto';

/** PEM checks of TLS settings (the MLLP listener, the MQTT broker and client), done once at start. */

/** Whether `pem` holds a PEM certificate that parses. */
export function parsesAsCertificate(pem: string): boolean {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) return false;
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
}

/** What is wrong with a certificate/key pair, or null; never key material. */
export function pairProblem(cert: string, key: string, now: Date): string | null {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    return 'the certificate is not a PEM certificate';
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    return 'the key is not an unencrypted PEM private key';
  }
  if (!x509.checkPrivateKey(privateKey)) return 'the key does not match the certificate';
  if (new Date(x509.validTo).getTime() < now.getTime()) return 'the certificate has expired';
  if (new Date(x509.validFrom).getTime() > now.getTime()) return 'the certificate is not yet valid';
  return null;
}
