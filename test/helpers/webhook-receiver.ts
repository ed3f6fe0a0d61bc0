import { createServer as createHttpServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { verifyWebhookSignature } from '../../src/channels/webhook/webhook-signature.js';
import { generateTestCertificate } from './smtp-sink.js';

/**
 * A real HTTP(S) server on 127.0.0.1 standing in for a customer's webhook endpoint. It checks the
 * Sealpost signature exactly as a receiver should and records every request it gets.
 */

export interface WebhookRequestRecord {
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** Parsed JSON, or undefined when the body was not JSON. */
  body: unknown;
  validSignature: boolean;
  /** Status this receiver answered with; undefined while a scripted hang holds the request. */
  status?: number;
}

export interface WebhookReceiverOptions {
  secret: string;
  /** Serve https with a fresh self-signed certificate that no client trusts (or with `certificate`). */
  tls?: boolean;
  /** With `tls`: serve this certificate instead, e.g. one issued by a test CA (transport-pki.ts). */
  certificate?: { key: string; cert: string };
}

export interface WebhookReceiver {
  /** Base URL of the endpoint, e.g. http://127.0.0.1:PORT/hook */
  url: string;
  records: WebhookRequestRecord[];
  /** Answer the next `n` requests with `status` (default 500) instead of 204. */
  failNext(n: number, status?: number): void;
  /** Never answer the next `n` requests; close() releases them. */
  hangNext(n: number): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(opts: WebhookReceiverOptions): Promise<WebhookReceiver> {
  const records: WebhookRequestRecord[] = [];
  const failures: number[] = [];
  let hangs = 0;

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = undefined;
      }
      const header = (name: string): string | undefined => {
        const v = req.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      const record: WebhookRequestRecord = {
        headers: req.headers,
        rawBody,
        body,
        validSignature: verifyWebhookSignature(
          opts.secret,
          { timestamp: header('sealpost-timestamp'), signature: header('sealpost-signature') },
          rawBody,
        ),
      };
      records.push(record);
      if (hangs > 0) {
        hangs -= 1;
        return;
      }
      record.status = failures.shift() ?? 204;
      res.statusCode = record.status;
      res.end();
    });
  };

  let server: HttpServer | HttpsServer;
  if (opts.tls) {
    const { key, cert } = opts.certificate ?? (await generateTestCertificate());
    server = createHttpsServer({ key, cert }, handler);
  } else {
    server = createHttpServer(handler);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}/hook`,
    records,
    failNext(n, status = 500) {
      for (let i = 0; i < n; i += 1) failures.push(status);
    },
    hangNext(n) {
      hangs += n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Hung requests and keep-alive sockets would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}
