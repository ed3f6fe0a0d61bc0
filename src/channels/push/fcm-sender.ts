import { importPKCS8, SignJWT } from 'jose';
import type { Agent } from 'undici';
import { ChannelError, isRetryableStatus } from '../channel.js';
import { outboundDispatcher, type OutboundTls } from '../outbound-tls.js';
import type { FcmServiceAccount } from '../../config/push-settings.js';
import type { PushPayload } from './push-target.js';
import { gone, pushFailure } from './push-http.js';

export interface FcmSenderOptions extends OutboundTls {
  serviceAccount: FcmServiceAccount;
  /** `https://fcm.googleapis.com` (SEALPOST_FCM_BASE_URL). */
  baseUrl: string;
  /** The OAuth token endpoint (SEALPOST_FCM_TOKEN_URL, else the key file's token_uri). */
  tokenUrl: string;
  timeoutMs: number;
  now?: () => number;
}

const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
/** A cached access token is replaced this long before it expires. */
const EARLY_MS = 5 * 60_000;

/**
 * FCM HTTP v1: an RS256 JWT assertion signed with the service account's key (RFC 7523) buys an OAuth
 * access token at the token endpoint; it is cached until shortly before it expires (one request at a
 * time refreshes it) and used as the bearer of `POST /v1/projects/{project}/messages:send`.
 */
export class FcmSender {
  private readonly dispatcher: Agent | undefined;
  private readonly now: () => number;
  private token: { value: string; until: number } | undefined;
  private pending: Promise<string> | undefined;
  private key: Promise<CryptoKey> | undefined;

  constructor(private readonly options: FcmSenderOptions) {
    this.dispatcher = outboundDispatcher(options);
    this.now = options.now ?? Date.now;
  }

  async send(token: string, payload: PushPayload, signal?: AbortSignal): Promise<string | undefined> {
    const { serviceAccount, baseUrl } = this.options;
    const bearer = await this.accessToken(signal);
    const body = {
      message: {
        token,
        notification: { title: payload.title },
        data: { notificationId: payload.notificationId },
        android: { priority: 'high' },
      },
    };
    const res = await this.fetch(
      `${baseUrl}/v1/projects/${encodeURIComponent(serviceAccount.projectId)}/messages:send`,
      { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      JSON.stringify(body),
      'fcm',
      signal,
    );
    const text = await res.text().catch(() => '');
    if (res.ok) {
      const name = (safeJson(text) as { name?: unknown } | undefined)?.name;
      return typeof name === 'string' && name.length <= 256 ? name : undefined;
    }
    const error = (safeJson(text) as { error?: FcmError } | undefined)?.error;
    const codes = [error?.status, ...(error?.details ?? []).map((d) => d?.errorCode)].filter(
      (c): c is string => typeof c === 'string',
    );
    // The token is no longer valid (app uninstalled, token rotated): prune it.
    if (codes.includes('UNREGISTERED') || (res.status === 404 && codes.includes('NOT_FOUND')))
      throw gone('fcm', codes.includes('UNREGISTERED') ? 'UNREGISTERED' : 'NOT_FOUND');
    // Our access token was refused: the next attempt gets a new one.
    if (res.status === 401) {
      this.token = undefined;
      throw new ChannelError('SP_CHANNEL_SEND_FAILED', true, 'fcm 401');
    }
    const code = codes.find((c) => /^[A-Z_]{1,40}$/.test(c));
    throw new ChannelError(
      'SP_CHANNEL_SEND_FAILED',
      isRetryableStatus(res.status),
      `fcm ${res.status}${code ? ` ${code}` : ''}`,
    );
  }

  /** The cached access token, or a new one (concurrent callers share one request). */
  private async accessToken(signal?: AbortSignal): Promise<string> {
    if (this.token && this.now() < this.token.until) return this.token.value;
    this.pending ??= this.fetchToken(signal).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async fetchToken(signal?: AbortSignal): Promise<string> {
    const { serviceAccount, tokenUrl } = this.options;
    this.key ??= importPKCS8(serviceAccount.privateKey, 'RS256');
    let key: CryptoKey;
    try {
      key = await this.key;
    } catch {
      this.key = undefined;
      throw new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'fcm service account key unusable');
    }
    const iat = Math.floor(this.now() / 1000);
    const assertion = await new SignJWT({ scope: SCOPE })
      .setProtectedHeader({
        alg: 'RS256',
        typ: 'JWT',
        ...(serviceAccount.privateKeyId ? { kid: serviceAccount.privateKeyId } : {}),
      })
      .setIssuer(serviceAccount.clientEmail)
      .setSubject(serviceAccount.clientEmail)
      .setAudience(tokenUrl)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 3600)
      .sign(key);
    const res = await this.fetch(
      tokenUrl,
      { 'content-type': 'application/x-www-form-urlencoded' },
      new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
      'fcm oauth',
      signal,
    );
    const j = safeJson(await res.text().catch(() => '')) as
      { access_token?: unknown; expires_in?: unknown } | undefined;
    if (!res.ok || typeof j?.access_token !== 'string')
      throw new ChannelError(
        'SP_CHANNEL_SEND_FAILED',
        res.ok || isRetryableStatus(res.status),
        `fcm oauth ${res.status}`,
      );
    const lifetimeMs = (typeof j.expires_in === 'number' ? j.expires_in : 3600) * 1000;
    this.token = { value: j.access_token, until: this.now() + Math.max(lifetimeMs - EARLY_MS, lifetimeMs / 2) };
    return j.access_token;
  }

  private async fetch(
    url: string,
    headers: Record<string, string>,
    body: string,
    what: string,
    signal?: AbortSignal,
  ): Promise<Response> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    try {
      return await fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
      } as RequestInit);
    } catch (e) {
      throw pushFailure(e, what);
    }
  }

  async close(): Promise<void> {
    await this.dispatcher?.close();
  }
}

interface FcmError {
  status?: unknown;
  details?: { errorCode?: unknown }[];
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
