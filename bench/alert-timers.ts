/**
 * Escalation timers under load: 10,000 open alerts whose next step is due at times spread over one
 * minute, fired by the timer worker (one node on SQLite; two nodes on PostgreSQL). Reports the
 * distribution of (fired − due), that no timer and no step fired twice, and CPU per fired timer.
 *
 *   node bin/run-ts.js bench/alert-timers.ts [--backend sqlite|postgres|both] [--alerts 10000] [--spread 60]
 *
 * The directory and the notifier are small in-process stand-ins (every target names one person who
 * is reached): this measures the timer machinery (claim, lock, fire, next timer, audit, commit),
 * not the channels.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../src/config/load-config.js';
import { openStore } from '../src/store/open-store.js';
import type { KyselyStore } from '../src/store/kysely-store.js';
import { LocalKeyring } from '../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../src/crypto/envelope-cipher.js';
import { TemplateRegistry } from '../src/core/templates/template-registry.js';
import type { CoreDeps } from '../src/core/context.js';
import { buildAlerting } from '../src/alerting/alert-service.js';
import type { AlertNotifier, TargetResolver } from '../src/alerting/alert-types.js';
import type { AlertRow } from '../src/store/repositories/alert-repository.js';
import Sqlite from 'better-sqlite3';
import { adminQuery, createDatabase, dropDatabase, DEFAULT_PG_ADMIN_URL } from './pg-support.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const N = Number(arg('alerts', '10000'));
const SPREAD_MS = Number(arg('spread', '60')) * 1000;
const BATCH = Number(arg('batch', '25'));
const BACKENDS = arg('backend', 'both') === 'both' ? ['sqlite', 'postgres'] : [arg('backend', 'sqlite')];

const resolver: TargetResolver = {
  resolveInTx: async (_tx, _t, target) => ({ userIds: [target.kind === 'user' ? target.userId : 'someone'] }),
  checkInTx: async () => undefined,
};

/**
 * Counts planned step firings per (alert, step, repeat) (a second one is a double escalation) and
 * notes when each firing's nudges were handed over: after its transaction was durable.
 */
function countingNotifier(seen: Map<string, number>, handed: Map<string, number>): AlertNotifier {
  return {
    planInTx: async (_tx, _ctx, a, recipients) => {
      const k = `${a.id}/${a.step}/${a.repeat}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
      return { sends: [{ notificationId: a.id, tenantId: a.tenantId, channel: 'sms' }], reached: recipients.length };
    },
    dispatch: (sends) => {
      const now = Date.now();
      for (const s of sends) if (!handed.has(s.notificationId)) handed.set(s.notificationId, now);
    },
    cancelPendingInTx: async () => undefined,
  };
}

const POLICY = JSON.stringify({
  steps: [
    { targets: ['target'], channels: ['sms'], waitSeconds: 60 },
    { targets: ['target'], channels: ['paging'], waitSeconds: 3600 },
  ],
});

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function run(backend: string): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-bench-timers-'));
  const pgName = `sealpost_bench_timers_${process.pid}`;
  const url =
    backend === 'sqlite'
      ? `sqlite:${join(dataDir, 'sealpost.db')}`
      : await createDatabase(DEFAULT_PG_ADMIN_URL, pgName);
  const config = loadConfig({ SEALPOST_DATA_DIR: dataDir, SEALPOST_DATABASE_URL: url });
  const stores: KyselyStore[] = [openStore(config.database, { nodeId: 'node-a' })];
  try {
    await stores[0]!.migrate();
    if (backend === 'postgres') stores.push(openStore(config.database, { nodeId: 'node-b' }));
    const { keyring } = LocalKeyring.openOrCreate(join(dataDir, 'keyring.json'));
    const cipher = new EnvelopeCipher(keyring);
    const seen = new Map<string, number>();
    const handed = new Map<string, number>();
    const nodes = stores.map((store, i) => {
      const core: CoreDeps = {
        config,
        store,
        cipher,
        templates: TemplateRegistry.load(),
        clock: () => new Date(),
        newId: uuidv7,
        wake: () => {},
      };
      return buildAlerting(
        core,
        { resolver, notifier: countingNotifier(seen, handed) },
        { owner: `node-${i}`, batchSize: BATCH },
      );
    });
    const store = stores[0]!;
    await store.read.tenants.ensure('default', 'Bench', Date.now());

    // 10,000 open alerts at step 0, their step-1 timers due from start+10 s over SPREAD_MS.
    const start = Date.now() + 10_000;
    for (let i = 0; i < N; i += 500) {
      await store.transaction(async (tx) => {
        for (let j = i; j < Math.min(N, i + 500); j++) {
          const id = uuidv7();
          const now = Date.now();
          const row: AlertRow = {
            id,
            tenant_id: 'default',
            priority: 'medium',
            target: `user:u${j % 200}`,
            patient_id: null,
            summary: 'Bench alert',
            details_ct: null,
            source: 'bench',
            dedup_bidx: null,
            open_dedup: null,
            policy_id: null,
            policy_json: POLICY,
            state: 'notified',
            step: 0,
            repeat: 0,
            count: 1,
            created_by: 'bench',
            created_at: now,
            last_triggered_at: now,
            updated_at: now,
            acknowledged_at: null,
            acknowledged_by: null,
            closed_at: null,
            closed_by: null,
          };
          await tx.alerts.insert(row);
          await tx.alerts.insertTimer({
            id: uuidv7(),
            tenant_id: 'default',
            alert_id: id,
            step: 1,
            repeat: 0,
            due_at: start + Math.floor((j / N) * SPREAD_MS),
            fired_at: null,
            fired_by: null,
          });
        }
      });
    }
    await store.durable();
    if (Date.now() > start) throw new Error('seeding took longer than the 10 s head start');

    const cpu0 = process.cpuUsage();
    for (const n of nodes) n.alertTimers.start();
    const deadline = start + SPREAD_MS + 60_000;
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      const fired = nodes.reduce((s, n) => s + n.alertTimers.fired, 0);
      if (fired >= N || Date.now() > deadline) break;
    }
    const cpu = process.cpuUsage(cpu0);
    for (const n of nodes) await n.alertTimers.stop();

    const q = 'select alert_id, due_at, fired_at, fired_by from alert_timers where step = 1 and fired_at is not null';
    type T = { alert_id: string; due_at: number | string; fired_at: number | string; fired_by: string | null };
    const rows: T[] =
      backend === 'sqlite'
        ? (() => {
            const db = new Sqlite(join(dataDir, 'sealpost.db'), { readonly: true });
            try {
              return db.prepare(q).all() as T[];
            } finally {
              db.close();
            }
          })()
        : await adminQuery<T>(url, q);
    // fired − due twice: when the firing transaction claimed the timer, and when its nudges were
    // handed to the channels (after the commit was durable), which is what a person waits for.
    const lat = rows.map((r) => Number(r.fired_at) - Number(r.due_at)).sort((a, b) => a - b);
    const hand = rows.map((r) => (handed.get(r.alert_id) ?? Infinity) - Number(r.due_at)).sort((a, b) => a - b);
    const twice = [...seen.values()].filter((v) => v > 1).length;
    const byNode = new Map<string, number>();
    for (const r of rows) byNode.set(r.fired_by ?? '?', (byNode.get(r.fired_by ?? '?') ?? 0) + 1);
    const fired = nodes.reduce((s, n) => s + n.alertTimers.fired, 0);
    console.log(
      JSON.stringify(
        {
          backend,
          nodes: nodes.length,
          alerts: N,
          spreadSeconds: SPREAD_MS / 1000,
          timersFired: rows.length,
          stepFirings: [...seen.keys()].length,
          firedTwice: twice,
          byNode: Object.fromEntries(byNode),
          claimedMinusDueMs: { p50: pct(lat, 50), p99: pct(lat, 99), max: lat[lat.length - 1], min: lat[0] },
          handedMinusDueMs: { p50: pct(hand, 50), p99: pct(hand, 99), max: hand[hand.length - 1], min: hand[0] },
          over1s: hand.filter((x) => x > 1000).length,
          cpuUsPerFiredTimer: Math.round((cpu.user + cpu.system) / Math.max(1, fired)),
        },
        null,
        2,
      ),
    );
  } finally {
    for (const s of stores) await s.close().catch(() => undefined);
    if (backend === 'postgres') await dropDatabase(DEFAULT_PG_ADMIN_URL, pgName).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

for (const b of BACKENDS) await run(b);
