import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession } from '../helpers/identity.js';
import { clientCert, serverCert, testCa, type Pem } from '../helpers/transport-pki.js';
import { PHI_MARKER } from '../../src/core/templates/template-test-fixtures.js';

/**
 * Device alarms through the whole application: devices registered over the API, the embedded
 * broker started by `App.start` (SEALPOST_MQTT_LISTEN), the real AlertService behind the intake.
 */

let ca: Pem;
let device: Pem;
let other: Pem;
let h: Harness;
const clients: MqttClient[] = [];

beforeAll(async () => {
  ca = await testCa('devices CA');
  const server = await serverCert('sealpost mqtt', { ca });
  [device, other] = await Promise.all([clientCert('mon-4w-12', { ca }), clientCert('mon-4w-13', { ca })]);
  h = await startSealpost({
    SEALPOST_MQTT_LISTEN: '127.0.0.1:0',
    SEALPOST_MQTT_TLS_CERT: server.cert,
    SEALPOST_MQTT_TLS_KEY: server.key,
    SEALPOST_MQTT_TLS_CLIENT_CA: ca.cert,
  });
  // The charge nurse of 4-west, reachable by SMS, and a policy that waits 10 minutes before escalating.
  const nurse = await staffWithSession(h, ['nurse']);
  const contacts = await h.request('PUT', `/v1/users/${nurse.userId}/alert-contacts`, {
    contacts: [{ kind: 'sms', value: '+14155550172' }],
    settings: { language: 'en', timeZone: 'UTC', quietHours: null, doNotDisturbUntil: null },
  });
  expect(contacts.status).toBe(200);
  expect((await h.request('PUT', '/v1/units/4-west/roles/charge_nurse', { userIds: [nurse.userId] })).status).toBe(201);
  const policy = await h.request('POST', '/v1/escalation-policies', {
    name: 'charge nurse',
    isDefault: true,
    steps: [{ targets: ['target'], channels: ['sms'], waitSeconds: 600 }],
  });
  expect(policy.status).toBe(201);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await h?.close();
});

async function connect(pem: Pem, clientId: string) {
  const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${await h.app.mqttPort()}`, {
    key: pem.key,
    cert: pem.cert,
    ca: ca.cert,
    clientId,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  clients.push(c);
  return c;
}

const openAlerts = () => h.app.store.read.alerts.list('default', {}, 100);

describe('device alarms through the application (embedded broker, real alert service)', () => {
  it('registers devices over the API and refuses bad registrations with clear errors, writing nothing', async () => {
    const ok = await h.request('POST', '/v1/medical-devices', {
      id: 'mon-4w-12',
      certPem: device.cert,
      location: '4-west/12',
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ id: 'mon-4w-12', kind: 'monitor', certSha256: device.sha256, status: 'unknown' });
    const bad: [Record<string, unknown>, number, string][] = [
      [{ id: 'mon-4w-12', certPem: other.cert, location: '4-west/13' }, 409, 'SP_MEDDEVICE_EXISTS'],
      [{ id: 'mon-4w-13', certPem: device.cert, location: '4-west/13' }, 409, 'SP_MEDDEVICE_CERT_TAKEN'],
      [{ id: 'mon-4w-13', certPem: `not a pem ${PHI_MARKER}`, location: '4-west/13' }, 400, 'SP_MEDDEVICE_INVALID'],
      [{ id: 'mon-4w-13', certPem: other.cert, location: '4 west bed 13' }, 400, 'SP_MEDDEVICE_INVALID'],
      [{ id: 'mon/4w', certPem: other.cert, location: '4-west/13' }, 400, 'SP_MEDDEVICE_INVALID'],
      [
        { id: 'mon-4w-13', certPem: other.cert, location: '4-west/13', patientId: 'nobody' },
        400,
        'SP_MEDDEVICE_INVALID',
      ],
      [
        { id: 'mon-4w-13', certPem: other.cert, location: '4-west/13', target: 'not a target' },
        400,
        'SP_MEDDEVICE_INVALID',
      ],
    ];
    for (const [body, status, code] of bad) {
      const r = await h.request('POST', '/v1/medical-devices', body);
      expect([r.status, r.body.code], JSON.stringify(body).slice(0, 80)).toEqual([status, code]);
      expect(r.text).not.toContain(PHI_MARKER);
    }
    const list = await h.request('GET', '/v1/medical-devices');
    expect(list.body.items.map((d: { id: string }) => d.id)).toEqual(['mon-4w-12']);
    expect((await h.request('GET', '/v1/medical-devices/mon-4w-13')).body.code).toBe('SP_MEDDEVICE_NOT_FOUND');
  });

  it('an alarm is an alert before its PUBACK; repeats fold; cleared resolves it', async () => {
    const c = await connect(device, 'default/mon-4w-12');
    const topic = 'sealpost/default/devices/mon-4w-12/alarms';
    const alarm = {
      alarmId: 'a-1',
      priority: 'high',
      condition: 'SpO2 low',
      observedAt: new Date().toISOString(),
      value: `84 ${PHI_MARKER}`,
    };
    await c.publishAsync(topic, JSON.stringify(alarm), { qos: 1 });
    // The PUBACK has arrived: the alert is already stored.
    const [alert] = await openAlerts();
    expect(alert).toMatchObject({
      priority: 'high',
      target: 'charge_nurse@4-west',
      summary: 'High alarm: SpO2 low (4-west bed 12)',
      source: 'device:mon-4w-12',
      count: 1,
    });
    // Its first step fired in the same transaction: the charge nurse's SMS nudge is planned.
    expect(alert!.state).toBe('notified');
    await c.publishAsync(topic, JSON.stringify(alarm), { qos: 1 });
    expect(await openAlerts()).toHaveLength(1);
    expect((await openAlerts())[0]!.count).toBe(1);
    await c.publishAsync(`${topic}/a-1/cleared`, '', { qos: 1 });
    expect((await h.app.store.read.alerts.get('default', alert!.id))!.state).toBe('resolved');
    // The same alarm id again (a late QoS 1 duplicate) raises nothing new.
    await c.publishAsync(topic, JSON.stringify(alarm), { qos: 1 });
    expect(await openAlerts()).toHaveLength(1);
    // The value (PHI) is sealed in the details: neither the log nor the audit entries carry it.
    expect(readFileSync(h.logFile, 'utf8')).not.toContain(PHI_MARKER);
    const audit = await h.request('GET', '/v1/audit/events?limit=200');
    expect(audit.status).toBe(200);
    expect(audit.text).toContain('device:mon-4w-12');
    expect(audit.text).not.toContain(PHI_MARKER);
  });

  it('a removed device is refused at CONNECT, and its removal is audited', async () => {
    expect((await h.request('DELETE', '/v1/medical-devices/mon-4w-12')).status).toBe(200);
    await expect(connect(device, 'default/mon-4w-12')).rejects.toThrow(/Not authorized/i);
    const r = await h.request('GET', '/v1/audit/events?action=medical_device.removed');
    expect(r.status).toBe(200);
    expect(r.body.items.length).toBe(1);
  });
});
