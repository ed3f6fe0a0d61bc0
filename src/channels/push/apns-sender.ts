import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { importPKCS8, SignJWT } from 'jose';
import { ChannelError, isRetryableStatus } from '../channel.js';
import { trustedCas, type OutboundTls } from '../outbound-tls.js';
import type { PushPayload } from './push-target.js';
import { gone, pushFailure } from './push-http.js';

export interface ApnsSenderOptions extends OutboundTls {
  /** The .p8 signing key (PKCS#8 PEM, P-256). */
  key: string;
  keyId: string;
  teamId: string;
  /** The app's bundle id (`apns-topic`). */
  topic: string;
  /** `https://api.push.apple.com` (SEALPOST_APNS_BASE_URL). */
  baseUrl: string;
  /** Minutes one provider token is used (Apple: refresh no more often than every 20, at least every 60). */
  tokenRefreshMinutes: number;
  timeoutMs: number;
  now?: () => number;
}

/**
 * APNs: HTTP/2 over TLS (node:http2, one session per sender, reopened when it closes), authenticated
 * with an ES256 provider token (JWT with the key id and team id) signed with jose. The token is made
 * once and reused for `tokenRefreshMinutes` (20-60 minutes, as Apple requires: a new token per request
 * would be refused with TooManyProviderTokenUpdates); an `ExpiredProviderToken` answer makes a new one.
 */
export class ApnsSender {
  private readonly now: () => number;
  private session: ClientHttp2Session | undefined;
  private token: { value: string; issuedAt: number } | undefined;
  private signing: Promise<{ value: string; issuedAt: number }> | undefined;
  private key: Promise<CryptoKey> | undefined;

  constructor(private readonly options: ApnsSenderOptions) {
    this.now = options.now ?? Date.now;
  }

  async send(token: string, payload: PushPayload, id: string, signal?: AbortSignal): Promise<string | undefined> {
    const bearer = await this.providerToken();
    const body = JSON.stringify({ aps: { alert: { title: payload.title } }, notificationId: payload.notificationId });
    const headers = {
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: `/3/device/${token}`,
      authorization: `bearer ${bearer.value}`,
      'apns-topic': this.options.topic,
      'apns-push-type': 'alert',
      'apns-priority': '10',
      'apns-expiration': String(Math.floor(this.now() / 1000) + 86_400),
      // A UUID: APNs echoes it, and the same id on a retry lets the device drop the duplicate.
      ...(UUID.test(id) ? { 'apns-id': id } : {}),
      'content-type': 'application/json',
    };
    const res = await this.request(headers, body, signal);
    if (res.status === 200) {
      const apnsId = res.headers['apns-id'];
      return typeof apnsId === 'string' && UUID.test(apnsId) ? apnsId : undefined;
    }
    const reason = (safeJson(res.body) as { reason?: unknown } | undefined)?.reason;
    const r = typeof reason === 'string' && /^[A-Za-z]{1,40}$/.test(reason) ? reason : undefined;
    // The device token is no longer valid for this topic: prune it. Not BadDeviceToken: APNs also
    // answers it for a sandbox token sent to production, a configuration error that must not wipe
    // every registered device; the delivery fails over and the registration stays.
    if (res.status === 410 || r === 'Unregistered') throw gone('apns', r ?? String(res.status));
    if (res.status === 403 && (r === 'ExpiredProviderToken' || r === 'InvalidProviderToken')) {
      // Only this token: a newer one another request already made stays.
      if (this.token === bearer) this.token = undefined;
      throw new ChannelError('SP_CHANNEL_SEND_FAILED', true, `apns 403 ${r}`);
    }
    throw new ChannelError(
      'SP_CHANNEL_SEND_FAILED',
      isRetryableStatus(res.status),
      `apns ${res.status}${r ? ` ${r}` : ''}`,
    );
  }

  /** The provider token in use, or a new one once it is `tokenRefreshMinutes` old. */
  private async providerToken(): Promise<{ value: string; issuedAt: number }> {
    const t = this.token;
    if (t && this.now() - t.issuedAt < this.options.tokenRefreshMinutes * 60_000) return t;
    this.signing ??= this.sign().finally(() => {
      this.signing = undefined;
    });
    return this.signing;
  }

  private async sign(): Promise<{ value: string; issuedAt: number }> {
    this.key ??= importPKCS8(this.options.key, 'ES256');
    let key: CryptoKey;
    try {
      key = await this.key;
    } catch {
      this.key = undefined;
      throw new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'apns signing key unusable');
    }
    const issuedAt = this.now();
    const value = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: this.options.keyId })
      .setIssuer(this.options.teamId)
      .setIssuedAt(Math.floor(issuedAt / 1000))
      .sign(key);
    this.token = { value, issuedAt };
    return this.token;
  }

  private connection(): ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const ca = this.options.insecureSkipTlsVerify ? undefined : trustedCas(this.options.ca);
    const s = connect(this.options.baseUrl, {
      ...(ca ? { ca } : {}),
      ...(this.options.insecureSkipTlsVerify ? { rejectUnauthorized: false } : {}),
    });
    // A broken session is dropped; the next send opens a new one.
    s.on('error', () => s.destroy());
    s.on('goaway', () => s.close());
    s.on('close', () => {
      if (this.session === s) this.session = undefined;
    });
    // No open stream: the session does not keep the process alive.
    s.unref();
    this.session = s;
    return s;
  }

  private request(
    headers: Record<string, string>,
    body: string,
    signal?: AbortSignal,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
    return new Promise((resolve, reject) => {
      let session: ClientHttp2Session;
      try {
        session = this.connection();
      } catch (e) {
        reject(pushFailure(e, 'apns'));
        return;
      }
      const timeout = AbortSignal.timeout(this.options.timeoutMs);
      const abort = signal ? AbortSignal.any([timeout, signal]) : timeout;
      const stream = session.request(headers, { signal: abort });
      let status = 0;
      let resHeaders: Record<string, string | string[] | undefined> = {};
      const chunks: Buffer[] = [];
      stream.on('response', (h) => {
        status = Number(h[constants.HTTP2_HEADER_STATUS]);
        resHeaders = h as typeof resHeaders;
      });
      stream.on('data', (c: Buffer) => {
        if (chunks.reduce((n, b) => n + b.length, 0) < 16_384) chunks.push(c);
      });
      stream.on('end', () => resolve({ status, headers: resHeaders, body: Buffer.concat(chunks).toString('utf8') }));
      stream.on('error', (e) => reject(pushFailure(abort.aborted ? (abort.reason ?? e) : e, 'apns')));
      // The session failing (TLS, connection refused) before the stream opened; one listener per
      // request in flight, removed when its stream closes.
      const sessionFailed = (e: unknown) => reject(pushFailure(e, 'apns'));
      session.once('error', sessionFailed);
      stream.on('close', () => session.off('error', sessionFailed));
      stream.end(body);
    });
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s && !s.closed) await new Promise<void>((r) => s.close(() => r()));
  }
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
