import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, freePort, httpsJson } from './sealpost-harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A real `sealpost serve` child process on loopback. */
export interface ServerProcess {
  proc: ChildProcess;
  exited: Promise<number | null>;
  url: string;
  port: number;
  dataDir: string;
  logFile: string;
  /** The server's TLS certificate (PEM), trusted by `request`. */
  ca: string;
  request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: T; text: string; headers: Record<string, string | string[] | undefined> }>;
  /** SIGKILL: no shutdown hook runs. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  log(): string;
}

/**
 * The environment for a child `sealpost` process: the runner's, without any SEALPOST_* variable (or
 * NODE_OPTIONS), plus `extra`. Nothing from outside may change what is under test.
 */
export function hermeticEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('SEALPOST_') && k !== 'NODE_OPTIONS') env[k] = v;
  return Object.assign(env, extra);
}

/**
 * Starts `node bin/sealpost.js serve` with a hermetic environment (nothing SEALPOST_* from outside)
 * and waits until /healthz answers over TLS (and /readyz too, unless `waitReady` is false).
 * `apiKey` is sent as the bearer token when given.
 */
export async function startServerProcess(opts: {
  dataDir: string;
  env?: Record<string, string>;
  apiKey?: () => string | undefined;
  waitReady?: boolean;
}): Promise<ServerProcess> {
  // A port found free may still be taken before the child listens: then start again on another.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(await freePort(), opts);
    } catch (e) {
      if (!(e instanceof PortTaken) || attempt >= 3) throw e;
    }
  }
}

/** The child could not listen on its port (SP_SERVER_LISTEN_FAILED): someone took it meanwhile. */
class PortTaken extends Error {}

async function startOn(port: number, opts: Parameters<typeof startServerProcess>[0]): Promise<ServerProcess> {
  const env = hermeticEnv({
    SEALPOST_DATA_DIR: opts.dataDir,
    SEALPOST_HOST: '127.0.0.1',
    SEALPOST_PORT: String(port),
    SEALPOST_PUBLIC_URL: `https://127.0.0.1:${port}`,
    SEALPOST_QUIET_HOURS: 'off',
    // Like quiet hours: frequency caps, deduplication and digests change which nudges leave; tests of them turn them on.
    SEALPOST_FREQUENCY_CAPS: 'off',
    SEALPOST_DEDUP_WINDOW: 'off',
    SEALPOST_DIGEST_WINDOW: 'off',
    SEALPOST_POLL_MS: '50',
    ...opts.env,
  });
  const logFile = join(opts.dataDir, `serve-${port}.log`);
  const fd = openSync(logFile, 'a');
  const proc = spawn(process.execPath, ['bin/sealpost.js', 'serve'], { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = `https://127.0.0.1:${port}`;
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const certFile = env.SEALPOST_TLS_CERT_FILE ?? join(opts.dataDir, 'tls-cert.pem');
  const probe = async (path: string) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      if (!opts.env?.SEALPOST_PORT && /SP_SERVER_LISTEN_FAILED/.test(log()))
        throw new PortTaken(`port ${port} was taken before the server listened`);
      throw new Error(`server exited early:\n${log().slice(-3000)}`);
    }
    if (!existsSync(certFile)) return null;
    const cert = readFileSync(certFile, 'utf8');
    try {
      const r = await httpsJson(url, cert, 'GET', path);
      return r.status === 200 ? cert : null;
    } catch {
      return null;
    }
  };
  const ca = await eventually(() => probe('/healthz'), 'the server to answer /healthz', 90_000);
  if (opts.waitReady !== false) await eventually(() => probe('/readyz'), 'the server to be ready', 90_000);
  const s: ServerProcess = {
    proc,
    exited,
    url,
    port,
    dataDir: opts.dataDir,
    logFile,
    ca,
    request: (method, path, body, headers = {}) => {
      const key = opts.apiKey?.();
      return httpsJson(url, ca, method, path, body, { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers });
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
    log,
  };
  return s;
}

export function readBootstrapKey(dataDir: string): string {
  return readFileSync(join(dataDir, 'bootstrap-api-key'), 'utf8').trim();
}

export { Agent };
