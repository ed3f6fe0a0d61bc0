import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** One static script the portal serves: its text and a strong validator of exactly those bytes. */
export interface StaticScript {
  code: string;
  /** A strong ETag (quoted base64url SHA-256 of the bytes): equal tags mean identical bytes. */
  etag: string;
}

/** The SDK's browser entry (sdk/src/browser.ts); the server runs from its sources, so the path is stable. */
const ENTRY = fileURLToPath(new URL('../../sdk/src/browser.ts', import.meta.url));

export const scriptOf = (code: string): StaticScript => ({
  code,
  etag: `"${createHash('sha256').update(code, 'utf8').digest('base64url')}"`,
});

let bundle: Promise<StaticScript> | undefined;

/**
 * The SDK bundled for browsers into one ES module, built once per process at the first request
 * that needs it and kept in memory (no build step to run at install, no file written). A failed
 * build is not cached: the next request tries again and the error reaches the log each time.
 */
export function sdkBundle(): Promise<StaticScript> {
  bundle ??= buildSdk().catch((e: unknown) => {
    bundle = undefined;
    throw e;
  });
  return bundle;
}

async function buildSdk(): Promise<StaticScript> {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent',
    legalComments: 'eof',
    // The Node WebSocket library is only imported when no global WebSocket exists (Node); a
    // browser always has one, so the import stays unresolved in the bundle and is never run.
    external: ['ws', 'node:*'],
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('the SDK bundle produced no output');
  return scriptOf(file.text);
}

/**
 * Sends a static script with its strong validator: `no-cache` (every use asks again, so a new
 * release is picked up at once) and 304 when the browser already holds the same bytes. Scripts
 * carry no PHI; the strict API headers the onRequest hook set stay as they are.
 */
export function sendScript(req: FastifyRequest, reply: FastifyReply, script: StaticScript): FastifyReply {
  reply.header('etag', script.etag).header('cache-control', 'no-cache');
  const match = req.headers['if-none-match'];
  if (typeof match === 'string' && match.split(',').some((t) => t.trim() === script.etag))
    return reply.code(304).send();
  return reply.type('text/javascript; charset=utf-8').send(script.code);
}
