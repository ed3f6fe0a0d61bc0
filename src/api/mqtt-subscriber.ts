import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { AlarmIntake } from '../alerting/devices/alarm-intake.js';
import { MqttRefusal } from '../alerting/devices/alarm-intake.js';
import { parseDeviceTopic } from '../alerting/devices/alarm-messages.js';

export interface MqttSubscriberOptions {
  /** `mqtts://…` or (loopback only, checked by the configuration) `mqtt://…`. */
  url: string;
  /** Sealpost's client certificate and key at the broker, and the CA to trust the broker by. */
  tls?: { cert?: string; key?: string; ca?: string };
  /** This node's name: its client id is `sealpost-<owner>` (a persistent session per node). */
  owner: string;
  /** Shared-subscription group: every node of the installation joins it, each message goes to one. */
  shareGroup: string;
  intake: AlarmIntake;
  onEvent?: (e: { type: 'refused'; code: string; deviceId: string | null } | { type: 'connected' | 'offline' }) => void;
  onError?: (e: unknown) => void;
}

export interface MqttSubscriber {
  close(): Promise<void>;
}

/** What every node subscribes to (prefixed `$share/<group>/`). */
export const DEVICE_TOPIC_FILTERS = [
  'sealpost/+/devices/+/alarms',
  'sealpost/+/devices/+/alarms/+/cleared',
  'sealpost/+/devices/+/status',
  'sealpost/+/devices/+/acks',
];

/** MQTT 5 PUBACK reason codes. */
const SUCCESS = 0;
const NOT_AUTHORIZED = 135;
const PAYLOAD_FORMAT_INVALID = 153;
const IMPLEMENTATION_SPECIFIC = 131;

/**
 * Subscribes to an external broker (MQTT 5, MQTT.js) with shared subscriptions, so the nodes of one
 * installation split the device traffic. The broker authenticates the devices and enforces their
 * topics (its own ACL); Sealpost checks that a topic's device is registered in that tenant.
 *
 * A message is acknowledged only after what it caused is durable (`customHandleAcks`). A refused
 * message gets a negative PUBACK (135 not authorized, 153 payload format invalid, 131 otherwise) and
 * an audit entry, and is not delivered again. When the intake fails (the database is unavailable)
 * no PUBACK is sent and the connection is dropped: the persistent session (clean start off) makes
 * the broker deliver the message again on reconnection, to this node or another. The delivery is
 * at least once; the alarm id folds the repeats (device_alarms).
 */
export async function startMqttSubscriber(o: MqttSubscriberOptions): Promise<MqttSubscriber> {
  const options: IClientOptions = {
    protocolVersion: 5,
    clientId: `sealpost-${o.owner}`.slice(0, 200),
    clean: false,
    // The session (and its unacknowledged messages) outlives a dropped connection for an hour.
    properties: { sessionExpiryInterval: 3600 },
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    resubscribe: false,
    ...(o.tls?.cert ? { cert: o.tls.cert, key: o.tls.key } : {}),
    ...(o.tls?.ca ? { ca: o.tls.ca } : {}),
    customHandleAcks: (topic, message, _packet, done) => {
      const parsed = parseDeviceTopic(topic);
      if (!parsed) {
        o.onEvent?.({ type: 'refused', code: 'topic_not_allowed', deviceId: null });
        return done(NOT_AUTHORIZED);
      }
      o.intake.handle(parsed, message).then(
        // A gateway's answer that was not applied (audited by the intake) is not delivered again either.
        (outcome) => done(outcome === 'response_rejected' ? NOT_AUTHORIZED : SUCCESS),
        (e: unknown) => {
          if (e instanceof MqttRefusal) {
            o.onEvent?.({ type: 'refused', code: e.code, deviceId: parsed.deviceId });
            void o.intake
              .refused({ tenantId: parsed.tenantId, deviceId: parsed.deviceId, code: e.code, topicKind: parsed.kind })
              .catch((err: unknown) => o.onError?.(err));
            return done(
              e.code.startsWith('payload_')
                ? PAYLOAD_FORMAT_INVALID
                : e.code === 'alert_refused'
                  ? IMPLEMENTATION_SPECIFIC
                  : NOT_AUTHORIZED,
            );
          }
          o.onError?.(e);
          // No PUBACK: drop the connection so the broker delivers the message again after reconnecting.
          done(e instanceof Error ? e : new Error('not handled'));
          client.stream?.destroy();
        },
      );
    },
  };
  const client: MqttClient = mqtt.connect(o.url, options);
  client.on('error', (e) => o.onError?.(e));
  client.on('offline', () => o.onEvent?.({ type: 'offline' }));
  const filters = DEVICE_TOPIC_FILTERS.map((f) => `$share/${o.shareGroup}/${f}`);
  let first: { resolve: () => void; reject: (e: Error) => void } | null = null;
  client.on('connect', (connack) => {
    o.onEvent?.({ type: 'connected' });
    // A resumed session keeps its subscriptions; a new one subscribes.
    if (connack.sessionPresent) return first?.resolve();
    client.subscribe(filters, { qos: 1 }, (e, granted) => {
      const refused = granted?.some((g) => g.qos > 2);
      const err = e ?? (refused ? new Error('the broker refused the device topic subscriptions') : null);
      if (err) {
        o.onError?.(err);
        first?.reject(err);
      } else first?.resolve();
    });
  });
  await new Promise<void>((resolve, reject) => {
    const fail = (e: Error) => {
      first = null;
      client.end(true);
      reject(e);
    };
    first = {
      resolve: () => {
        first = null;
        client.off('error', fail);
        resolve();
      },
      reject: fail,
    };
    client.once('error', fail);
  });
  return {
    async close() {
      // Leave the group and end the session: a stopped node must not keep a share of the messages.
      if (client.connected) await client.unsubscribeAsync(filters).catch(() => {});
      await client.endAsync(false, { properties: { sessionExpiryInterval: 0 } });
    },
  };
}
