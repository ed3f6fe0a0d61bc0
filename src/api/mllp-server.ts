/**
 * The MLLP listener (HL7 v2 over TCP, optionally TLS with client certificates).
 *
 * Ordering and durability are the caller's contract with the sender: each connection hands its messages to
 * `handle` strictly one at a time in arrival order, and writes the ACK only after `handle` resolved (the
 * caller commits durably first). If `handle` rejects, no ACK is sent and the connection is closed, so the
 * sender resends, which is the only safe answer when we do not know whether the message was stored.
 *
 * Payloads are PHI: nothing here logs or reports their content; events carry the peer and a reason code.
 */
import { createHash } from 'node:crypto';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { MllpDecoder, MllpFramingError, frame } from '../ehr/hl7/mllp.js';
import { secureContextOptions } from './tls.js';

export interface MllpPeer {
  remoteAddress: string;
  tls: boolean;
  /** SHA-256 of the client certificate's DER, lower-case hex, when the client presented one. */
  clientCertSha256?: string;
}

/** Why a connection ended early, for the caller's logs and metrics (never content). */
export type MllpEvent =
  | { type: 'framing_error'; reason: 'too_large' | 'outside_frame'; peer: MllpPeer }
  | { type: 'handler_failed'; peer: MllpPeer }
  | { type: 'idle_timeout'; peer: MllpPeer }
  | { type: 'tls_handshake_failed'; remoteAddress: string }
  /** Refused on accept: this remote address already holds `maxConnectionsPerAddress` connections. */
  | { type: 'address_limit'; remoteAddress: string }
  | { type: 'connection_error'; peer: MllpPeer; errorCode: string };

export interface MllpServerOptions {
  host: string;
  port: number;
  /** PEM texts. When `ca` is set, a client certificate issued by it is required. */
  tls?: { cert: string; key: string; ca?: string };
  maxMessageBytes: number;
  /** Further connections are refused (closed on accept) while this many are open. */
  maxConnections: number;
  /** Further connections from one remote address are refused (closed on accept, before any TLS handshake)
   *  while it holds this many; default {@link DEFAULT_MAX_CONNECTIONS_PER_ADDRESS}. */
  maxConnectionsPerAddress?: number;
  /** A connection that completes no frame, receives no byte of a frame and has no message being handled
   *  for this long is closed. Whitespace between frames (keep-alives) is not traffic. */
  idleTimeoutMs: number;
  /** Called once per complete message, one at a time per connection, in arrival order. Resolves with the ACK
   *  to send back ('' to send none, as enhanced mode may ask); if it rejects, nothing is sent and the
   *  connection is closed (the sender will resend). */
  handle(payload: Buffer, peer: MllpPeer): Promise<string>;
  /** Told when a connection ends for a reason other than the peer closing it. */
  onEvent?(event: MllpEvent): void;
}

/** Frames received but not yet handled, per connection, before the socket stops reading (backpressure). */
export const MAX_QUEUED = 16;

export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 10;

/** `::ffff:192.0.2.1` and `192.0.2.1` are one peer. */
function addressKey(address: string | undefined): string {
  const a = address ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

class MllpConnection {
  readonly #socket: Socket;
  readonly #peer: MllpPeer;
  readonly #o: MllpServerOptions;
  readonly #decoder: MllpDecoder;
  readonly #queue: Buffer[] = [];
  /** Bytes of the frames queued plus the one being handled: the socket stops reading at maxMessageBytes. */
  #queuedBytes = 0;
  readonly #idle: NodeJS.Timeout;
  #busy = false;
  /** The peer half-closed: answer every message it sent, then close. */
  #peerEnded = false;
  /** The server is closing: answer the message in hand only, then close. */
  #shuttingDown = false;
  readonly closed: Promise<void>;

  constructor(socket: Socket, peer: MllpPeer, o: MllpServerOptions) {
    this.#socket = socket;
    this.#peer = peer;
    this.#o = o;
    this.#decoder = new MllpDecoder(o.maxMessageBytes);
    // Not socket.setTimeout: any byte resets that, and a peer sending a newline now and then would hold its
    // slot forever. Only frames (complete, or bytes inside one) and our own processing count as activity.
    this.#idle = setTimeout(() => this.#onIdle(), o.idleTimeoutMs);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        clearTimeout(this.#idle);
        resolve();
      }),
    );
    socket.setNoDelay(true);
    socket.on('error', (e: NodeJS.ErrnoException) => {
      o.onEvent?.({ type: 'connection_error', peer, errorCode: e.code ?? 'ERR' });
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => {
      this.#peerEnded = true;
      if (!this.#busy) this.#end();
    });
  }

  #onIdle(): void {
    // A message being handled is not idleness: the sender is waiting for our ACK.
    if (this.#busy) {
      this.#idle.refresh();
      return;
    }
    if (this.#socket.destroyed) return;
    this.#o.onEvent?.({ type: 'idle_timeout', peer: this.#peer });
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#shuttingDown || this.#socket.destroyed) return;
    let payloads: Buffer[];
    try {
      payloads = this.#decoder.push(chunk);
    } catch (e) {
      const reason = e instanceof MllpFramingError ? e.reason : 'outside_frame';
      this.#o.onEvent?.({ type: 'framing_error', reason, peer: this.#peer });
      this.#abort();
      return;
    }
    // Whitespace between frames leaves no frame completed and none open: not activity.
    if (payloads.length > 0 || this.#decoder.midFrame) this.#idle.refresh();
    if (payloads.length === 0) return;
    this.#queue.push(...payloads);
    for (const p of payloads) this.#queuedBytes += p.length;
    if (this.#full()) this.#socket.pause();
    void this.#drain();
  }

  /** Stop reading: what is waiting (plus a partial frame in the decoder) stays within ~2 × maxMessageBytes. */
  #full(): boolean {
    return this.#queue.length >= MAX_QUEUED || this.#queuedBytes >= this.#o.maxMessageBytes;
  }

  async #drain(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    while (this.#queue.length > 0 && !this.#socket.destroyed && !this.#shuttingDown) {
      const payload = this.#queue.shift()!;
      let ack: string;
      try {
        ack = await this.#o.handle(payload, this.#peer);
      } catch {
        this.#busy = false;
        this.#o.onEvent?.({ type: 'handler_failed', peer: this.#peer });
        this.#abort();
        return;
      }
      // '' is "no acknowledgement" (enhanced mode, MSH-15 NE or ER on success): nothing goes back.
      if (ack !== '' && !this.#socket.destroyed) this.#socket.write(frame(ack));
      this.#queuedBytes -= payload.length;
      this.#idle.refresh();
      if (!this.#full() && this.#socket.isPaused() && !this.#socket.destroyed) this.#socket.resume();
    }
    this.#busy = false;
    if (this.#shuttingDown || this.#peerEnded) this.#end();
  }

  /** Stop after the message in hand (if any); messages received but not started get no ACK. */
  shutdown(): void {
    this.#shuttingDown = true;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    if (!this.#busy) this.#end();
  }

  #end(): void {
    if (this.#socket.destroyed) return;
    this.#socket.end();
    // A peer that never closes its side must not hold close() forever.
    setTimeout(() => this.#socket.destroy(), 2000).unref();
  }

  #abort(): void {
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#socket.destroy();
  }
}

function peerOf(socket: Socket, tls: boolean): MllpPeer {
  const peer: MllpPeer = { remoteAddress: socket.remoteAddress ?? '', tls };
  if (tls) {
    const cert = (socket as TLSSocket).getPeerCertificate();
    if (cert && cert.raw) peer.clientCertSha256 = createHash('sha256').update(cert.raw).digest('hex');
  }
  return peer;
}

/** Starts listening; resolves once the port is bound (port 0 picks a free one, reported back). */
export async function startMllpServer(o: MllpServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const connections = new Set<MllpConnection>();
  let closing = false;
  const perAddress = o.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
  if (!Number.isInteger(perAddress) || perAddress < 1) {
    throw new RangeError('maxConnectionsPerAddress must be a positive integer');
  }
  const open = new Map<string, number>();
  /** Raw sockets refused by `admit`: the TLS layer still wraps them and reports a failed handshake. */
  const refused = new WeakSet<Socket>();
  /** Counts raw TCP connections per remote address (TLS ones before their handshake) and refuses the excess. */
  const admit = (socket: Socket) => {
    const address = addressKey(socket.remoteAddress);
    const n = open.get(address) ?? 0;
    if (n >= perAddress) {
      o.onEvent?.({ type: 'address_limit', remoteAddress: address });
      refused.add(socket);
      socket.destroy();
      return;
    }
    open.set(address, n + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  };
  const accept = (socket: Socket, tls: boolean) => {
    if (closing || socket.destroyed) {
      socket.destroy();
      return;
    }
    const conn = new MllpConnection(socket, peerOf(socket, tls), o);
    connections.add(conn);
    void conn.closed.then(() => connections.delete(conn));
  };
  // Half-open TCP sockets: a sender that half-closes after its last frame still gets the ACKs of what it sent.
  let server: Server;
  if (o.tls) {
    const requireCert = o.tls.ca !== undefined;
    server = createTlsServer(
      {
        ...secureContextOptions({ cert: o.tls.cert, key: o.tls.key }),
        ...(requireCert ? { ca: o.tls.ca, requestCert: true, rejectUnauthorized: true } : { requestCert: false }),
        handshakeTimeout: Math.min(o.idleTimeoutMs, 30_000),
        // Not half-open over TLS: a socket whose handshake failed would stay half-open and hold close().
        // TLS senders end with close_notify and do not half-close, so nothing is lost.
      },
      (socket) => accept(socket, true),
    );
    server.on('tlsClientError', (_e, socket) => {
      // `_parent` is the raw socket under the TLS one (Node internal; absent, the event is reported anyway).
      const raw = (socket as unknown as { _parent?: Socket })._parent;
      if (raw && refused.has(raw)) return;
      o.onEvent?.({ type: 'tls_handshake_failed', remoteAddress: socket.remoteAddress ?? '' });
    });
  } else {
    server = createTcpServer({ allowHalfOpen: true }, (socket) => accept(socket, false));
  }
  server.maxConnections = o.maxConnections;
  // First among the 'connection' listeners: a refused socket reaches the TLS layer and `accept` already
  // destroyed (no handshake, no MllpConnection).
  server.prependListener('connection', admit);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : o.port;
  return {
    port,
    async close() {
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of connections) c.shutdown();
      await Promise.all([...connections].map((c) => c.closed));
      await stopped;
    },
  };
}
