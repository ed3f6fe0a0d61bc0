import type { ChannelKind } from '../core/domain.js';

/**
 * Every kind of outbound channel: patients' contact-point kinds (ChannelKind) plus `paging`, which
 * only staff alerting uses (a pager id is never a patient contact point, so it stays out of CHANNEL_KINDS).
 */
export type OutboundChannelKind = ChannelKind | 'paging';

/** One outbound message. Content here is already PHI-free unless the channel is declared secure. */
export interface OutboundMessage {
  /** Stable across every attempt of this delivery: providers de-duplicate on it. */
  deliveryId: string;
  notificationId: string;
  tenantId: string;
  channel: OutboundChannelKind;
  /** Phone (E.164), e-mail address, https URL or pager id. */
  to: string;
  subject?: string;
  text: string;
  /** The one-time portal link the text points to, for channels that carry structured data (webhook). */
  link?: string;
}

export interface SendResult {
  /** Provider's own id (Twilio SID, SMTP message id…), kept to match status callbacks. */
  providerMessageId?: string;
  /** 'delivered' when the provider is the final hop (dev outbox, webhook answered 2xx). */
  status: 'sent' | 'delivered';
}

/**
 * A channel adapter: sends one message through one provider.
 *
 * Contract:
 * - `send` resolves only when the provider has accepted the message.
 * - It rejects with a `ChannelError`; `retryable` says whether another attempt may succeed
 *   (timeouts, 5xx, 429, connection errors) or not (4xx validation, unknown recipient).
 * - Every attempt for the same `deliveryId` carries it to the provider as an idempotency key.
 * - It never logs message content or recipient.
 */
export interface Channel {
  readonly kind: OutboundChannelKind;
  /** Provider name for metrics and status (`dev-outbox`, `smtp`, `twilio`, `http`, `snpp`). */
  readonly provider: string;
  send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult>;
  close?(): Promise<void>;
}

export class ChannelError extends Error {
  constructor(
    /** Stable PHI-free code stored as the delivery's last error, e.g. SP_CHANNEL_SEND_FAILED. */
    readonly code:
      | 'SP_CHANNEL_SEND_FAILED'
      | 'SP_CHANNEL_TIMEOUT'
      | 'SP_CHANNEL_TLS_REJECTED'
      | 'SP_CHANNEL_ADDRESS_REFUSED'
      /** The provider says the recipient no longer exists (a push token answered 404/410/Unregistered): pruned. */
      | 'SP_CHANNEL_RECIPIENT_GONE',
    readonly retryable: boolean,
    /** PHI-free detail such as the provider's status code. */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${detail}`, options);
    this.name = 'ChannelError';
  }
}

/** Maps a thrown fetch/abort/network error into a ChannelError. */
export function toChannelError(e: unknown, what: string): ChannelError {
  if (e instanceof ChannelError) return e;
  const name = (e as { name?: string })?.name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new ChannelError('SP_CHANNEL_TIMEOUT', true, `${what} timed out`, { cause: e });
  }
  return new ChannelError('SP_CHANNEL_SEND_FAILED', true, `${what} unreachable`, { cause: e });
}

/** Classifies an HTTP status from a provider: 408, 425, 429 and 5xx are worth retrying. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}
