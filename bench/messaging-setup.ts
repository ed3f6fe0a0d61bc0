/**
 * What the messaging benches share: a real Sealpost (buildApp over HTTPS on loopback, SQLite in a temp
 * dir or a fresh PostgreSQL database), staff people with sessions, messaging devices registered
 * through `POST /v1/messaging/devices` with real Ed25519 keys, and real key packages (ts-mls) uploaded
 * through `POST /v1/messaging/devices/{id}/key-packages`.
 */
import { Agent } from 'node:https';
import {
  defaultCapabilities,
  defaultLifetime,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type CiphersuiteImpl,
} from 'ts-mls';
import { httpsJson, startSealpost, type Harness } from '../test/helpers/sealpost-harness.js';
import { staffWithSession } from '../test/helpers/identity.js';
import { deviceIdentity, type CipherSuiteName } from '../src/messaging/messaging-types.js';
import { createDatabase, dropDatabase, DEFAULT_PG_ADMIN_URL } from './pg-support.js';

export type Backend = 'sqlite' | 'postgres';

export interface BenchServer {
  h: Harness;
  backend: Backend;
  /** A keep-alive agent trusting the server's certificate (many requests, few connections). */
  agent: Agent;
  close(): Promise<void>;
}

export async function startBenchServer(backend: Backend, env: Record<string, string> = {}): Promise<BenchServer> {
  const pgName = `sealpost_bench_msg_${process.pid}_${Date.now() % 100000}`;
  const url = backend === 'postgres' ? await createDatabase(DEFAULT_PG_ADMIN_URL, pgName) : null;
  // Logs at warn: the bench measures the server, not its request log.
  const h = await startSealpost({
    SEALPOST_LOG_LEVEL: 'warn',
    ...(url ? { SEALPOST_DATABASE_URL: url } : {}),
    ...env,
  });
  const agent = new Agent({ ca: h.cert, keepAlive: true, maxSockets: 64 });
  return {
    h,
    backend,
    agent,
    async close() {
      agent.destroy();
      await h.close();
      if (url) await dropDatabase(DEFAULT_PG_ADMIN_URL, pgName).catch(() => undefined);
    },
  };
}

export interface BenchDevice {
  userId: string;
  token: string;
  deviceId: string;
  keys: { publicKey: Uint8Array; signKey: Uint8Array };
}

export async function call<T = any>(s: BenchServer, token: string, method: string, path: string, body?: unknown) {
  const r = await httpsJson(s.h.url, s.agent, method, path, body, { authorization: `Bearer ${token}` });
  return r as { status: number; body: T; text: string };
}

const impls = new Map<CipherSuiteName, Promise<CiphersuiteImpl>>();
export const suiteImpl = (s: CipherSuiteName) => {
  let p = impls.get(s);
  if (!p) impls.set(s, (p = getCiphersuiteImpl(getCiphersuiteFromName(s))));
  return p;
};

/** `n` staff people (nurses), each with a session and one registered messaging device. */
export async function registerDevices(s: BenchServer, n: number): Promise<BenchDevice[]> {
  const impl = await suiteImpl('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519');
  const out: BenchDevice[] = [];
  for (let i = 0; i < n; i++) {
    const p = await staffWithSession(s.h, ['nurse']);
    const keys = await impl.signature.keygen();
    const r = await call(s, p.token, 'POST', '/v1/messaging/devices', {
      name: `bench ${i}`,
      platform: 'cli',
      signatureKey: Buffer.from(keys.publicKey).toString('base64'),
    });
    if (r.status !== 201) throw new Error(`device registration answered ${r.status}: ${r.text}`);
    out.push({ userId: p.userId, token: p.token, deviceId: r.body.deviceId, keys });
  }
  return out;
}

/** Encoded key packages (base64 MLSMessage) of `suite` for a device. */
export async function keyPackages(d: BenchDevice, suite: CipherSuiteName, n: number): Promise<string[]> {
  const impl = await suiteImpl(suite);
  const credential = {
    credentialType: 'basic' as const,
    identity: new TextEncoder().encode(deviceIdentity('default', d.deviceId)),
  };
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const kp = await generateKeyPackageWithKey(credential, defaultCapabilities(), defaultLifetime, [], d.keys, impl);
    const bytes = encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: kp.publicPackage });
    out.push(Buffer.from(bytes).toString('base64'));
  }
  return out;
}

/** Uploads `n` key packages of `suite` per device (100 per request, the route's maximum) plus a last-resort one. */
export async function uploadKeyPackages(
  s: BenchServer,
  devices: readonly BenchDevice[],
  suite: CipherSuiteName,
  n: number,
): Promise<void> {
  for (const d of devices) {
    const all = await keyPackages(d, suite, n + 1);
    for (let i = 0; i < n; i += 100) {
      const r = await call(s, d.token, 'POST', `/v1/messaging/devices/${d.deviceId}/key-packages`, {
        keyPackages: all.slice(i, Math.min(n, i + 100)),
        ...(i === 0 ? { lastResort: all[n] } : {}),
      });
      if (r.status !== 201) throw new Error(`key-package upload answered ${r.status}: ${r.text}`);
    }
  }
}
