import { request } from 'node:https';
import type { ClientRequest } from 'node:http';

export interface SseEvent {
  event: string;
  data: string;
}

export interface SseClient {
  /** The response's status and headers, once they arrived. */
  opened: Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>;
  /** Every event received so far, in order (comments left out). */
  events: SseEvent[];
  /** Everything received, comments included. */
  raw: () => string;
  /** Resolves when the server ended the stream. */
  ended: Promise<void>;
  close(): void;
}

/** A Server-Sent Events client over real TLS trusting only `ca` (an EventSource as a browser opens it). */
export function openSse(base: string, path: string, ca: string, headers: Record<string, string>): SseClient {
  const events: SseEvent[] = [];
  let text = '';
  let buffer = '';
  let req: ClientRequest;
  let endedResolve!: () => void;
  const ended = new Promise<void>((r) => (endedResolve = r));
  const opened = new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>(
    (resolve, reject) => {
      req = request(
        new URL(path, base),
        { method: 'GET', ca, headers: { accept: 'text/event-stream', ...headers } },
        (res) => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers });
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
            buffer += chunk;
            for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
              const block = buffer.slice(0, i);
              buffer = buffer.slice(i + 2);
              let event = 'message';
              const data: string[] = [];
              for (const line of block.split('\n')) {
                if (line.startsWith(':')) continue;
                if (line.startsWith('event: ')) event = line.slice(7);
                else if (line.startsWith('data: ')) data.push(line.slice(6));
              }
              if (data.length) events.push({ event, data: data.join('\n') });
            }
          });
          res.on('end', endedResolve);
          res.on('close', endedResolve);
          res.on('error', endedResolve);
        },
      );
      req.on('error', (e) => {
        reject(e);
        endedResolve();
      });
      req.end();
    },
  );
  return { opened, events, raw: () => text, ended, close: () => req.destroy() };
}

/** The `inbox` states received so far, parsed. */
export const inboxStates = (c: SseClient) =>
  c.events
    .filter((e) => e.event === 'inbox')
    .map((e) => JSON.parse(e.data) as { total: number; unread: number; newest: string | null; acknowledged: number });
