import { randomBytes } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { eventually } from '../helpers/sealpost-harness.js';
import { startMqttSubscriber, type MqttSubscriber } from '../../src/api/mqtt-subscriber.js';
import { MqttRefusal, type AlarmIntake } from '../../src/alerting/devices/alarm-intake.js';
import type { DeviceTopic } from '../../src/alerting/devices/alarm-messages.js';

/**
 * The subscriber's acknowledgement contract against the machine's Mosquitto: a message whose
 * handling fails (the database is unavailable) is not acknowledged and comes back after the
 * reconnection; a refused one gets a negative PUBACK and never comes back. The intake here stands
 * in for the database outage (the alarm path itself is tested in mqtt-external.int.test.ts).
 */
let sub: MqttSubscriber | null = null;
afterEach(async () => {
  await sub?.close();
  sub = null;
});

it('redelivers a message whose handling failed, and not one that was refused', async () => {
  const group = `r${randomBytes(4).toString('hex')}`;
  const seen: string[] = [];
  let failNext = true;
  const intake = {
    async handle(topic: DeviceTopic, payload: Buffer) {
      const text = payload.toString();
      seen.push(text);
      if (topic.deviceId === 'refused') throw new MqttRefusal('unknown_device');
      if (failNext) {
        failNext = false;
        throw new Error('database unavailable');
      }
      return 'alert' as const;
    },
    async refused() {},
  } as unknown as AlarmIntake;
  const errors: unknown[] = [];
  sub = await startMqttSubscriber({
    url: 'mqtt://127.0.0.1:1883',
    owner: group,
    shareGroup: group,
    intake,
    onError: (e) => errors.push(e),
  });
  const device = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { protocolVersion: 5, reconnectPeriod: 0 });
  try {
    await device.publishAsync('sealpost/default/devices/refused/alarms', 'r-1', { qos: 1 });
    await device.publishAsync('sealpost/default/devices/mon-1/alarms', 'm-1', { qos: 1 });
    // The first attempt at m-1 failed: it was not acknowledged, the connection dropped, and the
    // broker delivered it again on the resumed session.
    await eventually(async () => seen.filter((s) => s === 'm-1').length === 2 || null, 'm-1 delivered again', 20_000);
    expect(errors.some((e) => (e as Error).message === 'database unavailable')).toBe(true);
    // Give a wrongly repeated refusal the chance to arrive (it must not).
    await device.publishAsync('sealpost/default/devices/mon-1/alarms', 'm-2', { qos: 1 });
    await eventually(async () => seen.includes('m-2') || null, 'm-2 delivered', 20_000);
    expect(seen.filter((s) => s === 'r-1')).toEqual(['r-1']);
  } finally {
    await device.endAsync(true);
  }
}, 60_000);
