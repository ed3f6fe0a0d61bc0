/**
 * How the batch endpoint's accepted/s and per-request latency depend on the number of connections
 * and the batch size: the evidence behind `npm run bench`'s defaults (`--batch-size 100
 * --batch-connections 4`). Diagnostic companion of the bench (see BENCHMARKS.md).
 *
 *   node bin/run-ts.js bench/tools/batch-sweep.ts [--mode group|full|ceiling] [--sizes 100]
 *        [--connections 1,2,4,8,16,32] [--duration 5] [--wait-quiet 10]
 *
 * One server (worker off) on a fresh data dir, 300 patients, 2 s of warm-up, then one phase per
 * (size, connections) pair. The queue grows from phase to phase (the worker is off), as in the
 * bench's batch accept phase.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { selfSigned } from '../../src/api/tls.js';
import { LoadGenerator, waitForQuiet } from '../load.js';
import { registerPatients, startCeiling, startSealpost, type Target } from '../servers.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const mode = opt('mode', 'group');
if (!['group', 'full', 'ceiling'].includes(mode)) throw new Error('--mode: group, full or ceiling');
const sizes = opt('sizes', '100').split(',').map(Number);
const conns = opt('connections', '1,2,4,8,16,32').split(',').map(Number);
const duration = Number(opt('duration', '5'));
const quietSec = Number(opt('wait-quiet', '10'));

const root = mkdtempSync(join(tmpdir(), 'sealpost-bsweep-'));
const tls = await selfSigned();
const gen = await LoadGenerator.start();
const runId = randomBytes(4).toString('hex');
const ids = Array.from({ length: 300 }, (_, i) => `bench-p${i}`);
let t: Target | null = null;
try {
  t =
    mode === 'ceiling'
      ? await startCeiling(join(root, 'c'), tls)
      : await startSealpost(join(root, 'db'), mode as 'group' | 'full', tls);
  await registerPatients(t, tls, ids);
  const base = { url: t.url, apiKey: t.apiKey, patientIds: ids };
  await gen.run({ ...base, connections: 8, durationSec: 2, keyPrefix: `${runId}-warm`, batchSize: 100 });
  console.log(`## batch endpoint, ${mode}, ${duration}s per phase\n`);
  console.log(
    "| items/request | connections | accepted notifications/s | requests/s | p50 / p99 ms per request | server CPU / ELU | load gen CPU | others' CPU | non-2xx / errors |",
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const size of sizes) {
    for (const c of conns) {
      if (quietSec > 0) await waitForQuiet(quietSec);
      const r = await gen.run({
        ...base,
        connections: c,
        durationSec: duration,
        keyPrefix: `${runId}-${size}-${c}`,
        batchSize: size,
      });
      console.log(
        `| ${size} | ${c} | ${Math.round(r.okItemsPerSec).toLocaleString('en-US')} | ${Math.round(r.okPerSec)} | ${r.latencyMs.p50} / ${r.latencyMs.p99} | ` +
          `${Math.round(r.serverCpuPct)}% / ${r.serverElu.toFixed(2)} | ${Math.round(r.clientCpuPct)}% | ${Math.round(r.otherCpuPct)}% | ${r.non2xx} / ${r.errors} |`,
      );
    }
  }
} finally {
  await t?.close();
  await gen.close();
  rmSync(root, { recursive: true, force: true });
}
process.exit(0);
