import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'node:https';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import pg from 'pg';

const sealpostBin = fileURLToPath(new URL('../bin/sealpost.js', import.meta.url));

/** One `sealpost serve` process, as an operator would run it. */
export interface ServeNode {
  index: number;
  pid: number;
  url: string;
  dataDir: string;
  /** When /readyz first answered 200 (Date.now()). */
  readyAt: number;
  stop(): Promise<void>;
}

export interface NodeSpec {
  index: number;
  databaseUrl: string;
  dataDir: string;
  /** Shared by every node: one database must only ever be written with one keyring. */
  keyringFile: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  worker: boolean;
  poolMax: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function readyz(url: string): Promise<number> {
  return new Promise((resolve) => {
    // Loopback health probe of our own self-signed server: the certificate is not what is tested here.
    const req = request(
      new URL('/readyz', url),
      { rejectUnauthorized: false, servername: 'localhost', timeout: 2000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/**
 * Starts `node bin/sealpost.js serve` with a clean SEALPOST_* environment and waits until /readyz
 * answers 200 (database connected, migrated; the first node also wrote the bootstrap API key).
 * Its log (level warn) goes to this process's stderr, prefixed with the node's number.
 */
export async function startServeNode(spec: NodeSpec, timeoutSec = 60): Promise<ServeNode> {
  mkdirSync(spec.dataDir, { recursive: true, mode: 0o700 });
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SEALPOST_')) env[k] = v;
  Object.assign(env, {
    SEALPOST_DATA_DIR: spec.dataDir,
    SEALPOST_DATABASE_URL: spec.databaseUrl,
    SEALPOST_DATABASE_POOL_MAX: String(spec.poolMax),
    SEALPOST_KEYRING_FILE: spec.keyringFile,
    SEALPOST_TLS_CERT_FILE: spec.tlsCertFile,
    SEALPOST_TLS_KEY_FILE: spec.tlsKeyFile,
    SEALPOST_HOST: '127.0.0.1',
    SEALPOST_PORT: String(port),
    SEALPOST_PUBLIC_URL: 'https://localhost',
    SEALPOST_LOG_LEVEL: 'warn',
    SEALPOST_QUIET_HOURS: 'off',
    SEALPOST_WORKER: spec.worker ? 'true' : 'false',
  });
  const child = spawn(process.execPath, [sealpostBin, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = `[node ${spec.index}] `;
  const relay = (chunk: Buffer) => process.stderr.write(chunk.toString('utf8').replace(/^(?=.)/gm, prefix));
  child.stdout!.on('data', relay);
  child.stderr!.on('data', relay);
  const url = `https://127.0.0.1:${port}`;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const deadline = performance.now() + timeoutSec * 1000;
  let readyAt = 0;
  while (!readyAt) {
    if (child.exitCode !== null)
      throw new Error(`sealpost serve (node ${spec.index}) exited with ${child.exitCode} before it was ready`);
    if (performance.now() > deadline) {
      await stopChild(child, exited);
      throw new Error(`sealpost serve (node ${spec.index}) not ready after ${timeoutSec}s`);
    }
    if ((await readyz(url)) === 200) readyAt = Date.now();
    else await new Promise((r) => setTimeout(r, 100));
  }
  return {
    index: spec.index,
    pid: child.pid!,
    url,
    dataDir: spec.dataDir,
    readyAt,
    stop: () => stopChild(child, exited),
  };
}

/** SIGTERM (graceful: the worker finishes its batch), then SIGKILL of that one pid after 20 s. */
async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(t);
}

export function bootstrapKey(dataDir: string): string {
  return readFileSync(`${dataDir}/bootstrap-api-key`, 'utf8').trim();
}

/** A separate connection to the bench database, for counting progress without going through a node. */
export class PgProbe {
  private constructor(private readonly c: pg.Client) {}

  static async open(url: string): Promise<PgProbe> {
    const c = new pg.Client({ connectionString: url, application_name: 'sealpost-bench-probe' });
    await c.connect();
    return new PgProbe(c);
  }

  private async one(sql: string, params: unknown[] = []): Promise<Record<string, unknown>> {
    return (await this.c.query(sql, params)).rows[0] as Record<string, unknown>;
  }

  async maxOutboxId(): Promise<number> {
    return Number((await this.one('select coalesce(max(id), 0) as m from dev_outbox')).m);
  }

  /** Notifications created at or after `sinceMs` (server clock = this machine's) and their deliveries. */
  async notificationsSince(sinceMs: number): Promise<{ n: number; firstAt: number | null; deliveries: number }> {
    const r = await this.one(
      'select count(*) as n, min(created_at) as first from notifications where created_at >= $1',
      [sinceMs],
    );
    const d = await this.one(
      'select count(*) as n from deliveries d join notifications n on n.id = d.notification_id where n.created_at >= $1',
      [sinceMs],
    );
    return { n: Number(r.n), firstAt: r.first == null ? null : Number(r.first), deliveries: Number(d.n) };
  }

  async outboxSince(afterId: number): Promise<{ n: number; firstAt: number | null; lastAt: number | null }> {
    const r = await this.one(
      'select count(*) as n, min(created_at) as first, max(created_at) as last from dev_outbox where id > $1',
      [afterId],
    );
    return {
      n: Number(r.n),
      firstAt: r.first == null ? null : Number(r.first),
      lastAt: r.last == null ? null : Number(r.last),
    };
  }

  /** Outbox rows created at or after `sinceMs`: count and the last one's time. */
  async outboxCreatedSince(sinceMs: number): Promise<{ n: number; lastAt: number | null }> {
    const r = await this.one('select count(*) as n, max(created_at) as last from dev_outbox where created_at >= $1', [
      sinceMs,
    ]);
    return { n: Number(r.n), lastAt: r.last == null ? null : Number(r.last) };
  }

  /** Cheap while polling: ids only grow, so max(id) − afterId bounds the count from above. */
  async outboxReached(afterId: number, target: number): Promise<boolean> {
    if ((await this.maxOutboxId()) - afterId < target) return false;
    return Number((await this.one('select count(*) as n from dev_outbox where id > $1', [afterId])).n) >= target;
  }

  async deliveryStatusCounts(): Promise<Record<string, number>> {
    const rows = (await this.c.query('select status, count(*) as n from deliveries group by status')).rows as {
      status: string;
      n: string;
    }[];
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  async auditLogState(): Promise<{ appended: number; integrated: number; checkpoints: number }> {
    const n = async (sql: string) => Number((await this.one(sql))?.n ?? 0);
    return {
      // Every entry on record: numbered by the integrator or waiting for a number.
      appended: await n('select count(*) as n from audit_entries'),
      integrated: await n("select value as n from audit_log_state where name = 'integrated_size'"),
      checkpoints: await n('select count(*) as n from audit_checkpoints'),
    };
  }

  async close(): Promise<void> {
    await this.c.end().catch(() => {});
  }
}
