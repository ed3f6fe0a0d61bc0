/**
 * A minimal MLLP client: one connection, messages sent one after another, each waiting for its ACK
 * (HL7 v2 original-mode flow). Used by `sealpost hl7 send`, the tests and the benchmark.
 */
import { isIP, connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { MllpDecoder, frame } from '../ehr/hl7/mllp.js';

export interface MllpTarget {
  host: string;
  port: number;
  /** PEM texts; `ca` to trust a private CA, `cert`/`key` to present a client certificate. */
  tls?: { ca?: string; cert?: string; key?: string; servername?: string };
}

/** Largest ACK accepted from the server. */
const MAX_ACK_BYTES = 1024 * 1024;

/**
 * Sends `messages` (each framed as one MLLP message) over one connection and resolves with one ACK per
 * message, in order. Rejects when the connection fails, closes before an ACK, the server answers with
 * bytes that are not MLLP, or an ACK takes longer than `timeoutMs` (default 30 s). Errors never quote the
 * messages.
 */
export async function sendMllp(
  target: MllpTarget,
  messages: string[],
  o: { timeoutMs?: number } = {},
): Promise<string[]> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const socket = await open(target, timeoutMs);
  const decoder = new MllpDecoder(MAX_ACK_BYTES);
  const received: string[] = [];
  let waiting: { resolve(ack: string): void; reject(e: Error): void } | null = null;
  let failure: Error | null = null;
  const fail = (e: Error) => {
    failure ??= e;
    waiting?.reject(failure);
    waiting = null;
  };
  socket.on('data', (chunk: Buffer) => {
    let acks: Buffer[];
    try {
      acks = decoder.push(chunk);
    } catch (e) {
      fail(new Error(`MLLP: the server's answer is not MLLP (${(e as Error).message})`));
      socket.destroy();
      return;
    }
    for (const a of acks) received.push(a.toString('utf8'));
    if (waiting && received.length > 0) {
      const w = waiting;
      waiting = null;
      w.resolve(received.shift()!);
    }
  });
  socket.on('error', (e: NodeJS.ErrnoException) => fail(new Error(`MLLP: connection error (${e.code ?? e.message})`)));
  socket.on('close', () => fail(new Error('MLLP: the connection closed before an acknowledgement arrived')));

  const next = (index: number) =>
    new Promise<string>((resolve, reject) => {
      if (failure) return reject(failure);
      if (received.length > 0) return resolve(received.shift()!);
      const timer = setTimeout(() => {
        waiting = null;
        reject(new Error(`MLLP: no acknowledgement for message ${index + 1} within ${timeoutMs} ms`));
        socket.destroy();
      }, timeoutMs);
      waiting = {
        resolve: (ack) => {
          clearTimeout(timer);
          resolve(ack);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });

  const acks: string[] = [];
  try {
    for (const [i, m] of messages.entries()) {
      socket.write(frame(m));
      acks.push(await next(i));
    }
  } finally {
    socket.removeAllListeners('close');
    socket.on('error', () => {});
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }
  return acks;
}

function open(target: MllpTarget, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const t = target.tls;
    const socket: Socket = t
      ? connectTls({
          host: target.host,
          port: target.port,
          ...(t.ca ? { ca: t.ca } : {}),
          ...(t.cert ? { cert: t.cert } : {}),
          ...(t.key ? { key: t.key } : {}),
          // SNI takes a host name, never an address (RFC 6066 §3).
          ...(t.servername || !isIP(target.host) ? { servername: t.servername ?? target.host } : {}),
          minVersion: 'TLSv1.2',
        })
      : connectTcp({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`MLLP: could not connect within ${timeoutMs} ms`));
    }, timeoutMs);
    const ready = t ? 'secureConnect' : 'connect';
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(`MLLP: cannot connect (${e.code ?? e.message})`));
    });
  });
}
