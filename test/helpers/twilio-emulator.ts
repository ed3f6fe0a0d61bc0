import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { computeTwilioSignature } from '../../src/channels/sms/twilio-signature.js';

/**
 * A real HTTP server on 127.0.0.1 emulating the slice of Twilio's Messages API the SMS channel
 * uses (POST /2010-04-01/Accounts/{AccountSid}/Messages.json), including signed status callbacks.
 */

export interface EmulatedMessage {
  sid: string;
  to: string;
  from: string;
  body: string;
  statusCallback?: string;
  idempotencyToken?: string;
}

export interface EmulatedRequest {
  idempotencyToken?: string;
  idempotencyKey?: string;
  /** Status answered; undefined for a request held by hangNext. */
  status?: number;
}

export interface TwilioEmulator {
  baseUrl: string;
  /** Messages Twilio accepted, without replays. */
  messages: EmulatedMessage[];
  /** Every request to the Messages endpoint, in arrival order. */
  requests: EmulatedRequest[];
  /** Answer the next `n` requests with `status` and Twilio-style error JSON, processing nothing. */
  failNext(n: number, status?: number): void;
  /**
   * Never answer the next `n` requests. With `afterAccept` the message is accepted and recorded
   * first: the "answer lost on the way back" case that idempotency tokens exist for.
   */
  hangNext(n: number, opts?: { afterAccept?: boolean }): void;
  /** POSTs a signed status callback for `sid` to its StatusCallback URL; resolves with the answer. */
  sendStatusCallback(sid: string, status: string, opts?: { errorCode?: string }): Promise<{ status: number }>;
  close(): Promise<void>;
}

const E164 = /^\+[1-9]\d{1,14}$/;

function twilioError(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }));
}

export async function startTwilioEmulator(opts: { accountSid: string; authToken: string }): Promise<TwilioEmulator> {
  const messages: EmulatedMessage[] = [];
  const requests: EmulatedRequest[] = [];
  const failures: number[] = [];
  const hangs: Array<{ afterAccept: boolean }> = [];
  const byToken = new Map<string, string>();
  const expectedAuth = 'Basic ' + Buffer.from(`${opts.accountSid}:${opts.authToken}`).toString('base64');
  const path = `/2010-04-01/Accounts/${opts.accountSid}/Messages.json`;

  const resource = (m: EmulatedMessage) => ({
    sid: m.sid,
    account_sid: opts.accountSid,
    to: m.to,
    from: m.from,
    body: m.body,
    status: 'queued',
    direction: 'outbound-api',
    api_version: '2010-04-01',
    num_segments: '1',
    error_code: null,
    error_message: null,
    uri: `/2010-04-01/Accounts/${opts.accountSid}/Messages/${m.sid}.json`,
  });

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string): void => {
    if (req.method !== 'POST' || req.url !== path)
      return twilioError(res, 404, 20404, 'The requested resource was not found');
    const header = (name: string) => (req.headers[name] as string | undefined) ?? undefined;
    const entry: EmulatedRequest = {
      idempotencyToken: header('i-twilio-idempotency-token'),
      idempotencyKey: header('idempotency-key'),
    };
    requests.push(entry);
    const answer = (status: number, write: () => void) => {
      entry.status = status;
      write();
    };

    const hang = hangs.shift();
    if (hang && !hang.afterAccept) return;
    const failure = failures.shift();
    if (failure !== undefined) {
      return answer(failure, () =>
        twilioError(
          res,
          failure,
          failure === 429 ? 20429 : 20500,
          failure === 429 ? 'Too Many Requests' : 'Service error',
        ),
      );
    }
    if (req.headers.authorization !== expectedAuth)
      return answer(401, () => twilioError(res, 401, 20003, 'Authenticate'));

    const form = new URLSearchParams(raw);
    const to = form.get('To') ?? '';
    const from = form.get('From') ?? form.get('MessagingServiceSid') ?? '';
    const body = form.get('Body') ?? '';
    const statusCallback = form.get('StatusCallback') ?? undefined;
    // Twilio's real 21211 message quotes the number, which is why the channel must not copy it.
    if (!to) return answer(400, () => twilioError(res, 400, 21604, "A 'To' phone number is required."));
    if (!E164.test(to))
      return answer(400, () => twilioError(res, 400, 21211, `The 'To' number ${to} is not a valid phone number.`));
    if (!from) return answer(400, () => twilioError(res, 400, 21603, "A 'From' phone number is required."));
    if (!body) return answer(400, () => twilioError(res, 400, 21602, 'Message body is required.'));
    if (statusCallback !== undefined && !/^https?:\/\//.test(statusCallback)) {
      return answer(400, () => twilioError(res, 400, 21609, 'Invalid StatusCallback URL'));
    }

    const token = entry.idempotencyToken;
    let message = token ? messages.find((m) => m.sid === byToken.get(token)) : undefined;
    if (!message) {
      message = {
        sid: 'SM' + randomBytes(16).toString('hex'),
        to,
        from,
        body,
        statusCallback,
        idempotencyToken: token,
      };
      messages.push(message);
      if (token) byToken.set(token, message.sid);
    }
    if (hang) return; // accepted, but the answer is "lost"
    const accepted = message;
    answer(201, () => {
      res.writeHead(201, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(resource(accepted)));
    });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    messages,
    requests,
    failNext(n, status = 500) {
      for (let i = 0; i < n; i += 1) failures.push(status);
    },
    hangNext(n, { afterAccept = false } = {}) {
      for (let i = 0; i < n; i += 1) hangs.push({ afterAccept });
    },
    sendStatusCallback(sid, status, { errorCode } = {}) {
      const m = messages.find((x) => x.sid === sid);
      if (!m?.statusCallback) return Promise.reject(new Error(`no StatusCallback for ${sid}`));
      const params: Record<string, string> = {
        MessageSid: sid,
        SmsSid: sid,
        MessageStatus: status,
        SmsStatus: status,
        AccountSid: opts.accountSid,
        To: m.to,
        From: m.from,
        ApiVersion: '2010-04-01',
        ...(errorCode ? { ErrorCode: errorCode } : {}),
      };
      const url = new URL(m.statusCallback);
      const payload = new URLSearchParams(params).toString();
      const headers = {
        'Content-Type': 'application/x-www-form-urlencoded',
        'Content-Length': Buffer.byteLength(payload),
        'X-Twilio-Signature': computeTwilioSignature(opts.authToken, m.statusCallback, params),
      };
      return new Promise((resolve, reject) => {
        const done = (res: IncomingMessage) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        };
        // Test helper only: the receiver's self-signed certificate is not verified.
        const req =
          url.protocol === 'https:'
            ? httpsRequest(url, { method: 'POST', headers, rejectUnauthorized: false }, done)
            : httpRequest(url, { method: 'POST', headers }, done);
        req.on('error', reject);
        req.end(payload);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
