/**
 * The live connection (`GET /v1/messaging/live?deviceId=`): event frames tell the client which
 * conversation to catch up on; a lost connection is opened again with backoff, and while it is down
 * the client pulls on a timer instead. A browser uses its global WebSocket (the session cookie
 * authenticates); Node passes a factory, or gets the `ws` package loaded lazily with the bearer
 * header.
 */
import type { LiveFrame } from './wire-types.js';

/** The part of a WebSocket the client uses (the browser's and `ws`'s both fit). */
export interface WebSocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number): void;
}

/** Opens a WebSocket to `url` with these headers (a browser cannot send headers: it ignores them). */
export type WebSocketFactory = (url: string, headers: Record<string, string>) => WebSocketLike;

export async function defaultWebSocketFactory(): Promise<WebSocketFactory> {
  const g = globalThis as { WebSocket?: new (url: string) => WebSocketLike; window?: unknown };
  if (g.window !== undefined && g.WebSocket) return (url) => new g.WebSocket!(url);
  // Node: the ws package takes the bearer header a global WebSocket could not send.
  const mod = 'ws';
  const ws = (await import(/* @vite-ignore */ mod)) as { default: new (url: string, o: object) => WebSocketLike };
  return (url, headers) => new ws.default(url, { headers });
}

export interface LiveOptions {
  url: string;
  headers: () => Record<string, string>;
  factory: () => Promise<WebSocketFactory>;
  onFrame: (frame: LiveFrame) => void;
  onState: (state: 'open' | 'closed') => void;
  /** Called on a timer while the connection is down (pull fallback). */
  poll: () => Promise<void>;
  pollMs: number;
}

export class LiveConnection {
  private socket: WebSocketLike | null = null;
  private stopped = false;
  private backoff = 500;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private pollTimer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly o: LiveOptions) {}

  async start(): Promise<void> {
    this.stopped = false;
    await this.open();
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    let socket: WebSocketLike;
    try {
      socket = (await this.o.factory())(this.o.url, this.o.headers());
    } catch {
      return this.scheduleReconnect();
    }
    this.socket = socket;
    socket.onopen = () => {
      this.backoff = 500;
      this.stopPolling();
      this.o.onState('open');
    };
    socket.onmessage = (ev) => {
      try {
        const text = typeof ev.data === 'string' ? ev.data : new TextDecoder().decode(ev.data as Uint8Array);
        this.o.onFrame(JSON.parse(text) as LiveFrame);
      } catch {
        // A frame that does not parse is ignored; the pull catches up anyway.
      }
    };
    socket.onerror = () => undefined;
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.o.onState('closed');
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.startPolling();
    this.retry = setTimeout(() => void this.open(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 30_000);
  }

  private startPolling(): void {
    this.pollTimer ??= setInterval(() => void this.o.poll().catch(() => undefined), this.o.pollMs);
  }

  private stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  /** Acknowledges delivery over the socket (the same as POST …/cursor). */
  ack(conversationId: string, seq: number): boolean {
    if (!this.socket) return false;
    try {
      this.socket.send(JSON.stringify({ type: 'ack', conversationId, seq }));
      return true;
    } catch {
      return false;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.stopPolling();
    const s = this.socket;
    this.socket = null;
    s?.close(1000);
  }
}
