import { createTransport } from 'nodemailer';
import type { ChannelKind } from '../../core/domain.js';
import { ChannelError } from '../channel.js';
import { trustedCas } from '../outbound-tls.js';
import { isLoopbackHost } from '../../config/loopback.js';
import type { Channel, OutboundMessage, SendResult } from '../channel.js';

export interface SmtpEmailChannelOptions {
  host: string;
  port: number;
  /** 'tls' = implicit TLS (SMTPS, usually 465); 'starttls' = STARTTLS required; 'none' = plaintext (loopback host only). */
  security: 'tls' | 'starttls' | 'none';
  user?: string;
  password?: string;
  /** Envelope and header sender, e.g. `"Clinic" <no-reply@clinic.example>`. */
  from: string;
  /** Deadline for one whole send: connect, TLS, AUTH and the message transaction. */
  timeoutMs: number;
  /** Verify the server certificate (default true). Only a test or a pinned `ca` should need less. */
  rejectUnauthorized?: boolean;
  /** Extra trusted CAs (PEM), e.g. a private relay's own certificate authority; added to Node's bundled store. */
  ca?: string | Buffer | (string | Buffer)[];
}

/** The slice of nodemailer's error we read; see nodemailer's NodemailerError. */
interface SmtpFailure {
  name?: string;
  code?: string;
  originalCode?: string;
  responseCode?: number;
  response?: string;
  permanent?: boolean;
  cause?: unknown;
}

/**
 * E-mail over SMTP via nodemailer, one connection per message.
 *
 * Duplicates: if the connection drops after the server accepted DATA but before we read its 250,
 * a retry sends the message again. Message-ID and X-Sealpost-Delivery-Id stay the same on every
 * attempt so receiving systems can recognise the copy (RFC 5322 §3.6.4).
 */
export class SmtpEmailChannel implements Channel {
  readonly kind: ChannelKind = 'email';
  readonly provider = 'smtp';
  private readonly transport;
  private readonly from: string;
  private readonly timeoutMs: number;

  constructor(options: SmtpEmailChannelOptions) {
    // AUTH and the messages would cross the network in clear text: only to this machine.
    if (options.security === 'none' && !isLoopbackHost(options.host)) {
      throw new Error('smtp security none (plaintext) is allowed only to a loopback address');
    }
    this.from = options.from;
    this.timeoutMs = options.timeoutMs;
    const ca = trustedCas(...([] as (string | Buffer | undefined)[]).concat(options.ca));
    this.transport = createTransport({
      host: options.host,
      port: options.port,
      secure: options.security === 'tls',
      requireTLS: options.security === 'starttls',
      // 'none' must not upgrade opportunistically either: the operator chose a plaintext relay.
      ignoreTLS: options.security === 'none',
      auth: options.user !== undefined ? { user: options.user, pass: options.password ?? '' } : undefined,
      tls: {
        rejectUnauthorized: options.rejectUnauthorized ?? true,
        ...(ca ? { ca } : {}),
      },
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
      // The transaction log would carry recipients and content (PHI rule): keep all logging off.
      logger: false,
      debug: false,
      // Our messages never reference files or URLs; refuse them so content cannot make us fetch.
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  }

  async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
    // The id becomes the left part of a Message-ID and a header value: restrict it to dot-atom text.
    if (!/^[A-Za-z0-9._-]{1,200}$/.test(message.deliveryId)) {
      throw new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'smtp invalid delivery id');
    }
    const timeout = AbortSignal.timeout(this.timeoutMs);
    try {
      const info = await this.transport.sendMail({
        from: this.from,
        to: message.to,
        subject: message.subject ?? '',
        text: message.text,
        messageId: `<${message.deliveryId}@sealpost.invalid>`,
        headers: { 'X-Sealpost-Delivery-Id': message.deliveryId },
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
      });
      return { status: 'sent', providerMessageId: info.messageId };
    } catch (e) {
      throw toSmtpChannelError(e);
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}

/** Node/OpenSSL codes for a server certificate that failed verification. */
const CERTIFICATE_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME_INVALID|INVALID_CA/;

function hasCertificateError(e: unknown): boolean {
  for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as SmtpFailure).cause, depth += 1) {
    const f = cur as SmtpFailure;
    if (CERTIFICATE_ERROR.test(f.originalCode ?? '') || CERTIFICATE_ERROR.test(f.code ?? '')) return true;
  }
  return false;
}

/**
 * Maps a nodemailer failure to a ChannelError. The server's reply text is never copied: it
 * routinely echoes the recipient address (PHI rule). The raw error is not attached as `cause`
 * for the same reason, because error serialisers in logs walk the cause chain.
 */
export function toSmtpChannelError(e: unknown): ChannelError {
  if (e instanceof ChannelError) return e;
  const f = (e ?? {}) as SmtpFailure;
  if (f.name === 'AbortError' || f.name === 'TimeoutError' || f.code === 'EABORT' || f.code === 'ETIMEDOUT') {
    return new ChannelError('SP_CHANNEL_TIMEOUT', true, 'smtp timed out');
  }
  if (typeof f.responseCode === 'number') {
    // RFC 5321 §4.2.1: 5yz is permanent, 4yz transient. nodemailer's `permanent` also treats
    // 503 (bad command sequence) as transient, since a fresh connection can succeed.
    const permanent = f.permanent ?? (f.responseCode >= 500 && f.responseCode < 600);
    const enhanced = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(f.response ?? '')?.[1];
    return new ChannelError(
      'SP_CHANNEL_SEND_FAILED',
      !permanent,
      enhanced ? `smtp ${f.responseCode} ${enhanced}` : `smtp ${f.responseCode}`,
    );
  }
  // A certificate that does not verify will not verify on the next attempt either; failing now
  // lets fail-over reach the patient through the next channel instead of burning retries.
  if (hasCertificateError(e)) {
    return new ChannelError('SP_CHANNEL_TLS_REJECTED', false, 'smtp tls certificate rejected');
  }
  switch (f.code) {
    case 'EAUTH':
    case 'ENOAUTH':
      return new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'smtp authentication failed');
    case 'EENVELOPE':
      return new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'smtp envelope invalid');
    case 'ETLS':
      return new ChannelError('SP_CHANNEL_SEND_FAILED', true, 'smtp tls failed');
    case 'ECONNECTION':
    case 'ESOCKET':
    case 'EDNS':
      return new ChannelError('SP_CHANNEL_SEND_FAILED', true, `smtp unreachable (${f.code})`);
    default:
      // Unknown failures may be transient; only a code from a fixed vocabulary goes in the detail.
      return new ChannelError(
        'SP_CHANNEL_SEND_FAILED',
        true,
        /^[A-Z][A-Z0-9_]{1,40}$/.test(f.code ?? '') ? `smtp failed (${f.code})` : 'smtp failed',
      );
  }
}
