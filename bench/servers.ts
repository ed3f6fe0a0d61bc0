import { mkdirSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { connect } from 'node:tls';
import { join } from 'node:path';
import pino from 'pino';
import Sqlite from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../src/config/load-config.js';
import type { Config, SqliteDurability } from '../src/config/config.js';
import { buildApp, type App } from '../src/app.js';
import { createLogger } from '../src/logger.js';
import { buildServer } from '../src/api/build-server.js';
import { Metrics } from '../src/api/metrics.js';
import { createApiKey } from '../src/auth/api-keys.js';
import { notificationRoutes } from '../src/api/routes/notification-routes.js';
import { patientRoutes } from '../src/api/routes/patient-routes.js';
import { PatientAccess } from '../src/auth/patient-access.js';
import { patientRef } from '../src/core/context.js';
import { LocalKeyring } from '../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../src/crypto/envelope-cipher.js';
import { TemplateRegistry } from '../src/core/templates/template-registry.js';
import { NotificationService } from '../src/core/notification-service.js';
import { PatientService } from '../src/core/patient-service.js';
import type { CoreDeps } from '../src/core/context.js';
import type { TypedApp } from '../src/api/types.js';
import { noDbStore } from './no-db-store.js';
import { DEFAULT_TENANT } from '../src/core/domain.js';

export interface Tls {
  cert: string;
  private: string;
}

export interface Target {
  url: string;
  apiKey: string;
  close(): Promise<void>;
}

/** Warnings and errors only, to stderr: stdout carries the report. */
function benchLogger() {
  return createLogger('warn', pino.destination({ dest: 2, sync: false }));
}

function benchConfig(dataDir: string, env: Record<string, string>): Config {
  return loadConfig({
    SEALPOST_DATA_DIR: dataDir,
    SEALPOST_HOST: '127.0.0.1',
    SEALPOST_PORT: '8443',
    SEALPOST_PUBLIC_URL: 'https://localhost',
    SEALPOST_LOG_LEVEL: 'warn',
    SEALPOST_QUIET_HOURS: 'off',
    ...env,
  });
}

async function listen(server: TypedApp): Promise<string> {
  await server.listen({ host: '127.0.0.1', port: 0 });
  const addr = server.server.address() as { port: number };
  return `https://127.0.0.1:${addr.port}`;
}

export interface SealpostTarget extends Target {
  app: App;
  dbPath: string;
}

/**
 * The real server as `buildApp` composes it (SQLite, audit, worker, dev-outbox channels), in this
 * process, like test/helpers/sealpost-harness.ts. The worker is built but not started: the caller
 * decides when (`app.worker.start()`).
 */
export async function startSealpost(
  dataDir: string,
  durability: SqliteDurability,
  tls: Tls,
  env: Record<string, string> = {},
): Promise<SealpostTarget> {
  const config = benchConfig(dataDir, { SEALPOST_SQLITE_DURABILITY: durability, SEALPOST_WORKER: 'false', ...env });
  const app = await buildApp(config, { logger: benchLogger(), https: { key: tls.private, cert: tls.cert } });
  const url = await listen(app.server);
  return { app, url, apiKey: app.bootstrapKey!, dbPath: join(dataDir, 'sealpost.db'), close: () => app.close() };
}

/**
 * The ceiling: the same Fastify shell (buildServer: TLS, API-key auth, strict JSON-schema validation,
 * request ids, secure headers, metrics and log hooks) with the same routes and the same
 * NotificationService (type check, template data validation, request hash, AES-256-GCM envelope
 * encryption, audit entry encoding and hashing, answer body), over a Store with no database
 * (bench/no-db-store.ts). What the real server does beyond this is SQL and fsync.
 */
export async function startCeiling(dataDir: string, tls: Tls): Promise<Target & { counts: Record<string, number> }> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const config = benchConfig(dataDir, {});
  const logger = benchLogger();
  const clock = () => new Date();
  const { store, counts } = noDbStore();
  const { keyring } = LocalKeyring.openOrCreate(join(dataDir, 'keyring.json'));
  // The same work as the server's but the database's: sealing, and signing each notification with the notary key.
  const signing = { signer: () => keyring.signer(), publishedKeys: () => keyring.publishedSigningKeys() };
  const core: CoreDeps = {
    config,
    store,
    cipher: new EnvelopeCipher(keyring),
    templates: TemplateRegistry.load(),
    clock,
    newId: uuidv7,
    wake: () => {},
    signing,
  };
  const apiKey = await createApiKey(store, DEFAULT_TENANT, 'bench', ['admin'], clock());
  const server = await buildServer({
    logger,
    bodyLimit: config.bodyLimitBytes,
    https: { key: tls.private, cert: tls.cert },
    store,
    metrics: new Metrics(store),
    clock,
    publicUrl: config.publicUrl,
  });
  // API keys are tenant-wide integrations: the patient-relationship check reads nothing for them.
  const access = new PatientAccess({ store, clock, patientRef: (t, p) => patientRef(core, t, p) });
  server.register(patientRoutes, { prefix: '/v1/patients', patients: new PatientService(core), access });
  server.register(notificationRoutes, {
    prefix: '/v1/notifications',
    notifications: new NotificationService(core),
    access,
  });
  await server.ready();
  const url = await listen(server);
  return { url, apiKey, counts, close: () => server.close() };
}

/** Registers `ids` as patients with one SMS contact point each, over HTTPS like a client would. */
export async function registerPatients(t: Target, tls: Tls, ids: string[]): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 8, ca: tls.cert });
  try {
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const i = next++;
        const body = {
          name: { given: ['Bench'], family: `Patient${i}` },
          birthDate: '1970-01-01',
          // 555-01xx numbers are reserved for fiction in the NANP.
          telecom: [{ system: 'sms', value: `+1202555${String(100 + (i % 100)).padStart(4, '0')}`, rank: 1 }],
          language: i % 5 === 0 ? 'es' : 'en',
          timeZone: ['America/New_York', 'America/Chicago', 'America/Los_Angeles', 'Europe/Madrid'][i % 4],
        };
        const res = await httpsJson(agent, t.url, 'PUT', `/v1/patients/${ids[i]}`, body, t.apiKey);
        if (res.status !== 201 && res.status !== 200)
          throw new Error(`registering patient ${ids[i]}: HTTP ${res.status} ${res.text}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  } finally {
    agent.destroy();
  }
}

/** One JSON POST with the target's API key (for preflight checks; the load itself is autocannon's). */
export async function postJson(
  t: Target,
  tls: Tls,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const agent = new Agent({ keepAlive: false, ca: tls.cert });
  try {
    return await httpsJson(agent, t.url, 'POST', path, body, t.apiKey, headers);
  } finally {
    agent.destroy();
  }
}

function httpsJson(
  agent: Agent,
  base: string,
  method: string,
  path: string,
  body: unknown,
  apiKey: string,
  extraHeaders: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, base),
      {
        method,
        agent,
        servername: 'localhost',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}`, ...extraHeaders },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * A second, read-only connection to the server's database, for counting progress without going
 * through the server (WAL lets it read while the server writes).
 */
export class DbProbe {
  private readonly db: Sqlite.Database;

  constructor(path: string) {
    this.db = new Sqlite(path, { readonly: true, fileMustExist: true });
  }

  maxNotificationRowid(): number {
    return (this.db.prepare('select coalesce(max(rowid), 0) as m from notifications').get() as { m: number }).m;
  }

  maxOutboxId(): number {
    return (this.db.prepare('select coalesce(max(id), 0) as m from dev_outbox').get() as { m: number }).m;
  }

  /** Notifications (and their deliveries) committed after `afterRowid`: count and first commit time. */
  notificationsSince(afterRowid: number): {
    n: number;
    firstAt: number | null;
    lastAt: number | null;
    deliveries: number;
  } {
    const r = this.db
      .prepare(
        'select count(*) as n, min(created_at) as firstAt, max(created_at) as lastAt from notifications where rowid > ?',
      )
      .get(afterRowid) as { n: number; firstAt: number | null; lastAt: number | null };
    const d = this.db
      .prepare(
        'select count(*) as n from deliveries where notification_id in (select id from notifications where rowid > ?)',
      )
      .get(afterRowid) as { n: number };
    return { ...r, deliveries: d.n };
  }

  outboxSince(afterId: number): { n: number; lastAt: number | null } {
    return this.db
      .prepare('select count(*) as n, max(created_at) as lastAt from dev_outbox where id > ?')
      .get(afterId) as { n: number; lastAt: number | null };
  }

  /**
   * True once at least `target` outbox rows exist after `afterId`. Polled while the server works, so
   * it costs one index lookup (ids only grow, so max(id) − afterId bounds the count from above) and
   * runs the exact count only when that bound says the target may be reached.
   */
  outboxReached(afterId: number, target: number): boolean {
    if (this.maxOutboxId() - afterId < target) return false;
    return (
      (this.db.prepare('select count(*) as n from dev_outbox where id > ?').get(afterId) as { n: number }).n >= target
    );
  }

  /** Audit entries appended, how many the Merkle log has integrated, and checkpoints signed. */
  auditLogState(): { appended: number; integrated: number; checkpoints: number } {
    const hasLog = !!this.db
      .prepare("select 1 from sqlite_master where type = 'table' and name = 'audit_log_state'")
      .get();
    const one = (sql: string) => Number((this.db.prepare(sql).get() as { n: number | null } | undefined)?.n ?? 0);
    if (!hasLog) return { appended: one('select count(*) as n from audit_entries'), integrated: 0, checkpoints: 0 };
    return {
      appended: one('select max(idx) as n from audit_entries'),
      integrated: one("select value as n from audit_log_state where name = 'integrated_size'"),
      checkpoints: one('select count(*) as n from audit_checkpoints'),
    };
  }

  deliveryStatusCounts(): Record<string, number> {
    const rows = this.db.prepare('select status, count(*) as n from deliveries group by status').all() as {
      status: string;
      n: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  close(): void {
    this.db.close();
  }
}

/** What a default client negotiates with the server (autocannon uses tls.connect defaults too). */
export function tlsSession(url: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    // Certificate not checked: this connection only reads the negotiated protocol and cipher.
    const s = connect(
      { host: u.hostname, port: Number(u.port), servername: 'localhost', rejectUnauthorized: false },
      () => {
        const desc = `${s.getProtocol()} ${s.getCipher().standardName}`;
        s.end();
        resolve(desc);
      },
    );
    s.on('error', reject);
  });
}
