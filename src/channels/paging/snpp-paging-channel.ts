import { connect as tcpConnect, isIP } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ChannelError, toChannelError } from '../channel.js';
import type { Channel, OutboundMessage, SendResult } from '../channel.js';
import { CERTIFICATE_ERROR, trustedCas } from '../outbound-tls.js';
import { isLoopbackHost } from '../../config/loopback.js';
import { SnppReplyReader, checkPagerId, isAccepted, pageText, refusal } from './snpp-protocol.js';
import type { SnppStep } from './snpp-protocol.js';

export interface SnppPagingChannelOptions {
  host: string;
  port: number;
  /** TLS from the first byte (`snpps://`, a gateway behind a TLS terminator); SNPP has no STARTTLS. */
  tls: boolean;
  /** Level 2 `LOGIn <id> [password]` before each page; over plain TCP only to a loopback host. */
  login?: { id: string; password?: string };
  /** A page's text is cut to this many characters. */
  maxChars: number;
  /** Deadline of one whole page: connect, TLS, the dialogue up to SEND's reply. */
  timeoutMs: number;
  /** Extra trusted CAs (PEM) beside Node's bundled store, e.g. the hospital's own CA. */
  ca?: string | Buffer | (string | Buffer)[];
  /** Pages in flight at once; more wait their turn (within their deadline). Gateways limit sessions. */
  maxConnections?: number;
}

/**
 * Pages over SNPP (RFC 1861) to a hospital paging gateway, one connection per page: greeting 220,
 * [LOGI], PAGE <pager id>, MESS <text>, SEND, QUIT. `to` is the pager id, `text` the page, already
 * PHI-free (composed by the alert notifier) and here made one line of printable ASCII, cut to `maxChars`.
 *
 * A fresh connection per page keeps a broken session from poisoning the next page and needs no
 * RESEt bookkeeping; pages are rare next to the cost of a TCP handshake.
 *
 * Duplicates: SNPP carries no message id, so `deliveryId` cannot reach the gateway. If the connection
 * drops after SEND was written but before its 250 arrives, a retry pages the person again: a second
 * page is the lesser harm for an alert.
 *
 * Logging: none. The gateway's reply text is never copied into errors (gateways echo the pager id).
 */
export class SnppPagingChannel implements Channel {
  readonly kind = 'paging' as const;
  readonly provider = 'snpp';
  private readonly ca: string[] | undefined;
  private readonly maxConnections: number;
  private active = 0;
  private readonly queue: Array<() => void> = [];
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: SnppPagingChannelOptions) {
    if (options.login && !options.tls && !isLoopbackHost(options.host)) {
      throw new Error('snpp LOGIn over plain TCP is allowed only to a loopback host');
    }
    this.ca = trustedCas(...([] as (string | Buffer | undefined)[]).concat(options.ca));
    this.maxConnections = options.maxConnections ?? 4;
  }

  async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
    const pagerId = checkPagerId(message.to);
    const text = pageText(message.text, this.options.maxChars);
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const deadline = signal ? AbortSignal.any([timeout, signal]) : timeout;
    try {
      await this.acquire(deadline);
    } catch (e) {
      throw toChannelError(e, 'snpp');
    }
    try {
      await this.page(pagerId, text, deadline);
      return { status: 'sent' };
    } finally {
      this.release();
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
  }

  private async page(pagerId: string, text: string, deadline: AbortSignal): Promise<void> {
    const socket = this.open();
    this.sockets.add(socket);
    const reader = new SnppReplyReader(socket);
    const onAbort = () => socket.destroy();
    // An already-aborted signal fires no event: check it, or the page would wait forever.
    if (deadline.aborted) onAbort();
    else deadline.addEventListener('abort', onAbort, { once: true });
    try {
      const step = async (name: SnppStep, command?: string) => {
        if (command !== undefined) socket.write(`${command}\r\n`);
        const reply = await reader.next();
        if (!isAccepted(name, reply)) throw refusal(name, reply);
      };
      await step('greeting');
      if (this.options.login) {
        const { id, password } = this.options.login;
        await step('LOGI', password === undefined ? `LOGI ${id}` : `LOGI ${id} ${password}`);
      }
      await step('PAGE', `PAGE ${pagerId}`);
      await step('MESS', `MESS ${text}`);
      await step('SEND', 'SEND');
      // Accepted: the goodbye is a courtesy. QUIT and half-close; the gateway answers 221 and closes.
      socket.end('QUIT\r\n');
      socket.setTimeout(1_000, () => socket.destroy());
    } catch (e) {
      socket.destroy();
      throw this.failure(e, deadline);
    } finally {
      deadline.removeEventListener('abort', onAbort);
      socket.once('close', () => this.sockets.delete(socket));
      if (socket.destroyed) this.sockets.delete(socket);
    }
  }

  private open(): Socket {
    const { host, port, tls } = this.options;
    if (!tls) return tcpConnect({ host, port });
    return tlsConnect({
      host,
      port,
      // SNI takes names only (RFC 6066 §3); the certificate is checked against the host either way.
      ...(isIP(host) ? {} : { servername: host }),
      ...(this.ca ? { ca: this.ca } : {}),
    });
  }

  /**
   * Maps a failure to a ChannelError. The deadline wins over the socket error its abort caused.
   * Raw socket errors are not attached as `cause` (log serialisers walk it); only their code is kept.
   */
  private failure(e: unknown, deadline: AbortSignal): ChannelError {
    if (deadline.aborted) return new ChannelError('SP_CHANNEL_TIMEOUT', true, 'snpp timed out');
    if (e instanceof ChannelError) return e;
    const code = (e as { code?: string })?.code ?? '';
    if (CERTIFICATE_ERROR.test(code)) {
      return new ChannelError('SP_CHANNEL_TLS_REJECTED', false, 'snpp tls certificate rejected');
    }
    return new ChannelError(
      'SP_CHANNEL_SEND_FAILED',
      true,
      /^[A-Z][A-Z0-9_]{1,40}$/.test(code) ? `snpp unreachable (${code})` : 'snpp unreachable',
    );
  }

  private acquire(deadline: AbortSignal): Promise<void> {
    if (deadline.aborted) return Promise.reject(deadline.reason);
    if (this.active < this.maxConnections) {
      this.active += 1;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const turn = () => {
        deadline.removeEventListener('abort', onAbort);
        this.active += 1;
        resolve();
      };
      const onAbort = () => {
        this.queue.splice(this.queue.indexOf(turn), 1);
        reject(deadline.reason);
      };
      deadline.addEventListener('abort', onAbort, { once: true });
      this.queue.push(turn);
    });
  }

  private release(): void {
    this.active -= 1;
    this.queue.shift()?.();
  }
}
