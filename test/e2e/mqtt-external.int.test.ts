import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { eventually, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession } from '../helpers/identity.js';
import { clientCert } from '../helpers/transport-pki.js';

/**
 * Two Sealpost nodes on one PostgreSQL database subscribe to the machine's Mosquitto
 * (127.0.0.1:1883, plaintext allowed on loopback) with one MQTT 5 shared subscription: each alarm
 * goes to one node, becomes one alert, and repeats of an alarm id fold whichever node gets them.
 */
describe.skipIf(!BACKENDS.includes('postgres'))(
  'device alarms through an external broker, two nodes [postgres]',
  () => {
    let db: TestDatabase;
    let a: Harness;
    let b: Harness;
    let device: MqttClient;
    const group = `t${randomBytes(4).toString('hex')}`;

    beforeAll(async () => {
      db = await createTestDatabase('postgres');
      const env = {
        SEALPOST_DATABASE_URL: db.url,
        SEALPOST_MQTT_URL: 'mqtt://127.0.0.1:1883',
        SEALPOST_MQTT_SHARE_GROUP: group,
      };
      a = await startSealpost(env);
      b = await startSealpost({ ...env, SEALPOST_KEYRING_FILE: join(a.dataDir, 'keyring.json') });
      const nurse = await staffWithSession(a, ['nurse']);
      await a.request('PUT', `/v1/users/${nurse.userId}/alert-contacts`, {
        contacts: [{ kind: 'sms', value: '+14155550173' }],
        settings: { language: 'en', timeZone: 'UTC', quietHours: null, doNotDisturbUntil: null },
      });
      await a.request('PUT', '/v1/units/5-east/roles/charge_nurse', { userIds: [nurse.userId] });
      await a.request('POST', '/v1/escalation-policies', {
        name: 'charge nurse',
        isDefault: true,
        steps: [{ targets: ['target'], channels: ['sms'], waitSeconds: 600 }],
      });
      for (const id of ['mon-5e-1', 'mon-5e-2']) {
        const r = await a.request('POST', '/v1/medical-devices', {
          id,
          certPem: (await clientCert(id)).cert,
          location: `5-east/${id.slice(-1)}`,
        });
        expect(r.status).toBe(201);
      }
      await Promise.all([a.app.mqttPort(), b.app.mqttPort()]);
      device = await mqtt.connectAsync('mqtt://127.0.0.1:1883', {
        protocolVersion: 5,
        clientId: `dev-${group}`,
        reconnectPeriod: 0,
      });
    }, 120_000);
    afterAll(async () => {
      await device?.endAsync(true);
      await b?.close();
      await a?.close();
      await db?.drop();
    });

    const alarm = (alarmId: string) =>
      JSON.stringify({ alarmId, priority: 'medium', condition: 'ECG leads off', observedAt: new Date().toISOString() });
    const rows = <T>(sql: string) => db.query<T>(sql);

    it('splits alarms between the nodes, each alarm handled once, repeats folded', async () => {
      const sent: string[] = [];
      for (let i = 0; i < 40; i++) {
        const id = `mon-5e-${(i % 2) + 1}`;
        const alarmId = `x-${i}`;
        sent.push(`${id}:${alarmId}`);
        await device.publishAsync(`sealpost/default/devices/${id}/alarms`, alarm(alarmId), { qos: 1 });
      }
      // QoS 1 repeats of the first ten (as a device resends after a lost PUBACK), to either node.
      for (let i = 0; i < 10; i++)
        await device.publishAsync(`sealpost/default/devices/mon-5e-${(i % 2) + 1}/alarms`, alarm(`x-${i}`), { qos: 1 });
      await eventually(
        async () => Number((await rows<{ n: string }>('select count(*) as n from device_alarms'))[0]!.n) === 40 || null,
        '40 alarms recorded',
        30_000,
      );
      await eventually(
        async () =>
          a.app.services.alarmIntake.counts.handled + b.app.services.alarmIntake.counts.handled === 50 || null,
        'every message handled',
        30_000,
      );
      const alerts = await rows<{ source: string; count: number; summary: string }>(
        'select source, count, summary from alerts',
      );
      expect(alerts).toHaveLength(40);
      expect(alerts.every((x) => Number(x.count) === 1)).toBe(true);
      expect(alerts[0]!.summary).toMatch(/^Medium alarm: ECG leads off \(5-east bed [12]\)$/);
      // Both nodes took a share.
      expect(a.app.services.alarmIntake.counts.handled).toBeGreaterThan(0);
      expect(b.app.services.alarmIntake.counts.handled).toBeGreaterThan(0);
    });

    it('refuses (and audits) a message for a device not registered in that tenant', async () => {
      await device.publishAsync('sealpost/default/devices/mon-unknown/alarms', alarm('u-1'), { qos: 1 });
      await device.publishAsync('sealpost/other/devices/mon-5e-1/alarms', alarm('u-2'), { qos: 1 });
      await eventually(
        async () => a.app.services.alarmIntake.counts.refused + b.app.services.alarmIntake.counts.refused >= 2 || null,
        'two refusals',
        30_000,
      );
      // Counted when refused; the audit entry may commit a moment later (on the other node, too).
      const refused = (await eventually(async () => {
        const r = await rows<{ entry: string }>("select entry from audit_entries where action = 'mqtt.refused'");
        return r.length >= 2 ? r : null;
      }, 'two refusals on the audit log'))!;
      expect(refused.map((r) => JSON.parse(r.entry).details.code)).toEqual(['unknown_device', 'unknown_device']);
      expect(
        Number((await rows<{ n: string }>("select count(*) as n from device_alarms where alarm_id like 'u-%'"))[0]!.n),
      ).toBe(0);
    });
  },
);
