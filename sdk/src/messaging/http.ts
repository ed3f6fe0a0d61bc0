/**
 * The messaging client's HTTP: JSON in and out, a bearer token when one is given, and errors as
 * `SealpostApiError` carrying the problem's `code` (e.g. SP_MESSAGING_EPOCH_STALE) and body.
 */

/** A refused request: HTTP status, the problem code and the problem body. */
export class SealpostApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    readonly problem: Record<string, unknown>,
    what: string,
  ) {
    super(`${what} answered ${status}${code ? ` ${code}` : ''}${problem.detail ? `: ${String(problem.detail)}` : ''}`);
    this.name = 'SealpostApiError';
  }
}

export interface HttpOptions {
  baseUrl: string;
  token?: string | (() => string | undefined);
  fetch?: typeof globalThis.fetch;
}

export class Http {
  readonly baseUrl: string;

  constructor(private readonly opts: HttpOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
  }

  /** The bearer token now (undefined in a browser that sends the session cookie). */
  token(): string | undefined {
    const t = this.opts.token;
    return typeof t === 'function' ? t() : t;
  }

  async request<T>(method: string, path: string, body?: unknown, raw?: Uint8Array): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json, */*;q=0.5' };
    const token = this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    let payload: BodyInit | undefined;
    if (raw) {
      headers['content-type'] = 'application/octet-stream';
      payload = raw as Uint8Array<ArrayBuffer>;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const f = this.opts.fetch ?? globalThis.fetch;
    const res = await f(this.baseUrl + path, {
      method,
      headers,
      body: payload,
      credentials: token ? 'omit' : 'same-origin',
    });
    if (res.status === 204) return undefined as T;
    const type = res.headers.get('content-type') ?? '';
    if (!res.ok) {
      const problem = type.includes('json') ? ((await res.json().catch(() => ({}))) as Record<string, unknown>) : {};
      // The path names ids only (never content), so it may appear in the message.
      throw new SealpostApiError(
        res.status,
        problem.code as string | undefined,
        problem,
        `${method} ${path.split('?')[0]}`,
      );
    }
    if (type.includes('json')) return (await res.json()) as T;
    return new Uint8Array(await res.arrayBuffer()) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body ?? {});
  }
}

/** Encodes a path segment. */
export const seg = (s: string): string => encodeURIComponent(s);
