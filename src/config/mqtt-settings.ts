import { pairProblem, parsesAsCertificate } from './tls-pem.js';
import { isLoopbackHost } from './loopback.js';
import { parseListenAddress } from './hl7-settings.js';

/**
 * Device alarms over MQTT (docs/alerting-devices.md): either the embedded broker (`listen`), or a
 * subscription to an external broker (`url`), or neither (the default: no MQTT at all).
 */
export interface MqttSettings {
  /** SEALPOST_MQTT_LISTEN: the embedded broker's `host:port`, always TLS with client certificates. */
  listen?: { host: string; port: number };
  /** PEM texts of the embedded broker: its certificate and key, and the CA that issued the devices' certificates. */
  tls?: { cert: string; key: string; clientCa: string };
  maxConnections: number;
  /** SEALPOST_MQTT_URL: an external broker (`mqtts://`, or `mqtt://` on a loopback host only). */
  url?: string;
  /** Sealpost's own client certificate at the external broker, and the CA to trust it by (system CAs otherwise). */
  client?: { cert?: string; key?: string; ca?: string };
  /** The MQTT 5 shared-subscription group every Sealpost node joins (`$share/<group>/…`). */
  shareGroup: string;
}

type Reader = {
  str: (name: string, def?: string) => string | undefined;
  secret: (name: string) => string | undefined;
  int: (name: string, def: number, min: number, max: number) => number;
};

/**
 * Reads SEALPOST_MQTT_*; every variable is read whether MQTT is on or not. Checks, reported together:
 * the embedded broker needs a certificate, its key and a client CA wherever it listens (a device is
 * known only by its client certificate); an external broker is `mqtts://` with a client certificate
 * and key, or `mqtt://` on a loopback host (a test broker on this machine); not both modes at once.
 */
export function mqttSettings({ str, secret, int }: Reader, errors: string[], now = new Date()): MqttSettings {
  const rawListen = str('MQTT_LISTEN');
  const cert = secret('MQTT_TLS_CERT');
  const key = secret('MQTT_TLS_KEY');
  const clientCa = secret('MQTT_TLS_CLIENT_CA');
  const rawUrl = str('MQTT_URL');
  const clientCert = secret('MQTT_CLIENT_CERT');
  const clientKey = secret('MQTT_CLIENT_KEY');
  const clientTrust = secret('MQTT_CLIENT_CA');
  const settings: MqttSettings = {
    maxConnections: int('MQTT_MAX_CONNECTIONS', 10_000, 1, 1_000_000),
    shareGroup: str('MQTT_SHARE_GROUP', 'sealpost')!,
  };
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(settings.shareGroup))
    errors.push('SEALPOST_MQTT_SHARE_GROUP: 1-64 letters, digits, "_" or "-"');
  if (rawListen !== undefined) {
    const listen = parseListenAddress(rawListen);
    if (!listen) errors.push('SEALPOST_MQTT_LISTEN: expected host:port, e.g. 127.0.0.1:8883 or [::1]:8883');
    else if (cert === undefined || key === undefined || clientCa === undefined)
      errors.push(
        'SEALPOST_MQTT_LISTEN: the embedded broker needs SEALPOST_MQTT_TLS_CERT, SEALPOST_MQTT_TLS_KEY and SEALPOST_MQTT_TLS_CLIENT_CA (devices are known by their client certificates; there is no plaintext MQTT)',
      );
    else {
      const problem = pairProblem(cert, key, now);
      if (problem) errors.push(`SEALPOST_MQTT_TLS_CERT/SEALPOST_MQTT_TLS_KEY: ${problem}`);
      else if (!parsesAsCertificate(clientCa))
        errors.push('SEALPOST_MQTT_TLS_CLIENT_CA: expected PEM CA certificates (-----BEGIN CERTIFICATE-----)');
      else {
        settings.listen = listen;
        settings.tls = { cert, key, clientCa };
      }
    }
  } else if (cert !== undefined || key !== undefined || clientCa !== undefined) {
    errors.push('SEALPOST_MQTT_TLS_*: set only with SEALPOST_MQTT_LISTEN');
  }
  if (rawUrl !== undefined) {
    let url: URL | null = null;
    try {
      url = new URL(rawUrl);
    } catch {
      url = null;
    }
    if (!url || !['mqtt:', 'mqtts:'].includes(url.protocol) || !url.hostname || url.username || url.password)
      errors.push('SEALPOST_MQTT_URL: expected mqtts://host:port (or mqtt:// on a loopback host), without credentials');
    else if (url.protocol === 'mqtt:' && !isLoopbackHost(url.hostname))
      errors.push(
        'SEALPOST_MQTT_URL: mqtt:// (plaintext) only to a loopback host; use mqtts:// with a client certificate',
      );
    else if (url.protocol === 'mqtts:' && (clientCert === undefined || clientKey === undefined))
      errors.push('SEALPOST_MQTT_URL: mqtts:// needs SEALPOST_MQTT_CLIENT_CERT and SEALPOST_MQTT_CLIENT_KEY');
    else if (clientCert !== undefined && clientKey !== undefined && pairProblem(clientCert, clientKey, now))
      errors.push(`SEALPOST_MQTT_CLIENT_CERT/SEALPOST_MQTT_CLIENT_KEY: ${pairProblem(clientCert, clientKey, now)}`);
    else if (clientTrust !== undefined && !parsesAsCertificate(clientTrust))
      errors.push('SEALPOST_MQTT_CLIENT_CA: expected PEM CA certificates (-----BEGIN CERTIFICATE-----)');
    else {
      settings.url = rawUrl;
      settings.client = { cert: clientCert, key: clientKey, ca: clientTrust };
    }
    if (rawListen !== undefined)
      errors.push('SEALPOST_MQTT_URL and SEALPOST_MQTT_LISTEN: choose one (an external broker or the embedded one)');
  }
  return settings;
}
