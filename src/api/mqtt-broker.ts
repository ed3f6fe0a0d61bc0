import { createHash } from 'node:crypto';
import { createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { Aedes, type Client } from 'aedes';
import type { AlarmIntake, DeviceIdentity } from '../alerting/devices/alarm-intake.js';
import { MqttRefusal } from '../alerting/devices/alarm-intake.js';
import { deviceTopicPrefix, parseDeviceTopic } from '../alerting/devices/alarm-messages.js';

export interface MqttBrokerOptions {
  host: string;
  port: number;
  /** PEM texts. Every connection must present a client certificate `ca` issued (no plaintext MQTT). */
  tls: { cert: string; key: string; ca: string };
  intake: AlarmIntake;
  maxConnections?: number;
  /**
   * Largest MQTT packet (its remaining length) a connection may send, checked before aedes parses
   * it; a larger one closes the connection. Default 64 KiB (a device message is at most 4 KiB).
   */
  maxPacketBytes?: number;
  /** Connection and refusal events (codes and ids only); never payloads. */
  onEvent?: (e: MqttBrokerEvent) => void;
  /** Errors other than refusals (the database is unavailable): the message is not acknowledged. */
  onError?: (e: unknown, deviceId: string | null) => void;
}

export type MqttBrokerEvent =
  | { type: 'refused'; code: string; deviceId: string | null; remoteAddress: string | undefined }
  | { type: 'connected' | 'disconnected'; deviceId: string; remoteAddress: string | undefined };

export interface MqttBroker {
  port: number;
  close(): Promise<void>;
}

/**
 * The embedded MQTT broker (aedes, MQTT 3.1.1 over TLS with client certificates). Its ACL is the
 * device registry: a connection is accepted only with the certificate of a registered device, whose
 * client id is `<tenant>/<deviceId>` and whose Last Will (if any) is its own status topic; it may
 * publish only to its own topics and subscribe to nothing. A message is acted on inside
 * `authorizePublish`, which aedes awaits before it answers: the PUBACK (QoS 1) is sent only once the
 * alert is durable. A refused publish gets no PUBACK and its connection is closed (MQTT 3.1.1 has
 * no negative acknowledgement, MQTT-3.3.5-2); a refused subscription gets the 0x80 failure code.
 */
export async function startMqttBroker(o: MqttBrokerOptions): Promise<MqttBroker> {
  const identities = new WeakMap<Client, DeviceIdentity>();
  const peer = (c: Client | null) => (c?.conn as PacketLimit | undefined)?.remoteAddress;
  const refuse = (code: string, client: Client | null, topicKind?: string) => {
    const who = client ? identities.get(client) : undefined;
    o.onEvent?.({ type: 'refused', code, deviceId: who?.deviceId ?? null, remoteAddress: peer(client) });
    void o.intake
      .refused({ tenantId: who?.tenantId, deviceId: who?.deviceId, remoteAddress: peer(client), code, topicKind })
      .catch((e: unknown) => o.onError?.(e, who?.deviceId ?? null));
  };

  const broker = await Aedes.createBroker({
    maxClientsIdLength: 200,
    authenticate(client, _username, _password, done) {
      const cert = (client.conn as unknown as PacketLimit).getPeerCertificate?.();
      if (!cert?.raw) {
        refuse('no_client_certificate', client);
        return done(Object.assign(new Error('not authorized'), { returnCode: 5 }), false);
      }
      const sha256 = createHash('sha256').update(cert.raw).digest('hex');
      o.intake.deviceByCert(sha256).then(
        (device) => {
          const problem = !device
            ? 'unknown_certificate'
            : client.id !== `${device.tenantId}/${device.deviceId}`
              ? 'client_id_mismatch'
              : willProblem(client, device);
          if (problem || !device) {
            refuse(problem ?? 'unknown_certificate', client);
            return done(Object.assign(new Error('not authorized'), { returnCode: 5 }), false);
          }
          identities.set(client, device);
          done(null, true);
        },
        (e: unknown) => {
          o.onError?.(e, null);
          done(Object.assign(new Error('server unavailable'), { returnCode: 3 }), false);
        },
      );
    },
    authorizePublish(client, packet, done) {
      const device = client ? identities.get(client) : undefined;
      const topic = parseDeviceTopic(packet.topic);
      if (!device || !topic) {
        refuse('topic_not_allowed', client);
        return done(new Error('not authorized'));
      }
      // Nothing is retained or forwarded: the broker is an intake, not a message bus.
      packet.retain = false;
      o.intake.handle(topic, packet.payload as Buffer, device).then(
        () => done(null),
        (e: unknown) => {
          if (e instanceof MqttRefusal) refuse(e.code, client, topic.kind);
          else o.onError?.(e, device.deviceId);
          done(e instanceof Error ? e : new Error('not handled'));
        },
      );
    },
    authorizeSubscribe(client, sub, done) {
      refuse('subscribe_not_allowed', client);
      done(null, null);
    },
    // Nothing subscribes, so nothing is forwarded; this keeps it that way if that ever changes.
    authorizeForward: () => null,
  });

  broker.on('clientReady', (client) => {
    const d = identities.get(client);
    if (!d) return;
    o.onEvent?.({ type: 'connected', deviceId: d.deviceId, remoteAddress: peer(client) });
    // A device that connects is online again: an open `offline` alert of it is resolved.
    const topic = parseDeviceTopic(`${deviceTopicPrefix(d.tenantId, d.deviceId)}/status`)!;
    o.intake.handle(topic, '{"status":"online"}', d).catch((e: unknown) => o.onError?.(e, d.deviceId));
  });
  broker.on('clientDisconnect', (client) => {
    const d = identities.get(client);
    if (d) o.onEvent?.({ type: 'disconnected', deviceId: d.deviceId, remoteAddress: peer(client) });
  });

  const server = createServer(
    { cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, requestCert: true, rejectUnauthorized: true },
    (socket) => {
      const conn = new PacketLimit(socket, o.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES, () =>
        // aedes marks the connection with its client (once CONNECT was read): refused with its identity.
        refuse('packet_too_large', (conn as unknown as { client?: Client }).client ?? null),
      );
      broker.handle(conn);
    },
  );
  server.maxConnections = o.maxConnections ?? 10_000;
  // A failed handshake (no or a foreign certificate) never reaches aedes; it is not audited per
  // attempt (anyone can cause it), only counted in the event stream.
  server.on('tlsClientError', (_e, socket) =>
    o.onEvent?.({ type: 'refused', code: 'tls_handshake', deviceId: null, remoteAddress: socket.remoteAddress }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      // Stop accepting first, then close the devices' connections (which the server waits for).
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await closed;
    },
  };
}

/** A Last Will must be the device's own `{status: offline}` on its status topic; null when it is (or there is none). */
function willProblem(client: Client, device: DeviceIdentity): string | null {
  const will = (client as unknown as { _will?: { topic: string } | null })._will;
  if (!will) return null;
  return will.topic === `${deviceTopicPrefix(device.tenantId, device.deviceId)}/status` ? null : 'will_not_allowed';
}

const DEFAULT_MAX_PACKET_BYTES = 64 * 1024;

/**
 * The TLS connection as aedes sees it, with every MQTT packet's size checked first: it reads the
 * fixed header (type byte, remaining-length varint) of each packet as the bytes pass, and destroys
 * the connection when a packet announces more than `max` bytes (or a malformed length), so aedes
 * never buffers it. aedes has no such limit of its own; a device with any certificate of the client
 * CA could otherwise make the broker hold a packet of up to 256 MiB.
 */
class PacketLimit extends Duplex {
  /** Bytes of the current packet's body still to pass; -1 while reading a fixed header. */
  private body = -1;
  private lengthBytes = 0;
  private length = 0;
  private typeRead = false;

  constructor(
    private readonly socket: TLSSocket,
    private readonly max: number,
    private readonly onTooLarge: () => void,
  ) {
    super();
    socket.on('data', (chunk: Buffer) => {
      if (!this.scan(chunk)) {
        this.onTooLarge();
        socket.destroy();
        this.destroy();
        return;
      }
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
    socket.on('error', (e) => this.destroy(e));
  }

  get remoteAddress() {
    return this.socket.remoteAddress;
  }

  getPeerCertificate(detailed?: boolean) {
    return this.socket.getPeerCertificate(detailed as true);
  }

  /** Follows the packet boundaries through `chunk`; false when a packet is too large or malformed. */
  private scan(chunk: Buffer): boolean {
    let i = 0;
    while (i < chunk.length) {
      if (this.body > 0) {
        const n = Math.min(this.body, chunk.length - i);
        this.body -= n;
        i += n;
        if (this.body === 0) this.body = -1;
        continue;
      }
      if (!this.typeRead) {
        this.typeRead = true;
        i++;
        continue;
      }
      const b = chunk[i++]!;
      this.length += (b & 0x7f) * 128 ** this.lengthBytes++;
      if (this.length > this.max || (this.lengthBytes === 4 && b & 0x80)) return false;
      if (b & 0x80) continue;
      this.body = this.length > 0 ? this.length : -1;
      this.typeRead = false;
      this.length = 0;
      this.lengthBytes = 0;
    }
    return true;
  }

  override _read() {
    this.socket.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, cb: (e?: Error | null) => void) {
    this.socket.write(chunk, encoding, cb);
  }

  override _final(cb: (e?: Error | null) => void) {
    this.socket.end(cb);
  }

  override _destroy(e: Error | null, cb: (e?: Error | null) => void) {
    this.socket.destroy();
    cb(e);
  }
}
