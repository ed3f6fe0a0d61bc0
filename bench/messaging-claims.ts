/**
 * Key-package claims per second on the real server (SQLite, or PostgreSQL with `--pg`): 50 messaging
 * devices registered over HTTPS, each with real ts-mls key packages uploaded through the route, and a
 * group conversation of their 50 people (claims name the conversation the devices are added to). Then,
 * each phase claiming packages that exist (never the last-resort one):
 * - `route`: `POST /v1/messaging/key-packages/claim` for one device per request, 4 concurrent clients
 *   on keep-alive connections (the client runs in this process: its CPU is in the figure);
 * - `service`: the claim service itself (KeyPackageService.claim, what the route calls: device check,
 *   delete-returning, count left, audit entry, durable commit), one device per call, sequential;
 * - `service, 50 devices`: one call claiming for 50 devices (what opening a 50-device group costs);
 * - the reference: the same rows with the store alone — each inserted (100 per transaction, as an
 *   upload) and then deleted by the repository's claim statement (delete-returning of the oldest
 *   row), one per durable transaction, and 50 per transaction for the batch shape.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { v7 as uuidv7 } from 'uuid';
import { KeyPackageService } from '../src/messaging/key-packages.js';
import type { CipherSuiteName } from '../src/messaging/messaging-types.js';
import { call, registerDevices, startBenchServer, uploadKeyPackages, type Backend } from './messaging-setup.js';

const SUITE: CipherSuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
const DEVICES = 50;

export interface ClaimRow {
  backend: Backend;
  path: string;
  claims: number;
  perSec: number;
  cpuUsPerClaim: number;
  /** The reference this row is compared with (same shape), and its rate. */
  referencePerSec: number | null;
}

async function timed(claims: number, body: () => Promise<void>) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await body();
  const sec = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { claims, perSec: claims / sec, cpuUsPerClaim: (c.user + c.system) / claims };
}

export async function runClaims(
  backend: Backend,
  o: { perPhase: number },
  log: (s: string) => void,
): Promise<ClaimRow[]> {
  const s = await startBenchServer(backend);
  try {
    const store = s.h.app.store;
    const per = Math.ceil(o.perPhase / DEVICES);
    log(`  ${backend}: registering ${DEVICES} devices, uploading ${DEVICES * (3 * per + 12)} key packages`);
    const devices = await registerDevices(s, DEVICES);
    // Three phases use real packages; 12 more each keep every device above the low mark (10).
    await uploadKeyPackages(s, devices, SUITE, 3 * per + 12);
    const ids = devices.map((d) => d.deviceId);
    const n = per * DEVICES;
    const sample = (await store.read.messagingDevices.claim('default', ids[0]!, SUITE))!.data;
    // The limiter's budget (1,000 packages per person per minute) is raised: the bench measures
    // throughput; the limiter's own count is still paid on every claim.
    const service = new KeyPackageService({
      store,
      clock: () => new Date(),
      newId: uuidv7,
      lowThreshold: 10,
      claimsPerMinute: 1e9,
    });
    const ctx = {
      tenantId: 'default',
      actor: `user:${devices[0]!.userId}`,
      person: { kind: 'user' as const, id: devices[0]!.userId },
    };
    // Claims are for adding devices to a conversation whose roster holds their people.
    const conv = await call(s, devices[0]!.token, 'POST', '/v1/conversations', {
      kind: 'group',
      deviceId: ids[0],
      members: devices.slice(1).map((d) => ({ kind: 'user', id: d.userId })),
      cipherSuite: SUITE,
    });
    if (conv.status !== 201) throw new Error(`conversation answered ${conv.status}: ${conv.text}`);
    const convId = conv.body.id as string;
    const mustBeFresh = (lastResort: boolean) => {
      if (lastResort) throw new Error('a claim fell back to the last-resort package: upload more');
    };

    // Reference rows: copies of a real package's bytes, inserted as an upload does, 2 phases' worth.
    const insert = await timed(2 * n, async () => {
      for (const d of ids)
        for (let i = 0; i < 2 * per; i += 100)
          await store.transaction((tx) =>
            tx.messagingDevices.insertKeyPackages(
              Array.from({ length: Math.min(100, 2 * per - i) }, () => ({
                id: uuidv7(),
                tenant_id: 'default',
                device_id: d,
                cipher_suite: SUITE,
                ref: randomBytes(32).toString('hex'),
                data: sample,
                last_resort: 0,
                created_at: Date.now(),
              })),
            ),
          );
      await store.durable();
    });
    log(`  ${backend}: reference rows inserted (${Math.round(insert.perSec)}/s)`);
    const bare = await timed(n, async () => {
      for (let i = 0; i < n; i++) {
        const got = await store.transaction((tx) => tx.messagingDevices.claim('default', ids[i % DEVICES]!, SUITE));
        mustBeFresh(got!.lastResort);
        await store.durable();
      }
    });
    const bareBatch = await timed(n, async () => {
      for (let i = 0; i < n; i += DEVICES)
        await store.transaction(async (tx) => {
          for (const d of ids) mustBeFresh((await tx.messagingDevices.claim('default', d, SUITE))!.lastResort);
        });
      await store.durable();
    });
    log(`  ${backend}: reference claims done`);

    const one = await timed(n, async () => {
      for (let i = 0; i < n; i++) {
        const r = await service.claim(ctx, convId, [ids[i % DEVICES]!], SUITE);
        mustBeFresh(r.items[0]!.lastResort);
      }
    });
    const batch = await timed(n, async () => {
      for (let i = 0; i < n; i += DEVICES) {
        const r = await service.claim(ctx, convId, ids, SUITE);
        if (r.items.length !== DEVICES) throw new Error('a device was missing from a batch claim');
        for (const it of r.items) mustBeFresh(it.lastResort);
      }
    });
    log(`  ${backend}: service claims done`);

    let next = 0;
    const route = await timed(n, async () => {
      const client = async () => {
        for (let i = next++; i < n; i = next++) {
          // Not devices[0]'s person: the service phases spent its budget of 1,000 claims a minute.
          const d = devices[1 + (i % (DEVICES - 1))]!;
          const r = await call(s, d.token, 'POST', '/v1/messaging/key-packages/claim', {
            conversationId: convId,
            deviceIds: [ids[(i + 1) % DEVICES]],
            cipherSuite: SUITE,
          });
          if (r.status !== 200) throw new Error(`claim answered ${r.status}: ${r.text}`);
          mustBeFresh(r.body.items[0].lastResort);
        }
      };
      await Promise.all([client(), client(), client(), client()]);
    });
    log(`  ${backend}: route claims done`);
    return [
      { backend, path: 'route, 1 device/request, 4 clients', ...route, referencePerSec: bare.perSec },
      { backend, path: 'service, 1 device/call', ...one, referencePerSec: bare.perSec },
      { backend, path: `service, ${DEVICES} devices/call`, ...batch, referencePerSec: bareBatch.perSec },
      { backend, path: 'reference: store delete, 1/transaction', ...bare, referencePerSec: null },
      { backend, path: `reference: store delete, ${DEVICES}/transaction`, ...bareBatch, referencePerSec: null },
      { backend, path: 'reference: store insert, 100/transaction', ...insert, referencePerSec: null },
    ];
  } finally {
    await s.close();
  }
}

export function renderClaims(rows: readonly ClaimRow[]): string {
  const out = ['| backend | path | claims | claims/s | CPU µs/claim | ÷ reference |', '|---|---|---:|---:|---:|---:|'];
  for (const r of rows)
    out.push(
      `| ${r.backend} | ${r.path} | ${r.claims} | ${Math.round(r.perSec).toLocaleString('en-US')} | ${Math.round(r.cpuUsPerClaim).toLocaleString('en-US')} | ${r.referencePerSec ? (r.perSec / r.referencePerSec).toFixed(2) : '—'} |`,
    );
  return out.join('\n') + '\n';
}
