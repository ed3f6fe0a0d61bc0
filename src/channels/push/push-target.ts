import { createHash } from 'node:crypto';

/**
 * What a `push` contact point holds (sealed, like every contact value): the Web Push subscription a
 * browser's service worker made (RFC 8030 endpoint, RFC 8291 keys), or the token an app got from FCM
 * or APNs. Parsed and checked here, at registration and again at each send.
 */
export const PUSH_KINDS = ['webpush', 'fcm', 'apns'] as const;
export type PushKind = (typeof PUSH_KINDS)[number];

export interface WebPushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export type PushTarget =
  | { kind: 'webpush'; subscription: WebPushSubscription }
  | { kind: 'fcm'; token: string }
  | { kind: 'apns'; token: string };

/** A registration that is not one of the shapes above; `detail` is PHI- and secret-free. */
export class PushTargetInvalid extends Error {
  constructor(readonly detail: string) {
    super(detail);
    this.name = 'PushTargetInvalid';
  }
}

const B64URL = /^[A-Za-z0-9_-]+={0,2}$/;
/** FCM registration tokens: base64url-ish with `:`; 1-4096 printable characters, no spaces. */
const FCM_TOKEN = /^[A-Za-z0-9_:.-]{16,4096}$/;
/** APNs device tokens: 32 bytes (64 hex digits) today; Apple says they may grow, so up to 200 bytes. */
const APNS_TOKEN = /^(?:[0-9a-fA-F]{2}){32,200}$/;

function b64urlBytes(s: unknown, what: string): Buffer {
  if (typeof s !== 'string' || !B64URL.test(s) || s.length > 200) throw new PushTargetInvalid(`${what}: not base64url`);
  return Buffer.from(s.replace(/=+$/, ''), 'base64url');
}

/**
 * Checks a Web Push subscription (the JSON of `PushSubscription.toJSON()`): an absolute https (or
 * loopback http, checked later by the address policy) endpoint without credentials, `p256dh` an
 * uncompressed P-256 point (65 bytes, 0x04 first) and `auth` a 16-byte secret (RFC 8291 §3).
 * Returns the canonical form (only these fields).
 */
export function checkSubscription(raw: unknown): WebPushSubscription {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new PushTargetInvalid('subscription: not an object');
  const { endpoint, keys } = raw as { endpoint?: unknown; keys?: unknown };
  if (typeof endpoint !== 'string' || endpoint.length > 2048) throw new PushTargetInvalid('endpoint: not a URL');
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new PushTargetInvalid('endpoint: not a URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new PushTargetInvalid('endpoint: https required');
  if (u.username || u.password) throw new PushTargetInvalid('endpoint: must not carry credentials');
  if (typeof keys !== 'object' || keys === null) throw new PushTargetInvalid('keys: missing');
  const { p256dh, auth } = keys as { p256dh?: unknown; auth?: unknown };
  const point = b64urlBytes(p256dh, 'keys.p256dh');
  if (point.length !== 65 || point[0] !== 0x04)
    throw new PushTargetInvalid('keys.p256dh: not an uncompressed P-256 point');
  if (b64urlBytes(auth, 'keys.auth').length !== 16) throw new PushTargetInvalid('keys.auth: not 16 bytes');
  return { endpoint: u.toString(), keys: { p256dh: p256dh as string, auth: auth as string } };
}

export function checkToken(kind: 'fcm' | 'apns', raw: unknown): string {
  if (typeof raw !== 'string' || !(kind === 'fcm' ? FCM_TOKEN : APNS_TOKEN).test(raw))
    throw new PushTargetInvalid(`token: not an ${kind === 'fcm' ? 'FCM registration' : 'APNs device'} token`);
  return kind === 'apns' ? raw.toLowerCase() : raw;
}

/** The canonical JSON stored (sealed) as the contact point's value. */
export function serialiseTarget(t: PushTarget): string {
  return t.kind === 'webpush'
    ? JSON.stringify({ kind: t.kind, subscription: t.subscription })
    : JSON.stringify({ kind: t.kind, token: t.token });
}

/** The stored value back as a target; throws PushTargetInvalid if it is not one. */
export function parseTarget(value: string): PushTarget {
  let j: { kind?: unknown; subscription?: unknown; token?: unknown };
  try {
    j = JSON.parse(value) as typeof j;
  } catch {
    throw new PushTargetInvalid('not JSON');
  }
  if (j?.kind === 'webpush') return { kind: 'webpush', subscription: checkSubscription(j.subscription) };
  if (j?.kind === 'fcm' || j?.kind === 'apns') return { kind: j.kind, token: checkToken(j.kind, j.token) };
  throw new PushTargetInvalid('unknown kind');
}

/**
 * What a push carries: the PHI-free title of the nudge and the notification id, nothing else. The
 * app or service worker fetches the notification itself after the patient signed in.
 */
export interface PushPayload {
  title: string;
  notificationId: string;
}

/**
 * A registration named without its secrets, for the development outbox: the service and a short
 * digest of the stored value (tells two devices apart; reveals neither endpoint, keys nor token).
 */
export function describeTarget(value: string): string {
  const digest = createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 12);
  try {
    const t = parseTarget(value);
    return t.kind === 'webpush' ? `webpush:${new URL(t.subscription.endpoint).host}:${digest}` : `${t.kind}:${digest}`;
  } catch {
    return `invalid:${digest}`;
  }
}
