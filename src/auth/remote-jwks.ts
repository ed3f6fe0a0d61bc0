import type { JWK } from 'jose';
import { outboundDispatcher } from '../channels/outbound-tls.js';
import { OutboundAddressPolicy } from '../channels/outbound-address.js';
import { publicVerificationKey } from './client-assertion.js';

export interface RemoteJwksOptions {
  /** Deadline of one fetch: connect, TLS, headers and body. */
  timeoutMs: number;
  /** SEALPOST_INSECURE_SKIP_TLS_VERIFY: the same explicit, logged switch as outbound provider calls. */
  insecureSkipTlsVerify: boolean;
  /** Extra trusted CAs, PEM (SEALPOST_OUTBOUND_CA_FILE). */
  ca?: string;
  /** SEALPOST_WEBHOOK_ALLOWED_HOSTS: internal hosts the operator allows (otherwise public addresses only). */
  allowedHosts?: readonly string[];
  clock: () => Date;
  /** How long a fetched key set is used before it is fetched again. */
  ttlMs?: number;
  /** Least time between two fetches of one client's set (an unknown `kid` must not make us a fetch amplifier). */
  minRefetchMs?: number;
}

/** A JWKS body larger than this is refused (ten RSA-4096 keys fit several times over). */
const MAX_BYTES = 64 * 1024;

/**
 * Keys published at clients' JWKS URLs (SMART Backend Services, `jwks_uri`), fetched with TLS verified
 * (unless the operator turned that off for outbound calls), no redirects, a timeout and a size limit,
 * and kept for a short while. A `kid` not in the cached set triggers one early refetch (key rotation),
 * at most every `minRefetchMs`. Keys with private members or unusable parameters are skipped.
 */
export class RemoteJwks {
  private readonly cache = new Map<string, { url: string; keys: JWK[]; fetchedAt: number }>();
  private readonly dispatcher: NonNullable<ReturnType<typeof outboundDispatcher>>;
  private readonly policy: OutboundAddressPolicy;
  private readonly ttlMs: number;
  private readonly minRefetchMs: number;

  constructor(private readonly o: RemoteJwksOptions) {
    // The address policy of webhooks: a client's URL must not reach loopback, private or metadata addresses.
    this.policy = new OutboundAddressPolicy(o.allowedHosts);
    this.dispatcher = outboundDispatcher(o, this.policy)!;
    this.ttlMs = o.ttlMs ?? 60_000;
    this.minRefetchMs = o.minRefetchMs ?? 10_000;
  }

  /**
   * The key `accept` picks (by `kid` and algorithm) from the client's JWKS URL; undefined when the
   * set has none. Rejects when the set cannot be fetched or parsed (the caller answers invalid_client).
   */
  async find(clientId: string, url: string, accept: (keys: JWK[]) => JWK | undefined): Promise<JWK | undefined> {
    const now = this.o.clock().getTime();
    let entry = this.cache.get(clientId);
    if (entry && (entry.url !== url || entry.fetchedAt + this.ttlMs <= now)) entry = undefined;
    const hit = entry ? accept(entry.keys) : undefined;
    if (hit) return hit;
    if (entry && entry.fetchedAt + this.minRefetchMs > now) return undefined;
    // One fetch per client at a time: a burst of assertions naming an unknown kid must not make us
    // fetch the client's URL once per assertion (we would be a fetch amplifier).
    const key = `${clientId} ${url}`;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.fetchKeys(url).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    const keys = await pending;
    if (this.cache.size >= 1_000) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(clientId, { url, keys, fetchedAt: now });
    return accept(keys);
  }

  private readonly inFlight = new Map<string, Promise<JWK[]>>();

  /** Drops a client's cached keys (revocation). */
  forget(clientId: string): void {
    this.cache.delete(clientId);
  }

  private async fetchKeys(url: string): Promise<JWK[]> {
    this.policy.assertUrl(new URL(url));
    const res = await fetch(url, {
      headers: { accept: 'application/jwk-set+json, application/json' },
      // A redirect could lead to http or to another host the registration never named.
      redirect: 'error',
      signal: AbortSignal.timeout(this.o.timeoutMs),
      dispatcher: this.dispatcher,
    } as RequestInit);
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`JWKS URL answered ${res.status}`);
    }
    const body = await readLimited(res, MAX_BYTES);
    const keys = (JSON.parse(body) as { keys?: unknown }).keys;
    if (!Array.isArray(keys)) throw new Error('JWKS has no keys array');
    const out: JWK[] = [];
    for (const k of keys.slice(0, 50)) {
      try {
        out.push(await publicVerificationKey(k));
      } catch {
        /* skipped: never use a key we would refuse to register */
      }
    }
    return out;
  }
}

async function readLimited(res: Response, max: number): Promise<string> {
  if (Number(res.headers.get('content-length') ?? 0) > max) {
    await res.body?.cancel();
    throw new Error('JWKS too large');
  }
  const reader = res.body!.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new Error('JWKS too large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
