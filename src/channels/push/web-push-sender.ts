import webpush from 'web-push';
import type { Agent } from 'undici';
import { ChannelError, isRetryableStatus } from '../channel.js';
import { outboundDispatcher, type OutboundTls } from '../outbound-tls.js';
import { OutboundAddressPolicy, OutboundAddressRefused } from '../outbound-address.js';
import type { PushPayload, WebPushSubscription } from './push-target.js';
import type { VapidKeys } from './vapid-keys.js';
import { gone, pushFailure } from './push-http.js';

export interface WebPushSenderOptions extends OutboundTls {
  vapidSubject: string;
  vapidKeys: () => Promise<VapidKeys>;
  /** The webhook address policy (SEALPOST_WEBHOOK_ALLOWED_HOSTS): an endpoint is a caller-given URL. */
  allowedHosts: readonly string[];
  timeoutMs: number;
  /** How long the push service keeps an undelivered message (seconds). */
  ttlSeconds?: number;
}

/**
 * Web Push (RFC 8030) with VAPID (RFC 8292) and the aes128gcm payload encryption of RFC 8291, done
 * by the `web-push` library (`generateRequestDetails`: it encrypts and signs, we send). The request
 * goes out through fetch with the outbound address policy, like a webhook: the endpoint came from a
 * browser, so it is reached only at a public address (or one the operator allowed), resolved once.
 */
export class WebPushSender {
  private readonly policy: OutboundAddressPolicy;
  private readonly dispatcher: Agent;

  constructor(private readonly options: WebPushSenderOptions) {
    this.policy = new OutboundAddressPolicy(options.allowedHosts);
    this.dispatcher = outboundDispatcher(options, this.policy)!;
  }

  /** Refuses an endpoint the address policy refuses before any connection (an IP literal, plain http). */
  assertEndpoint(endpoint: string): void {
    this.policy.assertUrl(new URL(endpoint));
  }

  async send(subscription: WebPushSubscription, payload: PushPayload, id: string, signal?: AbortSignal): Promise<void> {
    try {
      this.assertEndpoint(subscription.endpoint);
    } catch (e) {
      if (e instanceof OutboundAddressRefused)
        throw new ChannelError('SP_CHANNEL_ADDRESS_REFUSED', false, 'web push address refused');
      throw e;
    }
    const keys = await this.options.vapidKeys();
    const req = webpush.generateRequestDetails(subscription, JSON.stringify(payload), {
      vapidDetails: { subject: this.options.vapidSubject, publicKey: keys.publicKey, privateKey: keys.privateKey },
      contentEncoding: 'aes128gcm',
      TTL: this.options.ttlSeconds ?? 86_400,
      urgency: 'normal',
    });
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    let res: Response;
    try {
      res = await fetch(req.endpoint, {
        method: 'POST',
        headers: { ...(req.headers as Record<string, string>), 'Sealpost-Delivery-Id': id },
        body: req.body,
        redirect: 'manual',
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
        dispatcher: this.dispatcher,
      } as RequestInit);
    } catch (e) {
      throw pushFailure(e, 'web push');
    }
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return;
    // RFC 8030 §7.3: 404 and 410, the subscription expired or was unsubscribed.
    if (res.status === 404 || res.status === 410) throw gone('web push', String(res.status));
    throw new ChannelError('SP_CHANNEL_SEND_FAILED', isRetryableStatus(res.status), `web push ${res.status}`);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
