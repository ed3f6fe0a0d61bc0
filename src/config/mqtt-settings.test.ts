import { beforeAll, describe, expect, it } from 'vitest';
import { clientCert, daysFromNow, serverCert, testCa, type Pem } from '../../test/helpers/transport-pki.js';
import { loadConfig } from './load-config.js';

const base = { SEALPOST_DATA_DIR: '/tmp/x' };
const problems = (env: Record<string, string>): string => {
  try {
    loadConfig({ ...base, ...env });
  } catch (e) {
    return (e as { detail?: string }).detail ?? (e as Error).message;
  }
  return '';
};

describe('SEALPOST_MQTT_*', () => {
  let cert: Pem, other: Pem, expired: Pem, ca: Pem, client: Pem;
  beforeAll(async () => {
    [cert, other, expired, ca, client] = await Promise.all([
      serverCert('mqtt'),
      serverCert('other'),
      serverCert('old', { notBefore: daysFromNow(-10), notAfter: daysFromNow(-1) }),
      testCa('devices'),
      clientCert('sealpost'),
    ]);
  });
  const tls = () => ({
    SEALPOST_MQTT_TLS_CERT: cert.cert,
    SEALPOST_MQTT_TLS_KEY: cert.key,
    SEALPOST_MQTT_TLS_CLIENT_CA: ca.cert,
  });

  it('is off by default', () => {
    expect(loadConfig(base).mqtt).toEqual({ maxConnections: 10_000, shareGroup: 'sealpost' });
  });

  it('runs the embedded broker only with a certificate, its key and a client CA, even on loopback', () => {
    const ok = loadConfig({ ...base, SEALPOST_MQTT_LISTEN: '127.0.0.1:8883', ...tls() }).mqtt;
    expect(ok.listen).toEqual({ host: '127.0.0.1', port: 8883 });
    expect(ok.tls).toEqual({ cert: cert.cert, key: cert.key, clientCa: ca.cert });
    expect(problems({ SEALPOST_MQTT_LISTEN: '127.0.0.1:8883' })).toMatch(/needs SEALPOST_MQTT_TLS_CERT/);
    expect(
      problems({ SEALPOST_MQTT_LISTEN: '127.0.0.1:8883', ...tls(), SEALPOST_MQTT_TLS_CLIENT_CA: 'not a pem' }),
    ).toMatch(/SEALPOST_MQTT_TLS_CLIENT_CA: expected PEM/);
    expect(problems({ SEALPOST_MQTT_LISTEN: '127.0.0.1:8883', ...tls(), SEALPOST_MQTT_TLS_KEY: other.key })).toMatch(
      /the key does not match/,
    );
    expect(
      problems({
        SEALPOST_MQTT_LISTEN: '127.0.0.1:8883',
        ...tls(),
        SEALPOST_MQTT_TLS_CERT: expired.cert,
        SEALPOST_MQTT_TLS_KEY: expired.key,
      }),
    ).toMatch(/expired/);
    expect(problems({ SEALPOST_MQTT_LISTEN: 'nowhere', ...tls() })).toMatch(/SEALPOST_MQTT_LISTEN: expected host:port/);
    expect(problems(tls())).toMatch(/set only with SEALPOST_MQTT_LISTEN/);
  });

  it('subscribes to an external broker over mqtts with a client certificate, or mqtt on loopback only', () => {
    expect(loadConfig({ ...base, SEALPOST_MQTT_URL: 'mqtt://127.0.0.1:1883' }).mqtt.url).toBe('mqtt://127.0.0.1:1883');
    expect(
      loadConfig({
        ...base,
        SEALPOST_MQTT_URL: 'mqtts://broker.example.org:8883',
        SEALPOST_MQTT_CLIENT_CERT: client.cert,
        SEALPOST_MQTT_CLIENT_KEY: client.key,
      }).mqtt.client,
    ).toEqual({ cert: client.cert, key: client.key, ca: undefined });
    expect(problems({ SEALPOST_MQTT_URL: 'mqtt://broker.example.org:1883' })).toMatch(/only to a loopback host/);
    expect(problems({ SEALPOST_MQTT_URL: 'mqtts://broker.example.org:8883' })).toMatch(
      /needs SEALPOST_MQTT_CLIENT_CERT/,
    );
    expect(problems({ SEALPOST_MQTT_URL: 'https://broker.example.org' })).toMatch(/expected mqtts:\/\//);
    expect(problems({ SEALPOST_MQTT_URL: 'mqtt://user:pw@127.0.0.1:1883' })).toMatch(/without credentials/);
    expect(problems({ SEALPOST_MQTT_URL: 'mqtt://127.0.0.1:1883', SEALPOST_MQTT_SHARE_GROUP: 'a/b' })).toMatch(
      /SEALPOST_MQTT_SHARE_GROUP/,
    );
    expect(
      problems({ SEALPOST_MQTT_URL: 'mqtt://127.0.0.1:1883', SEALPOST_MQTT_LISTEN: '127.0.0.1:8883', ...tls() }),
    ).toMatch(/choose one/);
  });
});
