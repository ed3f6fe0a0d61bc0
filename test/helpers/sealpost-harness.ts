import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request as httpsRequest } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { randomInt } from 'node:crypto';
import pino from 'pino';
import { loadConfig } from '../../src/config/load-config.js';
import { buildApp, type App, type AppDeps } from '../../src/app.js';
import { createLogger } from '../../src/logger.js';
import { selfSigned } from '../../src/api/tls.js';

export interface Harness {
  app: App;
  /** https://127.0.0.1:<port> */
  url: string;
  apiKey: string;
  dataDir: string;
  logFile: string;
  /** The server's self-signed certificate (PEM), to trust it in clients. */
  cert: string;
  request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: T; text: string }>;
  close(): Promise<void>;
}

/** Ports `freePort` handed out in this process: none is handed out twice. */
const handedOut = new Set<number>();

/**
 * A loopback port for a server the caller starts next. Drawn below the kernel's ephemeral range
 * (32768 and up by default), so no outgoing connection (a database client, an HTTP call) can be
 * given it between this check and the caller's listen, as a port from listen(0) could; never the
 * same one twice in a process; and checked free by binding it. Servers in this process that can
 * listen on port 0 themselves should; a child server that finds it taken anyway is started again on
 * another (server-process.ts).
 */
export async function freePort(): Promise<number> {
  // Test files run in parallel worker processes, each with its own `handedOut`: give each worker its
  // own slice of the range, so two files never pick the same port between probing and listening.
  const slices = 4;
  const slice = (Number(process.env.VITEST_POOL_ID ?? 1) - 1) % slices;
  const width = Math.floor(12_000 / slices);
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + slice * width + randomInt(0, width);
    if (handedOut.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const s = createNetServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (!free) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no free loopback port found in 20000-31999');
}

let cachedTls: { cert: string; private: string } | null = null;
export async function testTls() {
  cachedTls ??= await selfSigned();
  return cachedTls;
}

/**
 * Starts a real Sealpost (HTTPS on loopback, SQLite in a fresh temp data dir, worker running) with
 * the given SEALPOST_* overrides (`{port}` in a value stands for the listening port). Logs go to
 * `<dataDir>/sealpost.log` so tests can scan them.
 */
export async function startSealpost(env: Record<string, string> = {}, deps: AppDeps = {}): Promise<Harness> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-test-'));
  const port = await freePort();
  const config = loadConfig({
    SEALPOST_DATA_DIR: dataDir,
    SEALPOST_PORT: String(port),
    SEALPOST_PUBLIC_URL: `https://127.0.0.1:${port}`,
    SEALPOST_LOG_LEVEL: 'info',
    SEALPOST_POLL_MS: '50',
    SEALPOST_QUIET_HOURS: 'off',
    // Like quiet hours: frequency caps, deduplication and digests change which nudges leave; tests of them turn them on.
    SEALPOST_FREQUENCY_CAPS: 'off',
    SEALPOST_DEDUP_WINDOW: 'off',
    SEALPOST_DIGEST_WINDOW: 'off',
    // Privacy monitoring writes its own audit entries (privacy_alert.*) on a timer; tests of it turn it on.
    SEALPOST_PRIVACY_MONITOR: 'off',
    // `{port}` in a value is the port chosen here (e.g. SEALPOST_PUBLIC_URL=https://localhost:{port} for WebAuthn, whose RP ID cannot be an IP address).
    ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.replaceAll('{port}', String(port))])),
  });
  const tls = await testTls();
  const logFile = join(dataDir, 'sealpost.log');
  const logger = createLogger(config.logLevel, pino.destination({ dest: logFile, sync: true }));
  const app = await buildApp(config, { logger, https: { key: tls.private, cert: tls.cert }, ...deps });
  await app.server.listen({ host: '127.0.0.1', port });
  app.start();
  const url = `https://127.0.0.1:${port}`;
  const h: Harness = {
    app,
    url,
    apiKey: app.bootstrapKey!,
    dataDir,
    logFile,
    cert: tls.cert,
    request: (method, path, body, headers = {}) =>
      httpsJson(url, tls.cert, method, path, body, { authorization: `Bearer ${app.bootstrapKey}`, ...headers }),
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return h;
}

/**
 * A JSON request over real TLS that trusts only `ca` (a PEM, or an https.Agent already built with
 * one, e.g. for keep-alive load). Pass `authorization: ''` to send none.
 */
export function httpsJson(
  base: string,
  ca: string | Agent,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any; text: string }> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const hs: Record<string, string> = {
    ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
    ...headers,
  };
  for (const k of Object.keys(hs)) if (hs[k] === '') delete hs[k];
  return new Promise((resolve, reject) => {
    const tls = typeof ca === 'string' ? { ca } : { agent: ca };
    const req = httpsRequest(new URL(path, base), { method, headers: hs, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
      });
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Polls `check` until it returns a truthy value (behaviour, not timing: the deadline only bounds a hang). */
export async function eventually<T>(
  check: () => Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export { samplePatient } from './sample-patient.js';

/** A portal form POST as a browser sends it (urlencoded, no API key, optional session cookie). */
export const form = (h: Harness, path: string, fields: Record<string, string>, cookie?: string) =>
  httpsJson(h.url, h.cert, 'POST', path, new URLSearchParams(fields).toString(), {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: '',
    ...(cookie ? { cookie } : {}),
  });

/** A portal page GET without an API key. */
export const page = (h: Harness, path: string, cookie?: string) =>
  httpsJson(h.url, h.cert, 'GET', path, undefined, { authorization: '', ...(cookie ? { cookie } : {}) });
