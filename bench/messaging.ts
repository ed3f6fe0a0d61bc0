/**
 * End-to-end encrypted messaging (`npm run bench -- --messaging`, `npm run bench:messaging`), each
 * figure beside a reference measured in the same run:
 * 1. `mls`: client-side ts-mls cost per cipher suite (encrypt/decrypt 1 KiB, a commit adding a
 *    member) vs one AES-256-GCM of 1 KiB with node:crypto (bench/messaging-mls.ts).
 * 2. `claims`: key-package claims/s through the route and the claim service vs the store's bare
 *    insert and delete of the same rows (bench/messaging-claims.ts); on PostgreSQL too with `--pg`
 *    or SEALPOST_BENCH_PG=1 (server: SEALPOST_BENCH_PG_URL, default postgres@127.0.0.1:5432).
 * 3. `fanout`: one message to a 50-device group, accepted and pushed live to 50 WebSocket connections:
 *    server CPU per delivered copy vs the same frames sent with `ws` alone (bench/messaging-load.ts).
 * 4. `latency`: sender → recipient over WebSocket at 500 messages/s for 10 s (HTTP POST, live receipt),
 *    p50/p99 and server CPU per message vs a bare Fastify + ws path (bench/messaging-latency.ts).
 *
 *   npm run bench:messaging -- [--parts mls,claims,fanout,latency] [--messages 2000] [--commits 30] [--claims 1000]
 *                              [--fanout-messages 200] [--rates 500] [--duration 10] [--pg] [--cpu-prof-dir dir] [--json file]
 *
 * Markdown goes to stdout, progress to stderr.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { forEachFlag } from './args.js';
import { codeInfo, machineInfo } from './machine-info.js';
import { renderMls, runMlsCosts, type MlsResult } from './messaging-mls.js';
import { renderClaims, runClaims, type ClaimRow } from './messaging-claims.js';
import { runFanout, type FanoutResult } from './messaging-load.js';
import { renderLatency, runLatency, type LatencyRun } from './messaging-latency.js';
import { renderProfiles } from './profiler.js';

const PARTS = ['mls', 'claims', 'fanout', 'latency'] as const;
type Part = (typeof PARTS)[number];

interface Options {
  parts: Part[];
  messages: number;
  commits: number;
  claims: number;
  fanoutMessages: number;
  rates: number[];
  durationSec: number;
  pg: boolean;
  cpuProfDir: string | null;
  json: string | null;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    parts: [...PARTS],
    messages: 2000,
    commits: 30,
    claims: 1000,
    fanoutMessages: 200,
    rates: [500],
    durationSec: 10,
    cpuProfDir: null,
    pg: !!process.env.SEALPOST_BENCH_PG && process.env.SEALPOST_BENCH_PG !== '0',
    json: null,
  };
  forEachFlag(argv, (flag, value, num) => {
    switch (flag) {
      case '--messaging':
        break;
      case '--parts': {
        const ps = value().split(',');
        if (!ps.length || ps.some((p) => !(PARTS as readonly string[]).includes(p)))
          throw new Error(`--parts: a list of ${PARTS.join(', ')}`);
        o.parts = ps as Part[];
        break;
      }
      case '--messages':
        o.messages = Math.round(num(10));
        break;
      case '--commits':
        o.commits = Math.round(num(1));
        break;
      case '--claims':
        o.claims = Math.round(num(50));
        break;
      case '--fanout-messages':
        o.fanoutMessages = Math.round(num(10));
        break;
      case '--rates': {
        o.rates = value().split(',').map(Number);
        if (!o.rates.length || o.rates.some((r) => !Number.isFinite(r) || r < 1))
          throw new Error('--rates: a list of messages per second');
        break;
      }
      case '--duration':
        o.durationSec = num(1);
        break;
      case '--cpu-prof-dir':
        o.cpuProfDir = resolve(value());
        break;
      case '--pg':
        o.pg = true;
        break;
      case '--json':
        o.json = value();
        break;
      case '--help':
      case '-h':
        process.stdout.write(
          `npm run bench:messaging -- [--parts ${PARTS.join(',')}] [--messages 2000] [--commits 30] [--claims 1000] [--fanout-messages 200] [--rates 500] [--duration 10] [--pg] [--cpu-prof-dir dir] [--json file]\n`,
        );
        process.exit(0);
      // eslint-disable-next-line no-fallthrough
      default:
        throw new Error(`unknown option ${flag}`);
    }
  });
  return o;
}

function renderFanout(rs: readonly FanoutResult[]): string {
  const out = [
    '| backend | messages × devices | frame bytes | server CPU µs/copy | bare `ws` µs/copy | ratio | wall ms/message |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rs)
    out.push(
      `| ${r.backend} | ${r.messages} × ${r.devices} | ${r.frameBytes} | ${r.cpuUsPerCopy.toFixed(1)} | ${r.reference.cpuUsPerCopy.toFixed(1)} | ${(r.cpuUsPerCopy / r.reference.cpuUsPerCopy).toFixed(1)} | ${r.wallMsPerMessage.toFixed(1)} |`,
    );
  const profiles = rs.flatMap((r) => (r.profile ? [r.profile] : []));
  return out.join('\n') + '\n' + (profiles.length ? renderProfiles(profiles) : '');
}

const log = (s: string) => process.stderr.write(`${s}\n`);

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const root = mkdtempSync(join(tmpdir(), 'sealpost-bench-messaging-'));
  try {
    const machine = machineInfo(root);
    const code = codeInfo();
    const results: { mls?: MlsResult; claims?: ClaimRow[]; fanout?: FanoutResult[]; latency?: LatencyRun[] } = {};
    const md: string[] = [
      '## End-to-end encrypted messaging',
      '',
      `${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, ${machine.os}; commit ${code.commit}${code.uncommittedSrcFiles.length ? ` + ${code.uncommittedSrcFiles.length} uncommitted src files` : ''}.`,
      '',
    ];
    if (o.parts.includes('mls')) {
      log('1. client-side MLS cost per cipher suite (ts-mls)');
      results.mls = await runMlsCosts({ messages: o.messages, commits: o.commits }, log);
      md.push('### 1. Client-side MLS cost (ts-mls 1.6.4, one thread)', '', renderMls(results.mls));
    }
    const backends = o.pg ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
    if (o.parts.includes('claims')) {
      log('2. key-package claims/s');
      results.claims = [];
      for (const b of backends) results.claims.push(...(await runClaims(b, { perPhase: o.claims }, log)));
      md.push('### 2. Key-package claims (X25519 suite, 50 devices)', '', renderClaims(results.claims));
    }
    if (o.parts.includes('fanout')) {
      log('3. fan-out of one message to a 50-device group');
      results.fanout = [];
      for (const b of backends)
        results.fanout.push(
          await runFanout(b, { messages: o.fanoutMessages, devices: 50, profileDir: o.cpuProfDir }, log),
        );
      md.push('### 3. Fan-out to a 50-device group (live WebSocket)', '', renderFanout(results.fanout));
    }
    if (o.parts.includes('latency')) {
      log(`4. sender → recipient latency at ${o.rates.join(', ')}/s`);
      results.latency = [];
      for (const b of backends)
        results.latency.push(
          await runLatency(b, { rates: o.rates, durationSec: o.durationSec, profileDir: o.cpuProfDir }, log),
        );
      const profiles = results.latency.flatMap((r) => (r.profile ? [r.profile] : []));
      md.push(
        `### 4. Sender → recipient over WebSocket, ${o.rates.join(', ')}/s for ${o.durationSec} s each`,
        '',
        renderLatency(results.latency) + (profiles.length ? renderProfiles(profiles) : ''),
      );
    }
    process.stdout.write(md.join('\n') + '\n');
    if (o.json) writeFileSync(o.json, JSON.stringify({ machine, code, options: o, results }, null, 2) + '\n');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
