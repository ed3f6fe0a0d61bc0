import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession } from '../helpers/identity.js';
import { clientCert, serverCert, testCa, type Pem } from '../helpers/transport-pki.js';
import { PHI_MARKER } from '../../src/core/templates/template-test-fixtures.js';

/**
 * The alerting walkthrough (docs/alerting.md), step by step, on the embedded defaults (SQLite, dev outbox):
 * a monitor's alarm over the embedded MQTT broker reaches the nurse on call for the unit by SMS, and
 * her reply "1" acknowledges it.
 */

const PHONE = '+14155550188';
let ca: Pem;
let monitor: Pem;
let h: Harness;

beforeAll(async () => {
  ca = await testCa('walkthrough devices CA');
  const broker = await serverCert('localhost', { ca });
  monitor = await clientCert('mon-4w-12', { ca });
  h = await startSealpost({
    SEALPOST_MQTT_LISTEN: '127.0.0.1:0',
    SEALPOST_MQTT_TLS_CERT: broker.cert,
    SEALPOST_MQTT_TLS_KEY: broker.key,
    SEALPOST_MQTT_TLS_CLIENT_CA: ca.cert,
  });
});
afterAll(async () => {
  await h?.close();
});

describe('README walkthrough: a device alarm reaches the on-call nurse by SMS and a reply acknowledges it', () => {
  it('alarm → on-call charge nurse → SMS in the dev outbox → reply 1 → acknowledged, on the record', async () => {
    // 1. A nurse with a phone for alerts.
    const nurse = await staffWithSession(h, ['nurse']);
    const contacts = await h.request('PUT', `/v1/users/${nurse.userId}/alert-contacts`, {
      contacts: [{ kind: 'sms', value: PHONE }],
    });
    expect(contacts.status).toBe(200);
    // 2. She is on call on the 4-west nights schedule, and the charge nurse of 4-west follows it.
    const schedule = await h.request('POST', '/v1/schedules', {
      name: '4-west charge nurse',
      timeZone: 'America/New_York',
      layers: [{ userIds: [nurse.userId], kind: 'daily', handoffTime: '07:00', startDate: '2026-01-01' }],
    });
    expect(schedule.status).toBe(201);
    const role = await h.request('PUT', '/v1/units/4-west/roles/charge_nurse', { scheduleId: schedule.body.id });
    expect(role.status).toBe(201);
    // 3. The monitor of bed 12 is registered with its certificate.
    const device = await h.request('POST', '/v1/medical-devices', {
      id: 'mon-4w-12',
      certPem: monitor.cert,
      location: '4-west/12',
    });
    expect(device.status).toBe(201);

    // 4. The monitor raises a high-priority alarm; its PUBACK means the alert is durable.
    const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${await h.app.mqttPort()}`, {
      key: monitor.key,
      cert: monitor.cert,
      ca: ca.cert,
      clientId: 'default/mon-4w-12',
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    try {
      await c.publishAsync(
        'sealpost/default/devices/mon-4w-12/alarms',
        JSON.stringify({
          alarmId: 'a-0042',
          priority: 'high',
          condition: 'SpO2 low',
          observedAt: new Date().toISOString(),
          value: `84 ${PHI_MARKER}`,
        }),
        { qos: 1 },
      );
    } finally {
      await c.endAsync();
    }
    const alerts = await h.request('GET', '/v1/alerts?open=true');
    expect(alerts.status).toBe(200);
    expect(alerts.body.items).toHaveLength(1);
    const alertId: string = alerts.body.items[0].id;

    // 5. The SMS the nurse got: PHI-free, with the link and the reply code.
    const sms = await waitFor(async () => {
      const out = await h.request('GET', '/v1/dev/outbox');
      return (out.body.items as { channel: string; recipient: string; body: string }[]).find(
        (m) => m.channel === 'sms' && m.recipient === PHONE && m.body.includes(alertId),
      );
    });
    expect(sms.body).toContain('SpO2 low');
    expect(sms.body).toContain('Reply 1 to acknowledge');
    expect(sms.body).not.toContain(PHI_MARKER);

    // 6. She replies "1" from that phone.
    const reply = await h.request('POST', '/v1/dev/outbox/sms-replies', { from: PHONE, body: '1' });
    expect(reply.body).toEqual({ handledAs: 'alert-reply' });
    const alert = await h.request('GET', `/v1/alerts/${alertId}`);
    expect(alert.body.state).toBe('acknowledged');
    expect(JSON.stringify(alert.body.timeline ?? alert.body.events ?? alert.body)).toContain(nurse.userId);

    // The confirmation text, and the acknowledgement on the audit log.
    const confirmation = await waitFor(async () => {
      const out = await h.request('GET', '/v1/dev/outbox');
      return (out.body.items as { channel: string; recipient: string; body: string }[]).find(
        (m) => m.channel === 'sms' && m.recipient === PHONE && /acknowledged/i.test(m.body),
      );
    });
    expect(confirmation.body).not.toContain(PHI_MARKER);
    const audit = await h.request('GET', `/v1/audit/events?action=alert.acknowledged&actor=user:${nurse.userId}`);
    expect(audit.status).toBe(200);
    expect(audit.body.items.map((e: { target: { id: string } | null }) => e.target?.id)).toContain(alertId);

    // An unknown number matches no alert: "1" is no keyword and no appointment reply either, so it is
    // an unrecognised text (kept for the number's patients, if any; answered with the HELP text).
    expect((await h.request('POST', '/v1/dev/outbox/sms-replies', { from: '+14155550199', body: '1' })).body).toEqual({
      handledAs: 'unrecognised',
    });
    expect(
      (await h.request('POST', '/v1/dev/outbox/sms-replies', { from: PHONE, body: 'x'.repeat(1601) })).status,
    ).toBe(400);
  });
});

async function waitFor<T>(fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
