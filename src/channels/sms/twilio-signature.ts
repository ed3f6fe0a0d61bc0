import { createHmac, timingSafeEqual } from 'node:crypto';
import type { DeliveryStatus } from '../../core/domain.js';

/**
 * Twilio's request signature (`X-Twilio-Signature`), as documented at
 * https://www.twilio.com/docs/usage/webhooks/webhooks-security: base64(HMAC-SHA1(authToken,
 * fullUrl + name1 + value1 + name2 + value2 …)) with POST parameters sorted by name. Query-string
 * parameters are not re-sorted: they are part of the URL exactly as Twilio requested it.
 */
export function computeTwilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  const hmac = createHmac('sha1', authToken);
  hmac.update(url, 'utf8');
  // Twilio sorts by Unicode code point; its parameter names are ASCII, where that equals
  // the UTF-16 order of Array.prototype.sort.
  for (const name of Object.keys(params).sort()) {
    hmac.update(name, 'utf8');
    hmac.update(params[name] ?? '', 'utf8');
  }
  return hmac.digest('base64');
}

/**
 * True when `signature` is Twilio's signature of this request. Also accepts the URL with the
 * scheme's default port added or removed, as Twilio's own helper libraries do, because a TLS
 * terminator in front of us may rewrite `:443` either way relative to what Twilio signed.
 */
export function validateTwilioSignature(
  authToken: string,
  url: string,
  params: Record<string, string>,
  signature: string | undefined | null,
): boolean {
  if (typeof signature !== 'string' || signature.length === 0) return false;
  const given = Buffer.from(signature, 'utf8');
  let ok = false;
  for (const candidate of defaultPortVariants(url)) {
    // Compare the base64 text, not decoded bytes: Node's base64 decoder skips invalid
    // characters, so decoding would accept altered header values.
    const expected = Buffer.from(computeTwilioSignature(authToken, candidate, params), 'utf8');
    if (expected.length === given.length && timingSafeEqual(expected, given)) ok = true;
  }
  return ok;
}

const DEFAULT_PORTS: Record<string, string> = { 'http://': '80', 'https://': '443' };

function defaultPortVariants(url: string): string[] {
  const m = /^(https?:\/\/)([^/?#]*)(.*)$/is.exec(url);
  if (!m) return [url];
  const [, scheme, authority, rest] = m;
  const defaultPort = DEFAULT_PORTS[scheme!.toLowerCase()]!;
  const at = authority!.lastIndexOf('@');
  const userinfo = authority!.slice(0, at + 1);
  const hostPort = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(authority!.slice(at + 1));
  if (!hostPort) return [url];
  const [, host, port] = hostPort;
  if (port === undefined || port === '') {
    return [url, `${scheme}${userinfo}${host}:${defaultPort}${rest}`];
  }
  if (port === defaultPort) return [url, `${scheme}${userinfo}${host}${rest}`];
  return [url];
}

/** Sealpost delivery statuses a Twilio status callback can move a delivery to. */
export type TwilioMappedStatus = Extract<DeliveryStatus, 'sent' | 'delivered' | 'failed'>;

/**
 * Twilio `MessageStatus` → Sealpost delivery status; null means "ignore this callback".
 * https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
 *
 * Pre-carrier states are ignored because the delivery is already 'sent' once the API accepted it.
 * `read` (WhatsApp/RCS) only proves the device showed the nudge, so it is 'delivered'; Sealpost's
 * own 'read' means the patient opened the content in the portal after verification.
 */
export const TWILIO_STATUS_MAP: Readonly<Record<string, TwilioMappedStatus | null>> = Object.freeze({
  accepted: null,
  scheduled: null,
  queued: null,
  sending: null,
  sent: 'sent',
  delivered: 'delivered',
  read: 'delivered',
  // Some segments arrived and some did not: wait for a final status rather than guess.
  partially_delivered: null,
  undelivered: 'failed',
  failed: 'failed',
  canceled: 'failed',
  // Inbound-message states; never reported for messages we sent.
  receiving: null,
  received: null,
});

/** Maps a callback's MessageStatus, treating values Twilio may add later as "ignore". */
export function mapTwilioStatus(messageStatus: string | undefined | null): TwilioMappedStatus | null {
  if (typeof messageStatus !== 'string') return null;
  return Object.hasOwn(TWILIO_STATUS_MAP, messageStatus) ? (TWILIO_STATUS_MAP[messageStatus] ?? null) : null;
}
