import { ChannelError, isRetryableStatus } from '../channel.js';
import { signWebhook } from './webhook-signature.js';
import { outboundDispatcher } from '../outbound-tls.js';
import { isAddressRefusal, OutboundAddressPolicy, OutboundAddressRefused } from '../outbound-address.js';

export interface EventWebhookSenderOptions {
  /** SEALPOST_EVENT_WEBHOOK_URL: the EHR's endpoint. */
  url: string;
  /** SEALPOST_EVENT_WEBHOOK_SECRET: HMAC key of `Sealpost-Signature`. */
  secret: string;
  timeoutMs: number;
  /** SEALPOST_WEBHOOK_ALLOWED_HOSTS: the outbound address policy of every webhook (outbound-address.ts). */
  allowedHosts?: readonly string[];
  insecureSkipTlsVerify?: boolean;
  ca?: string;
}

/** One event as the receiver sees it (the JSON body, byte for byte what the signature covers). */
export interface EventWebhookEnvelope {
  id: string;
  type: string;
  tenantId: string;
  occurredAt: string;
  data: Record<string, string>;
}

/**
 * POSTs a tenant event to the EHR's event webhook, signed like notification webhooks
 * (`Sealpost-Timestamp`, `Sealpost-Signature: v1=…`, webhook-signature.ts), with the event id as
 * `Idempotency-Key` and `Sealpost-Event-Id` so a receiver can drop a retry of what it already has.
 * The address policy of webhooks applies (public unicast, or a host allowed explicitly; plain http
 * only to an allowed loopback host). A 2xx is success; anything else throws a ChannelError whose
 * `retryable` says whether trying again can help. Errors never name the host.
 */
export class EventWebhookSender {
  private readonly policy: OutboundAddressPolicy;
  private readonly dispatcher: ReturnType<typeof outboundDispatcher>;

  constructor(private readonly o: EventWebhookSenderOptions) {
    this.policy = new OutboundAddressPolicy(o.allowedHosts);
    this.dispatcher = outboundDispatcher({ insecureSkipTlsVerify: o.insecureSkipTlsVerify, ca: o.ca }, this.policy);
  }

  async send(event: EventWebhookEnvelope, signal?: AbortSignal): Promise<void> {
    const url = new URL(this.o.url);
    try {
      this.policy.assertUrl(url);
    } catch (e) {
      if (e instanceof OutboundAddressRefused) throw refused();
      throw e;
    }
    const rawBody = JSON.stringify(event);
    const timestamp = Math.floor(Date.now() / 1000);
    const timeout = AbortSignal.timeout(this.o.timeoutMs);
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'Idempotency-Key': event.id,
          'Sealpost-Event-Id': event.id,
          'Sealpost-Event-Type': event.type,
          'Sealpost-Timestamp': String(timestamp),
          'Sealpost-Signature': signWebhook(this.o.secret, timestamp, rawBody),
        },
        body: rawBody,
        redirect: 'manual',
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
        dispatcher: this.dispatcher,
      } as RequestInit);
    } catch (e) {
      if (isAddressRefusal(e)) throw refused();
      const name = (e as { name?: string } | null)?.name;
      if (name === 'TimeoutError' || name === 'AbortError')
        throw new ChannelError('SP_CHANNEL_TIMEOUT', true, 'event webhook timed out');
      throw new ChannelError('SP_CHANNEL_SEND_FAILED', true, 'event webhook unreachable');
    }
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return;
    throw new ChannelError('SP_CHANNEL_SEND_FAILED', isRetryableStatus(res.status), `event webhook ${res.status}`);
  }

  async close(): Promise<void> {
    await this.dispatcher?.close();
  }
}

const refused = () => new ChannelError('SP_CHANNEL_ADDRESS_REFUSED', false, 'event webhook address refused');
