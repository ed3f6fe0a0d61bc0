import type { ChannelKind } from '../../core/domain.js';
import { ChannelError, isRetryableStatus } from '../channel.js';
import type { Channel, OutboundMessage, SendResult } from '../channel.js';
import { signWebhook } from './webhook-signature.js';
import { CERTIFICATE_ERROR, outboundDispatcher } from '../outbound-tls.js';
import { isAddressRefusal, OutboundAddressPolicy, OutboundAddressRefused } from '../outbound-address.js';

export interface HttpWebhookChannelOptions {
  /** HMAC key for `Sealpost-Signature`; shared with the receiver out of band. */
  secret: string | Buffer;
  /** Deadline for one attempt: connect, TLS, request and response headers. */
  timeoutMs: number;
  /**
   * SEALPOST_WEBHOOK_ALLOWED_HOSTS: host names, addresses or CIDR ranges allowed although internal
   * (outbound-address.ts). Nothing else but public unicast addresses is reached; plain http only to
   * a loopback host so allowed (tests, development): the payload carries a live portal link.
   */
  allowedHosts?: readonly string[];
  /** Skip certificate verification (SEALPOST_INSECURE_SKIP_TLS_VERIFY; explicit and logged). */
  insecureSkipTlsVerify?: boolean;
  /** Extra trusted CAs, PEM (SEALPOST_OUTBOUND_CA_FILE). */
  ca?: string;
}

/** JSON body POSTed to the receiver; `rawBody` of it is what the signature covers. */
export interface WebhookPayload {
  deliveryId: string;
  notificationId: string;
  tenantId: string;
  type: 'sealpost.notification';
  subject?: string;
  text: string;
  link?: string;
}

/**
 * Delivers a notification as a signed JSON POST (Stripe-style signature, see webhook-signature.ts).
 *
 * The receiver is the final hop, so a 2xx means 'delivered'. Every attempt of one delivery sends
 * the same `Idempotency-Key` and `Sealpost-Delivery-Id`, so a receiver that saw the first attempt
 * (whose answer we lost) can drop the retry.
 */
export class HttpWebhookChannel implements Channel {
  readonly kind: ChannelKind = 'webhook';
  readonly provider = 'http';

  private readonly options: HttpWebhookChannelOptions;
  private readonly dispatcher: NonNullable<ReturnType<typeof outboundDispatcher>>;
  private readonly policy: OutboundAddressPolicy;

  constructor(options: HttpWebhookChannelOptions) {
    this.options = { ...options };
    this.policy = new OutboundAddressPolicy(options.allowedHosts);
    this.dispatcher = outboundDispatcher(options, this.policy)!;
  }

  async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
    const url = this.target(message.to);
    const payload: WebhookPayload = {
      deliveryId: message.deliveryId,
      notificationId: message.notificationId,
      tenantId: message.tenantId,
      type: 'sealpost.notification',
      subject: message.subject,
      text: message.text,
      link: message.link,
    };
    const rawBody = JSON.stringify(payload);
    const timestamp = Math.floor(Date.now() / 1000);
    const timeout = AbortSignal.timeout(this.options.timeoutMs);

    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'Idempotency-Key': message.deliveryId,
          'Sealpost-Delivery-Id': message.deliveryId,
          'Sealpost-Timestamp': String(timestamp),
          'Sealpost-Signature': signWebhook(this.options.secret, timestamp, rawBody),
        },
        body: rawBody,
        // A redirect could move the signed body to another host or down to http; treat it as
        // a misconfigured receiver (3xx is not retryable) rather than follow it.
        redirect: 'manual',
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
        // Its lookup resolves the host once and connects only to the address it allowed.
        dispatcher: this.dispatcher,
      } as RequestInit);
    } catch (e) {
      throw fetchFailure(e, 'webhook');
    }
    // The receiver's reply is not used; release the connection without reading it.
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return { status: 'delivered' };
    throw new ChannelError('SP_CHANNEL_SEND_FAILED', isRetryableStatus(res.status), `webhook ${res.status}`);
  }

  private target(to: string): URL {
    let url: URL;
    try {
      url = new URL(to);
    } catch {
      throw new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'webhook url invalid');
    }
    // fetch refuses these anyway; say so clearly instead of reporting the endpoint unreachable.
    if (url.username || url.password) {
      throw new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'webhook url must not carry credentials');
    }
    // https, and an IP-literal host checked now (a name is checked when the connection resolves it).
    // Every refusal reads the same, whether or not anything listens there: nothing was contacted.
    try {
      this.policy.assertUrl(url);
    } catch (e) {
      if (e instanceof OutboundAddressRefused) throw ADDRESS_REFUSED();
      throw e;
    }
    return url;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

const ADDRESS_REFUSED = () => new ChannelError('SP_CHANNEL_ADDRESS_REFUSED', false, 'webhook address refused');

const TIMEOUT_ERROR = /^(ETIMEDOUT|UND_ERR_CONNECT_TIMEOUT|UND_ERR_HEADERS_TIMEOUT|UND_ERR_BODY_TIMEOUT)$/;

/**
 * Maps a rejected fetch to a ChannelError. Deliberately not `toChannelError(e)`: the raw cause
 * chain can name the receiver's host (e.g. ENOTFOUND <host>), and a webhook URL is a patient's
 * contact point. Only the error name and low-level code survive, in the detail.
 */
function fetchFailure(e: unknown, what: string): ChannelError {
  if (isAddressRefusal(e)) return ADDRESS_REFUSED();
  let code: string | undefined;
  let certificate = false;
  for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth += 1) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(c)) {
      code ??= c;
      if (CERTIFICATE_ERROR.test(c)) certificate = true;
    }
  }
  const name = (e as { name?: string } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError' || TIMEOUT_ERROR.test(code ?? '')) {
    return new ChannelError('SP_CHANNEL_TIMEOUT', true, `${what} timed out`);
  }
  // An untrusted or mismatched certificate will fail the same way on every retry; fail over now.
  if (certificate) return new ChannelError('SP_CHANNEL_TLS_REJECTED', false, `${what} tls certificate rejected`);
  return new ChannelError(
    'SP_CHANNEL_SEND_FAILED',
    true,
    code ? `${what} unreachable (${code})` : `${what} unreachable`,
  );
}
