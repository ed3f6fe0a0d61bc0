import type { ChannelKind } from '../../core/domain.js';
import { ChannelError, isRetryableStatus, toChannelError } from '../channel.js';
import type { Channel, OutboundMessage, SendResult } from '../channel.js';
import { CERTIFICATE_ERROR, outboundDispatcher } from '../outbound-tls.js';
import { isLoopbackHost } from '../../config/loopback.js';

export interface TwilioSmsChannelOptions {
  /** `https://api.twilio.com` in production; an emulator's URL in tests (http only to a loopback address). */
  baseUrl: string;
  accountSid: string;
  authToken: string;
  /** Sender: an E.164 number, or a Messaging Service SID (`MG…`) to let Twilio pick one. */
  from: string;
  /** Public URL Twilio POSTs status changes to (signed with X-Twilio-Signature), used verbatim. */
  statusCallbackUrl?: string;
  /** Deadline for one attempt, including reading Twilio's answer. */
  timeoutMs: number;
  /** Skip certificate verification (SEALPOST_INSECURE_SKIP_TLS_VERIFY; explicit and logged). */
  insecureSkipTlsVerify?: boolean;
  /** Extra trusted CAs, PEM (SEALPOST_OUTBOUND_CA_FILE). */
  ca?: string;
}

const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;
/** Same rule as Sealpost's own Idempotency-Key: 1–255 printable ASCII characters. */
const HEADER_SAFE_ID = /^[\x21-\x7e]{1,255}$/;

/**
 * SMS through Twilio's Programmable Messaging REST API (2010-04-01), spoken with global fetch so
 * no vendor SDK is needed. https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
 */
export class TwilioSmsChannel implements Channel {
  readonly kind: ChannelKind = 'sms';
  readonly provider = 'twilio';
  private readonly endpoint: string;
  private readonly authorization: string;
  private readonly from: string;
  private readonly statusCallbackUrl?: string;
  private readonly timeoutMs: number;
  private readonly dispatcher?: ReturnType<typeof outboundDispatcher>;

  constructor(options: TwilioSmsChannelOptions) {
    this.dispatcher = outboundDispatcher(options);
    const base = options.baseUrl.replace(/\/+$/, '');
    // The account token travels in the Basic header: never in clear text off this machine.
    const url = new URL(base);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
      throw new Error('twilio base URL must be https (http only to a loopback address)');
    }
    this.endpoint = `${base}/2010-04-01/Accounts/${encodeURIComponent(options.accountSid)}/Messages.json`;
    this.authorization =
      'Basic ' + Buffer.from(`${options.accountSid}:${options.authToken}`, 'utf8').toString('base64');
    this.from = options.from;
    this.statusCallbackUrl = options.statusCallbackUrl;
    this.timeoutMs = options.timeoutMs;
  }

  async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
    if (!HEADER_SAFE_ID.test(message.deliveryId)) {
      throw new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'twilio invalid delivery id');
    }
    const form = new URLSearchParams({ To: message.to, Body: message.text });
    form.set(MESSAGING_SERVICE_SID.test(this.from) ? 'MessagingServiceSid' : 'From', this.from);
    if (this.statusCallbackUrl) form.set('StatusCallback', this.statusCallbackUrl);

    const timeout = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        headers: {
          Authorization: this.authorization,
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
          // Same key on every attempt, so a retry after a lost answer can be recognised.
          'I-Twilio-Idempotency-Token': message.deliveryId,
          'Idempotency-Key': message.deliveryId,
        },
        body: form,
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
      } as RequestInit);
    } catch (e) {
      throw twilioFetchFailure(e);
    }

    if (res.status >= 200 && res.status < 300) {
      // Twilio has accepted the message. Failing to read its answer must not turn into a
      // retryable error, or the retry would send a second SMS; we only lose the SID.
      const body = await readJson(res);
      const sid = typeof body?.sid === 'string' ? body.sid : undefined;
      return sid ? { status: 'sent', providerMessageId: sid } : { status: 'sent' };
    }

    const body = await readJson(res);
    // Twilio's error JSON has a numeric `code` (e.g. 21211) and a `message` that often quotes the
    // phone number: only the code is kept (PHI rule).
    const code = typeof body?.code === 'number' && Number.isInteger(body.code) ? ` ${body.code}` : '';
    throw new ChannelError('SP_CHANNEL_SEND_FAILED', isRetryableStatus(res.status), `twilio ${res.status}${code}`);
  }

  async close(): Promise<void> {
    await this.dispatcher?.close();
  }
}

async function readJson(res: Response): Promise<Record<string, unknown> | undefined> {
  try {
    const parsed: unknown = await res.json();
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function twilioFetchFailure(e: unknown): ChannelError {
  for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth += 1) {
    const code = (cur as { code?: unknown }).code;
    // Same policy as the other channels: a certificate that fails verification fails every
    // retry too, and for api.twilio.com it may be interception; fail over instead.
    if (typeof code === 'string' && CERTIFICATE_ERROR.test(code)) {
      return new ChannelError('SP_CHANNEL_TLS_REJECTED', false, 'twilio tls certificate rejected');
    }
  }
  return toChannelError(e, 'twilio');
}
