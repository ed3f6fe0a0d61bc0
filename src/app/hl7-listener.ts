import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { startMllpServer } from '../api/mllp-server.js';
import type { Hl7Service } from '../ehr/hl7-apply/hl7-service.js';
import { errorCode } from './startup.js';

export interface Hl7Listener {
  port: number;
  close(): Promise<void>;
}

/**
 * The HL7 v2 MLLP listener (SEALPOST_HL7_LISTEN), off unless configured. Each message goes to
 * `Hl7Service.handle`, which answers only after the message and its effects are durable; when it
 * rejects (the database is unavailable) no ACK is sent and the connection closes: the sender resends.
 * Logged: connection events and error codes, never content.
 */
export async function startHl7Listener(config: Config, hl7: Hl7Service, logger: Logger): Promise<Hl7Listener | null> {
  const o = config.hl7;
  if (!o.listen) return null;
  const listener = await startMllpServer({
    host: o.listen.host,
    port: o.listen.port,
    // With a client CA, every connection must present a certificate it issued (a sender bound to one
    // certificate is then checked by its fingerprint, message by message).
    tls: o.tls && { cert: o.tls.cert, key: o.tls.key, ca: o.tls.clientCa },
    maxMessageBytes: o.maxMessageBytes,
    maxConnections: o.maxConnections,
    maxConnectionsPerAddress: o.maxConnectionsPerAddress,
    idleTimeoutMs: o.idleTimeoutMs,
    handle: async (payload, peer) => {
      try {
        return await hl7.handle(payload, peer);
      } catch (e) {
        logger.warn(
          { code: errorCode(e) ?? (e as Error)?.name },
          'HL7 message not acknowledged; the connection closes',
        );
        throw e;
      }
    },
    onEvent: (event) => {
      const { type } = event;
      const remoteAddress = 'peer' in event ? event.peer.remoteAddress : event.remoteAddress;
      logger.info(
        { type, remoteAddress, code: 'errorCode' in event ? event.errorCode : undefined },
        'MLLP connection ended',
      );
    },
  });
  logger.info({ host: o.listen.host, port: listener.port, tls: Boolean(o.tls) }, 'HL7 MLLP listener serving');
  return listener;
}
