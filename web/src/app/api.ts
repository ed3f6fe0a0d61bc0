import { createRestClient, type SealpostRestClient } from '@sealpost/sdk/rest';

/**
 * The console's one client of the public API: the SDK's typed REST client on this origin, with the
 * session cookie (no token in the page). A 401 means the session ended (idle, expired, revoked): the
 * session layer hears it and sends the person to the sign-in page.
 */
export const api: SealpostRestClient = createRestClient(window.location.origin);

const ended = new Set<() => void>();
/** Calls `f` when a request answers 401 (the session is over); returns the unsubscribe. */
export function onSessionEnded(f: () => void): () => void {
  ended.add(f);
  return () => ended.delete(f);
}

api.use({
  onResponse({ response, request }) {
    if (response.status === 401 && !new URL(request.url).pathname.startsWith('/v1/auth/')) ended.forEach((f) => f());
    return response;
  },
});

/** An RFC 9457 problem the API answered: its stable code and title (never PHI). */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
  ) {
    super(`${code}: ${title}`);
  }
}

/**
 * Unwraps an answer of the typed client: its data, or a thrown {@link Problem}.
 * `const me = await ok(api.GET('/v1/me'))`.
 */
export async function ok<T>(p: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await p;
  if (response.ok) return data as T;
  const e = (error ?? {}) as { code?: string; title?: string; detail?: string };
  throw new Problem(response.status, e.code ?? `HTTP_${response.status}`, e.title ?? response.statusText, e.detail);
}

/**
 * For the few calls the typed client cannot describe (a binary upload, a route added after the SDK's
 * types were generated): same origin, same cookie, same error handling.
 */
export async function raw(method: string, path: string, body?: unknown, type = 'application/json'): Promise<any> {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': type },
    body: body === undefined ? undefined : type === 'application/json' ? JSON.stringify(body) : (body as BodyInit),
  });
  if (response.status === 401) ended.forEach((f) => f());
  const text = await response.text();
  const json = text && /json/.test(response.headers.get('content-type') ?? '') ? JSON.parse(text) : text || undefined;
  if (!response.ok)
    throw new Problem(
      response.status,
      json?.code ?? `HTTP_${response.status}`,
      json?.title ?? response.statusText,
      json?.detail,
    );
  return json;
}
