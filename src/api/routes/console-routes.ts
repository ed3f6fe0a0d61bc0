import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname, join, relative, resolve, sep } from 'node:path';
import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { AppError } from '../../core/errors.js';

/**
 * The console's policy: its own scripts, styles, images and fonts, and calls to this origin only (the
 * API, and its WebSocket for live messaging). No inline script or style: the build emits none, and
 * style values React sets go through the CSSOM, which `style-src` does not govern.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "worker-src 'self'",
  "manifest-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/**
 * The console (web/, a single-page application) under `/console`: its files from the built
 * directory, and index.html for every other path below `/console/` so that a reload or a shared
 * link of a screen opens that screen. All public: the files are code, without data; every screen
 * asks the API, which authenticates and authorizes each call. Hashed assets (`/console/assets/…`)
 * are immutable; index.html is revalidated each time so a new build is picked up at once.
 */
export const consoleRoutes: RoutePlugin<{ dir: string }> = async (app, opts) => {
  const root = resolve(opts.dir);
  const cache = new Map<string, Asset>();

  async function asset(path: string): Promise<Asset | undefined> {
    const file = resolve(join(root, path));
    const rel = relative(root, file);
    if (rel.startsWith('..') || rel.includes(`..${sep}`) || !TYPES[extname(file)]) return undefined;
    const hit = cache.get(file);
    if (hit) return hit;
    try {
      const body = await readFile(file);
      const a = {
        body,
        type: TYPES[extname(file)]!,
        etag: `"${createHash('sha256').update(body).digest('base64url')}"`,
      };
      // index.html is re-read each time (a rebuild changes it); hashed assets never change.
      if (path !== 'index.html') cache.set(file, a);
      return a;
    } catch {
      return undefined;
    }
  }

  async function sendIndex(reply: import('fastify').FastifyReply) {
    const index = await asset('index.html');
    if (!index) throw new AppError('SP_CONSOLE_NOT_BUILT');
    return reply
      .header('content-security-policy', CONSOLE_CSP)
      .header('cache-control', 'no-cache')
      .header('referrer-policy', 'no-referrer')
      .type(index.type)
      .send(index.body);
  }

  const pub = { config: { permission: 'public' as const } };
  app.get('/console', { ...pub, schema: { hide: true } }, async (_req, reply) => reply.redirect('/console/', 302));
  app.get('/console/', { ...pub, schema: { hide: true } }, async (_req, reply) => sendIndex(reply));
  app.get(
    '/console/*',
    { ...pub, schema: { hide: true, params: Type.Object({ '*': Type.String({ maxLength: 512 }) }) } },
    async (req, reply) => {
      const path = req.params['*'];
      if (path.startsWith('assets/') || /\.[a-z0-9]+$/i.test(path)) {
        const a = await asset(path);
        if (!a) throw new AppError('SP_REQ_NOT_FOUND');
        if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
        return reply
          .header('content-security-policy', CONSOLE_CSP)
          .header(
            'cache-control',
            path.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'public, max-age=300',
          )
          .header('etag', a.etag)
          .type(a.type)
          .send(a.body);
      }
      return sendIndex(reply);
    },
  );
};
