import { pairProblem, parsesAsCertificate } from './tls-pem.js';
import { isIP } from 'node:net';
import { isLoopbackHost } from './loopback.js';
import { parseHl7ConsentTypes, type Hl7ConsentTypes } from './hl7-consent-types.js';

/** The HL7 v2 MLLP listener (docs/integrations.md, "The listener"); off unless `listen` is set. */
export interface Hl7Settings {
  /** SEALPOST_HL7_LISTEN `host:port` (`[::1]:2575` for IPv6); unset: no listener. */
  listen?: { host: string; port: number };
  /** PEM texts. With `clientCa`, every connection must present a client certificate it issued. */
  tls?: { cert: string; key: string; clientCa?: string };
  maxMessageBytes: number;
  maxConnections: number;
  /** Open connections one remote address may hold (SEALPOST_HL7_MAX_CONNECTIONS_PER_ADDRESS). */
  maxConnectionsPerAddress: number;
  idleTimeoutMs: number;
  /** SEALPOST_HL7_CONSENT_TYPES: CON-2 codes → ledger scope (hl7-consent-types.ts); absent: none mapped. */
  consentTypes?: Hl7ConsentTypes;
}

type Reader = {
  str: (name: string, def?: string) => string | undefined;
  secret: (name: string) => string | undefined;
  int: (name: string, def: number, min: number, max: number) => number;
};

const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Parses `host:port` or `[v6]:port`; null when malformed. Port 0 (any free port) is for tests. */
export function parseListenAddress(raw: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(raw.trim());
  if (!m) return null;
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port > 65535) return null;
  if (m[1] !== undefined ? isIP(host) !== 6 : isIP(host) !== 4 && !HOST_NAME.test(host)) return null;
  return { host, port };
}

/**
 * Reads SEALPOST_HL7_*. Every variable is read whether the listener is on or not (so a misspelling is
 * reported, and the configuration test sees them all). Checks, all reported together:
 * - the listen address is `host:port`;
 * - certificate and key come together, parse, match, and the certificate is valid now; a client CA needs them;
 * - plaintext MLLP (no certificate) only on a loopback address: HL7 messages are PHI and travel only over
 *   TLS (DESIGN.md, promise 1), the same rule as plaintext SMTP or Twilio over http;
 * - a non-loopback address also needs a client CA: MSH-3/MSH-4 are the sender's own claim, so every
 *   remote peer must present a certificate the operator's CA issued (a sender registered without a
 *   certificate is accepted only from a loopback peer: Hl7Service.admit).
 */
export function hl7Settings({ str, secret, int }: Reader, errors: string[], now = new Date()): Hl7Settings {
  const rawListen = str('HL7_LISTEN');
  const cert = secret('HL7_TLS_CERT');
  const key = secret('HL7_TLS_KEY');
  const clientCa = secret('HL7_TLS_CLIENT_CA');
  const settings: Hl7Settings = {
    maxMessageBytes: int('HL7_MAX_MESSAGE_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
    maxConnections: int('HL7_MAX_CONNECTIONS', 100, 1, 10_000),
    maxConnectionsPerAddress: int('HL7_MAX_CONNECTIONS_PER_ADDRESS', 10, 1, 10_000),
    idleTimeoutMs: int('HL7_IDLE_TIMEOUT_MS', 600_000, 1_000, 86_400_000),
  };
  const consentTypes = parseHl7ConsentTypes(str('HL7_CONSENT_TYPES'), errors);
  if (Object.keys(consentTypes).length) settings.consentTypes = consentTypes;
  if (rawListen !== undefined) {
    const listen = parseListenAddress(rawListen);
    if (listen) settings.listen = listen;
    else errors.push('SEALPOST_HL7_LISTEN: expected host:port, e.g. 127.0.0.1:2575 or [::1]:2575');
  }
  if ((cert === undefined) !== (key === undefined)) {
    errors.push('SEALPOST_HL7_TLS_CERT and SEALPOST_HL7_TLS_KEY (or their _FILE forms): set both or neither');
  } else if (cert !== undefined && key !== undefined) {
    const problem = pairProblem(cert, key, now);
    if (problem) errors.push(`SEALPOST_HL7_TLS_CERT/SEALPOST_HL7_TLS_KEY: ${problem}`);
    else settings.tls = { cert, key };
  }
  if (clientCa !== undefined) {
    if (cert === undefined)
      errors.push('SEALPOST_HL7_TLS_CLIENT_CA: needs SEALPOST_HL7_TLS_CERT and SEALPOST_HL7_TLS_KEY');
    else if (!parsesAsCertificate(clientCa))
      errors.push('SEALPOST_HL7_TLS_CLIENT_CA: expected PEM CA certificates (-----BEGIN CERTIFICATE-----)');
    else if (settings.tls) settings.tls.clientCa = clientCa;
  }
  if (settings.listen && !isLoopbackHost(settings.listen.host) && (cert === undefined || clientCa === undefined)) {
    errors.push(
      'SEALPOST_HL7_LISTEN: a listener on a non-loopback address needs SEALPOST_HL7_TLS_CERT, SEALPOST_HL7_TLS_KEY and SEALPOST_HL7_TLS_CLIENT_CA (every remote sender presents a certificate your CA issued); plaintext MLLP is allowed only on a loopback address',
    );
  }
  return settings;
}
