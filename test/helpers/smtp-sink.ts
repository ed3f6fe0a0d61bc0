import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerSession } from 'smtp-server';

/**
 * A real SMTP server (nodemailer's smtp-server) on 127.0.0.1 that keeps every accepted message,
 * for integration tests of the e-mail channel. Rejections and hangs are scripted per transaction.
 */

export interface SmtpSinkOptions {
  /**
   * 'starttls' (default) offers STARTTLS, 'implicit' speaks TLS from the first byte (SMTPS),
   * 'none' does not offer STARTTLS at all.
   */
  tls?: 'none' | 'starttls' | 'implicit';
  /** Require AUTH PLAIN/LOGIN with these credentials. */
  auth?: { user: string; password: string };
}

export interface ReceivedMail {
  envelope: { mailFrom: string; rcptTo: string[] };
  /** The message exactly as transmitted after DATA (CRLF line ends). */
  raw: string;
  /** Header fields by lower-cased name, unfolded; the first occurrence wins. */
  headers: Record<string, string>;
  /** True when the transaction ran over TLS (implicit or after STARTTLS). */
  secure: boolean;
  authenticatedUser?: string;
}

export interface SmtpSink {
  port: number;
  messages: ReceivedMail[];
  /** PEM of the sink's self-signed certificate, to pass to a client as its trusted `ca`. */
  cert: string;
  /** Rejects the next `n` transactions with `code` at RCPT TO (default) or after DATA. */
  rejectNext(n: number, code: number, stage?: 'rcpt' | 'data'): void;
  /** The next `n` transactions receive the whole message but never get a reply to DATA. */
  hangNext(n: number): void;
  close(): Promise<void>;
}

/** Generates a certificate valid for 127.0.0.1 and localhost; EC keeps generation fast. */
export async function generateTestCertificate(): Promise<{ key: string; cert: string }> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

function parseHeaders(raw: string): Record<string, string> {
  const end = raw.indexOf('\r\n\r\n');
  const block = (end === -1 ? raw : raw.slice(0, end)).replace(/\r\n[ \t]+/g, ' ');
  const headers: Record<string, string> = {};
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers[name] ??= line.slice(colon + 1).trim();
  }
  return headers;
}

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

export async function startSmtpSink(opts: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const mode = opts.tls ?? 'starttls';
  const { key, cert } = await generateTestCertificate();
  const messages: ReceivedMail[] = [];
  const rejections: Array<{ code: number; stage: 'rcpt' | 'data' }> = [];
  let hangs = 0;

  // A transaction's scripted fate is decided at RCPT so a DATA-stage rejection hits the same one.
  const fate = new WeakMap<SMTPServerSession['envelope'], 'hang' | { code: number; stage: 'rcpt' | 'data' }>();

  const server = new SMTPServer({
    secure: mode === 'implicit',
    key,
    cert,
    disabledCommands: mode === 'none' ? ['STARTTLS'] : [],
    authOptional: !opts.auth,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    disableReverseLookup: true,
    closeTimeout: 100,
    onAuth(auth, _session, callback) {
      const ok = opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.password;
      if (!ok) return callback(smtpError(535, '5.7.8 Authentication credentials invalid'));
      callback(null, { user: auth.username });
    },
    onRcptTo(address, session, callback) {
      if (!fate.has(session.envelope)) {
        const scripted = rejections.shift();
        if (scripted) fate.set(session.envelope, scripted);
        else if (hangs > 0) {
          hangs -= 1;
          fate.set(session.envelope, 'hang');
        }
      }
      const f = fate.get(session.envelope);
      if (f && f !== 'hang' && f.stage === 'rcpt') {
        // Real servers echo the address in the reply; the channel must keep it out of its errors.
        return callback(smtpError(f.code, `<${address.address}>: Recipient address rejected`));
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const f = fate.get(session.envelope);
        if (f === 'hang') return; // never answer; close() tears the connection down
        if (f && f.stage === 'data') {
          return callback(smtpError(f.code, 'Message content rejected'));
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const mailFrom = session.envelope.mailFrom;
        messages.push({
          envelope: {
            mailFrom: mailFrom ? mailFrom.address : '',
            rcptTo: session.envelope.rcptTo.map((r) => r.address),
          },
          raw,
          headers: parseHeaders(raw),
          secure: session.secure,
          authenticatedUser: typeof session.user === 'string' ? session.user : undefined,
        });
        callback(null, 'Queued as sink-' + messages.length);
      });
    },
  });
  server.on('error', () => {
    // Client-side resets (e.g. a rejected certificate) surface here; they are expected in tests.
  });

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;

  return {
    port,
    messages,
    cert,
    rejectNext(n, code, stage = 'rcpt') {
      for (let i = 0; i < n; i += 1) rejections.push({ code, stage });
    },
    hangNext(n) {
      hangs += n;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
