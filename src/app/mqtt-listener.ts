import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { AlarmIntake } from '../alerting/devices/alarm-intake.js';
import { startMqttBroker } from '../api/mqtt-broker.js';
import { startMqttSubscriber } from '../api/mqtt-subscriber.js';
import { errorCode } from './startup.js';

export interface MqttListener {
  /** The embedded broker's port; null when subscribed to an external broker. */
  port: number | null;
  close(): Promise<void>;
}

/**
 * Device alarms over MQTT, off unless configured: the embedded broker (SEALPOST_MQTT_LISTEN, what a
 * single-node installation turns on) or a shared subscription to an external broker
 * (SEALPOST_MQTT_URL, for several nodes). Logged: connection events, refusal codes and device ids,
 * never payloads.
 */
export async function startMqttListener(
  config: Config,
  intake: AlarmIntake,
  owner: string,
  logger: Logger,
): Promise<MqttListener | null> {
  const o = config.mqtt;
  const onError = (e: unknown) =>
    logger.warn(
      { code: errorCode(e) ?? (e as Error)?.name },
      'MQTT message not acknowledged; it will be delivered again',
    );
  if (o.listen && o.tls) {
    const broker = await startMqttBroker({
      host: o.listen.host,
      port: o.listen.port,
      tls: { cert: o.tls.cert, key: o.tls.key, ca: o.tls.clientCa },
      intake,
      maxConnections: o.maxConnections,
      onError,
      onEvent: (e) =>
        e.type === 'refused'
          ? logger.warn({ code: e.code, deviceId: e.deviceId, remoteAddress: e.remoteAddress }, 'MQTT refused')
          : logger.info({ deviceId: e.deviceId, remoteAddress: e.remoteAddress }, `MQTT device ${e.type}`),
    });
    logger.info({ host: o.listen.host, port: broker.port }, 'embedded MQTT broker serving (TLS, client certificates)');
    return { port: broker.port, close: () => broker.close() };
  }
  if (o.url) {
    const subscriber = await startMqttSubscriber({
      url: o.url,
      tls: o.client,
      owner,
      shareGroup: o.shareGroup,
      intake,
      onError,
      onEvent: (e) =>
        e.type === 'refused'
          ? logger.warn({ code: e.code, deviceId: e.deviceId }, 'MQTT refused')
          : logger.info(`MQTT subscriber ${e.type}`),
    });
    logger.info({ shareGroup: o.shareGroup }, 'subscribed to the external MQTT broker');
    return { port: null, close: () => subscriber.close() };
  }
  return null;
}
