import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../src/config/load-config.js';
import { buildApp, type App } from '../../src/app.js';
import { createLogger } from '../../src/logger.js';

/** The simulated wall clock: the server reads it on every request, the simulator moves it forward. */
export class SimClock {
  constructor(private ms: number) {}
  now = (): Date => new Date(this.ms);
  get ms_(): number {
    return this.ms;
  }
  /** Moves to `ms`; never backwards (audit entries and sessions assume time does not run back). */
  set(ms: number): void {
    if (ms > this.ms) this.ms = ms;
  }
}

export interface SimServer {
  app: App;
  /** http://127.0.0.1:<port> */
  url: string;
  dataDir: string;
  adminKey: string;
  clock: SimClock;
  close(): Promise<void>;
}

async function loopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The real server (buildApp from src/app.ts) on a fresh SQLite data directory, listening on
 * 127.0.0.1 over plain HTTP with the simulator's clock. Loopback is declared a trusted proxy, so the
 * simulator names each simulated client's address in X-Forwarded-For exactly as an L7 proxy in front
 * of a hospital deployment would. The delivery worker is off: the month's nudges stay queued, which
 * changes no access the detectors look at and keeps the run within minutes.
 */
export async function startSimServer(opts: { startMs: number; out?: string }): Promise<SimServer> {
  const dataDir = opts.out ?? mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'sealpost-sim-'));
  mkdirSync(dataDir, { recursive: true });
  const port = await loopbackPort();
  const config = loadConfig({
    SEALPOST_DATA_DIR: dataDir,
    SEALPOST_PORT: String(port),
    // The public address is the TLS-terminating proxy's; the simulator talks to the node behind it.
    // Host `localhost` as in `npm start`'s default: the audit log's origin (the checkpoint key's name)
    // is the public host, so `sealpost report access` and `npm start` on a kept --out directory
    // sign and verify under the same name.
    SEALPOST_PUBLIC_URL: `https://localhost:${port}`,
    SEALPOST_LOG_LEVEL: 'warn',
    SEALPOST_WORKER: 'false',
    SEALPOST_TRUSTED_PROXIES: '127.0.0.1',
    // One sign-in per shift: the longest idle time the configuration allows (the simulator signs in
    // again after a longer pause, as the automatic logoff would make a person do).
    SEALPOST_SESSION_IDLE_MINUTES: '240',
    SEALPOST_SESSION_ABSOLUTE_HOURS: '13',
    SEALPOST_QUIET_HOURS: 'off',
    SEALPOST_FREQUENCY_CAPS: 'off',
    SEALPOST_DEDUP_WINDOW: 'off',
    SEALPOST_DIGEST_WINDOW: 'off',
  });
  const clock = new SimClock(opts.startMs);
  const logger = createLogger(config.logLevel, pino.destination({ dest: join(dataDir, 'sealpost.log'), sync: false }));
  const app = await buildApp(config, { logger, https: null, clock: clock.now });
  await app.server.listen({ host: '127.0.0.1', port });
  app.start();
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    dataDir,
    adminKey: app.bootstrapKey!,
    clock,
    async close() {
      await app.close();
      if (!opts.out) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
