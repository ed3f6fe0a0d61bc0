/**
 * The typed REST client: openapi-fetch over the types openapi-typescript generated from the server's
 * /openapi.json (`src/generated/api.d.ts`, kept in step by a test). Every path, parameter, body and
 * answer of the API is typed; nothing here is hand-written per route.
 */
import createClient, { type Client } from 'openapi-fetch';
import type { paths } from './generated/api.js';

export type { paths, components, operations } from './generated/api.js';

/** How the client authenticates and reaches the server. */
export interface RestClientOptions {
  /** A bearer token (a session token or an API key); omit in a browser that sends the session cookie. */
  token?: string | (() => string | undefined);
  /** The fetch to use (default `globalThis.fetch`), e.g. one that trusts a private CA in Node. */
  fetch?: typeof globalThis.fetch;
}

/** The typed client: `client.GET('/v1/conversations/{id}', { params: { path: { id } } })`. */
export type SealpostRestClient = Client<paths>;

/**
 * A typed client of the Sealpost REST API at `baseUrl` (e.g. `https://sealpost.example.org`).
 * Answers are `{ data, error, response }`; errors are RFC 9457 problem details with a `code`.
 */
export function createRestClient(baseUrl: string, options: RestClientOptions = {}): SealpostRestClient {
  const client = createClient<paths>({
    baseUrl: baseUrl.replace(/\/+$/, ''),
    // Handed on as URL and plain init: a fetch of another realm (e.g. the undici package in Node)
    // does not accept this realm's Request objects.
    fetch: options.fetch
      ? async (req: Request) =>
          options.fetch!(req.url, {
            method: req.method,
            headers: Object.fromEntries(req.headers),
            body: req.body ? await req.arrayBuffer() : undefined,
            signal: req.signal,
            redirect: req.redirect,
            credentials: req.credentials,
          })
      : undefined,
  });
  if (options.token !== undefined) {
    const token = options.token;
    client.use({
      onRequest({ request }) {
        const t = typeof token === 'function' ? token() : token;
        if (t && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${t}`);
        return request;
      },
    });
  }
  return client;
}
