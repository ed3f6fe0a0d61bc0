/**
 * Cost per notification of the key operations (`npm run bench:crypto`): field encryption, data-key
 * wrap/unwrap, signing, and the data-key cache, for the local keyring and for a SoftHSM2 token.
 * Results go into BENCHMARKS.md ("Keys and crypto").
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalKeyring } from '../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../src/crypto/envelope-cipher.js';
import type { KeyProvider } from '../src/crypto/key-provider.js';
import { machineInfo } from './machine-info.js';
import { createSoftHsm, SOFTHSM_LIBRARY } from '../test/helpers/softhsm-token.js';
import { DEFAULT_TENANT } from '../src/core/domain.js';

const N = Number(process.env.BENCH_CRYPTO_N ?? 2000);

async function time(
  label: string,
  n: number,
  fn: (i: number) => unknown | Promise<unknown>,
): Promise<[string, number]> {
  for (let i = 0; i < Math.min(100, n); i++) await fn(i); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  return [label, us];
}

async function measure(name: string, provider: KeyProvider): Promise<[string, number][]> {
  const noCache = new EnvelopeCipher(provider, { max: 0, ttlMs: 0 });
  const cached = new EnvelopeCipher(provider, { max: 10_000, ttlMs: 300_000 });
  const { key, wrapped } = await noCache.newDataKey(DEFAULT_TENANT, 'p0');
  const payload = JSON.stringify({
    patient: 'x'.repeat(200),
    appointment: { at: new Date().toISOString(), clinic: 'y'.repeat(100) },
  });
  const ref = { tenantId: DEFAULT_TENANT, table: 'notifications', rowId: 'n1', field: 'data' };
  const ct = noCache.encrypt(key, ref, payload);
  const signer = provider.signer();
  const header = Buffer.from(
    JSON.stringify({
      id: 'n1',
      type: 'appointment.reminder',
      contentHash: 'z'.repeat(64),
      at: new Date().toISOString(),
    }),
  );
  await cached.dataKey(DEFAULT_TENANT, 'p0', wrapped);
  return Promise.all([]).then(async () => [
    await time(`${name}: encrypt a notification payload (AES-256-GCM, ~0.4 KB)`, N * 5, () =>
      noCache.encrypt(key, ref, payload),
    ),
    await time(`${name}: decrypt it`, N * 5, () => noCache.decrypt(key, ref, ct)),
    await time(`${name}: wrap a new data key`, N, () => provider.wrapDataKey(DEFAULT_TENANT, key, 'aad')),
    await time(`${name}: unwrap a data key (no cache)`, N, () => noCache.dataKey(DEFAULT_TENANT, 'p0', wrapped)),
    await time(`${name}: data key from the cache`, N * 5, () => cached.dataKey(DEFAULT_TENANT, 'p0', wrapped)),
    await time(`${name}: sign a notification header (Ed25519)`, N, () => signer.sign(header)),
    await time(`${name}: contact blind index (HMAC-SHA256)`, N * 5, (i) =>
      cached.blindIndex(DEFAULT_TENANT, 'contact.sms', `+1415555${i}`),
    ),
  ]);
}

const dir = mkdtempSync(join(tmpdir(), 'sealpost-bench-crypto-'));
const results: [string, number][] = [];
results.push(...(await measure('local', LocalKeyring.openOrCreate(join(dir, 'keyring.json')).keyring)));
const hsm = createSoftHsm();
const pin = hsm.initToken('bench');
process.env.SOFTHSM2_CONF = hsm.conf;
const { Pkcs11KeyProvider } = await import('../src/crypto/pkcs11-key-provider.js');
const { provider } = await Pkcs11KeyProvider.open({ library: SOFTHSM_LIBRARY, tokenLabel: 'bench', pin });
results.push(...(await measure('softhsm2', provider)));
await provider.close();

console.log(JSON.stringify(machineInfo(dir)));
console.log('| operation | µs per op |\n|---|---:|');
for (const [label, us] of results) console.log(`| ${label} | ${us.toFixed(1)} |`);
