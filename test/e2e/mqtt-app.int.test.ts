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
let gw: Pem;
let h: Harness;
let nurseId: string;
const clients: MqttClient[] = [];

beforeAll(async () => {
  ca = await testCa('devices CA');
  const server = await serverCert('sealpost mqtt', { ca });
  [device, other, gw] = await Promise.all([
    clientCert('mon-4w-12', { ca }),
    clientCert('mon-4w-13', { ca }),
    clientCert('gw-1', { ca }),
  ]);
  h = await startSealpost({
    SEALPOST_MQTT_LISTEN: '127.0.0.1:0',
    SEALPOST_MQTT_TLS_CERT: server.cert,
    SEALPOST_MQTT_TLS_KEY: server.key,
    SEALPOST_MQTT_TLS_CLIENT_CA: ca.cert,
  });
  // The charge nurse of 4-west, reachable by SMS, and a policy that waits 10 minutes before escalating.
  const nurse = await staffWithSession(h, ['nurse']);
  nurseId = nurse.userId;
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

  it('a paging gateway answers only for a person told of the alert; other answers change nothing and are audited', async () => {
    const reg = await h.request('POST', '/v1/medical-devices', {
      id: 'gw-1',
      kind: 'paging-gateway',
      certPem: gw.cert,
      location: '4-west/desk',
    });
    expect(reg.status).toBe(201);
    const alert = await h.request('POST', '/v1/alerts', {
      priority: 'high',
      target: `user:${nurseId}`,
      summary: 'Bed 9 needs a nurse',
    });
    expect(alert.status).toBe(201);
    const alertId = alert.body.alertId as string;
    const g = await connect(gw, 'default/gw-1');
    const acks = 'sealpost/default/devices/gw-1/acks';
    const answer = (a: string, userId: string, action: string) =>
      g.publishAsync(acks, JSON.stringify({ alertId: a, userId, action }), { qos: 1 });
    await answer(alertId, 'u-never-paged', 'acknowledge');
    await answer(alertId, 'u-never-paged', 'decline');
    await answer('01900000-0000-7000-8000-000000000000', nurseId, 'acknowledge');
    const before = (await h.app.store.read.alerts.get('default', alertId))!;
    expect([before.state, before.acknowledged_by, before.step]).toEqual(['notified', null, 0]);
    const refused = await h.request('GET', '/v1/audit/events?action=mqtt.refused&limit=50');
    expect(refused.status).toBe(200);
    expect(
      refused.body.items
        .filter((e: { details: { topic: string } }) => e.details.topic === 'acks')
        .map((e: { details: { code: string } }) => e.details.code)
        .sort(),
    ).toEqual(['alert_not_found', 'not_recipient']);
    // The person told: applied, via mqtt.
    await answer(alertId, nurseId, 'acknowledge');
    const after = (await h.app.store.read.alerts.get('default', alertId))!;
    expect([after.state, after.acknowledged_by]).toEqual(['acknowledged', nurseId]);
  });

  it('changes a device (location, patient, target) with validation and an audit entry; the certificate is not changeable', async () => {
    const add = await h.request('POST', '/v1/medical-devices', {
      id: 'mon-4w-13',
      certPem: other.cert,
      location: '4-west/13',
    });
    expect(add.status).toBe(201);
    const bad: [string, Record<string, unknown>, number, string][] = [
      ['mon-4w-13', { location: `4 west ${PHI_MARKER}` }, 400, 'SP_MEDDEVICE_INVALID'],
      ['mon-4w-13', { target: 'not a target' }, 400, 'SP_MEDDEVICE_INVALID'],
      ['mon-4w-13', { patientId: 'nobody' }, 400, 'SP_MEDDEVICE_INVALID'],
      ['mon-4w-13', { certPem: device.cert }, 400, 'SP_REQ_VALIDATION'],
      ['mon-4w-13', { kind: 'paging-gateway' }, 400, 'SP_REQ_VALIDATION'],
      ['mon-4w-12', { location: '5-east/3' }, 404, 'SP_MEDDEVICE_NOT_FOUND'],
      ['no-such', { location: '5-east/3' }, 404, 'SP_MEDDEVICE_NOT_FOUND'],
    ];
    for (const [id, body, status, code] of bad) {
      const r = await h.request('PATCH', `/v1/medical-devices/${id}`, body);
      expect([r.status, r.body.code], JSON.stringify(body)).toEqual([status, expect.stringContaining(code)]);
      expect(r.text).not.toContain(PHI_MARKER);
    }
    expect((await h.request('GET', '/v1/medical-devices/mon-4w-13')).body).toEqual(add.body);
    // A target is checked for its form here, and for what it names when an alarm comes (then the fallback).
    const retarget = await h.request('PATCH', '/v1/medical-devices/mon-4w-13', { target: 'group:icu-rrt' });
    expect(retarget.body).toMatchObject({ target: 'group:icu-rrt', location: '4-west/13' });
    const moved = await h.request('PATCH', '/v1/medical-devices/mon-4w-13', { location: '5-east/3', target: null });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ id: 'mon-4w-13', location: '5-east/3', target: null, certSha256: other.sha256 });
    const audit = await h.request('GET', '/v1/audit/events?action=medical_device.changed');
    expect(audit.body.items.map((e: { details: unknown }) => e.details)).toEqual(
      [
        // Newest first.
        { changed: ['location', 'target'] },
        { changed: ['target'] },
      ].reverse(),
    );
    // Its alarms now name the new place and go to that unit's charge nurse.
    const c = await connect(other, 'default/mon-4w-13');
    const alarm = { alarmId: 'm-1', priority: 'low', condition: 'Lead off', observedAt: new Date().toISOString() };
    await c.publishAsync('sealpost/default/devices/mon-4w-13/alarms', JSON.stringify(alarm), { qos: 1 });
    const [latest] = await openAlerts();
    expect(latest).toMatchObject({ target: 'charge_nurse@5-east', summary: 'Low alarm: Lead off (5-east bed 3)' });
  });

  it('lists devices in pages', async () => {
    const page1 = await h.request('GET', '/v1/medical-devices?limit=1');
    expect(page1.status).toBe(200);
    expect(page1.body.items.map((d: { id: string }) => d.id)).toEqual(['gw-1']);
    const page2 = await h.request('GET', `/v1/medical-devices?limit=1&cursor=${page1.body.nextCursor}`);
    expect(page2.body).toMatchObject({ items: [{ id: 'mon-4w-13' }], nextCursor: null });
    expect((await h.request('GET', '/v1/medical-devices?cursor=a%2Fb')).status).toBe(400);
  });
});
