/**
 * The load generator, run as a separate process (forked by load.ts) so that it gets its own core
 * instead of sharing the server's event loop. It receives one LoadSpec per IPC message and answers
 * with a LoadResult.
 *
 * TLS: autocannon connects with `rejectUnauthorized: false` hard-coded (lib/httpClient.js), so the
 * server's self-signed certificate is accepted without setting NODE_TLS_REJECT_UNAUTHORIZED. That is
 * acceptable for a benchmark on loopback only; the encryption work on both ends is the same.
 */
import autocannon from 'autocannon';

export interface LoadSpec {
  url: string;
  apiKey: string;
  connections: number;
  durationSec: number;
  /** Patient ids to cycle through. */
  patientIds: string[];
  /** Makes idempotency keys unique across phases and runs. */
  keyPrefix: string;
  /**
   * 0 (default): one `POST /v1/notifications` per request, key in the Idempotency-Key header.
   * N ≥ 1: `POST /v1/notifications:batch` with N items per request, each with its own idempotencyKey.
   */
  batchSize?: number;
  /**
   * Several servers sharing one database (PostgreSQL, several nodes): the connections are split
   * evenly over them, one autocannon instance per server, all in this process. Overrides `url`.
   */
  urls?: string[];
}

export interface LoadResult {
  durationSec: number;
  sent: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** 2xx answers per second of the run. */
  okPerSec: number;
  /** Notifications per request (1 for single requests, the batch size for batch requests). */
  itemsPerRequest: number;
  /** Notifications answered 2xx per second: okPerSec × itemsPerRequest (a batch is all or none). */
  okItemsPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** CPU time of the load generator process over the run, in % of one core. */
  clientCpuPct: number;
  statusCodes: Record<string, number>;
  /**
   * With `urls`: each server's share. The aggregate latency percentiles above are then the worst
   * of the servers' (autocannon does not expose its histograms for an exact merge); mean is weighted.
   */
  perTarget?: {
    url: string;
    connections: number;
    ok2xx: number;
    okPerSec: number;
    latencyMs: LoadResult['latencyMs'];
  }[];
}

const TEST_NAMES = ['Lipid panel', 'Complete blood count', 'HbA1c', 'Thyroid panel', 'Vitamin D'];

function singleRequest(spec: LoadSpec, headers: Record<string, string>, next: () => number): autocannon.Request {
  return {
    method: 'POST',
    path: '/v1/notifications',
    headers,
    // One request = one new notification: a different patient each time and a unique key, so
    // no request is an idempotent replay.
    setupRequest: (req: autocannon.Request) => {
      const i = next();
      req.headers = { ...headers, 'idempotency-key': `${spec.keyPrefix}-${i}` };
      req.body = JSON.stringify({
        type: 'test_result_ready',
        patientId: spec.patientIds[i % spec.patientIds.length],
        data: { testName: TEST_NAMES[i % TEST_NAMES.length] },
      });
      return req;
    },
  };
}

function batchRequest(
  spec: LoadSpec,
  size: number,
  headers: Record<string, string>,
  next: () => number,
): autocannon.Request {
  return {
    method: 'POST',
    path: '/v1/notifications:batch',
    headers,
    // `size` new notifications per request, each for the next patient with its own unique key.
    setupRequest: (req: autocannon.Request) => {
      const items = new Array(size);
      for (let j = 0; j < size; j++) {
        const i = next();
        items[j] = {
          type: 'test_result_ready',
          patientId: spec.patientIds[i % spec.patientIds.length],
          data: { testName: TEST_NAMES[i % TEST_NAMES.length] },
          idempotencyKey: `${spec.keyPrefix}-${i}`,
        };
      }
      req.body = JSON.stringify({ items });
      return req;
    },
  };
}

async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  if (spec.urls && spec.urls.length > 1) return runSpread(spec, spec.urls);
  let n = 0;
  const next = () => n++;
  const items = spec.batchSize && spec.batchSize > 0 ? spec.batchSize : 1;
  const headers = {
    'content-type': 'application/json',
    authorization: `Bearer ${spec.apiKey}`,
  };
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    pipelining: 1,
    duration: spec.durationSec,
    timeout: 30,
    // SNI must be a host name (RFC 6066 §3); the certificate names localhost and 127.0.0.1.
    servername: 'localhost',
    requests: [
      spec.batchSize && spec.batchSize > 0
        ? batchRequest(spec, spec.batchSize, headers, next)
        : singleRequest(spec, headers, next),
    ],
  });
  const wallSec = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const codes: Record<string, number> = {};
  for (const [code, v] of Object.entries(result.statusCodeStats ?? {})) codes[code] = (v as { count: number }).count;
  return {
    durationSec: result.duration,
    sent: result.requests.sent,
    ok2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    okPerSec: result['2xx'] / result.duration,
    itemsPerRequest: items,
    okItemsPerSec: (result['2xx'] * items) / result.duration,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
      mean: result.latency.mean,
    },
    clientCpuPct: ((cpu.user + cpu.system) / 1e6 / wallSec) * 100,
    statusCodes: codes,
  };
}

/** One autocannon per server, started together, connections split evenly; the results summed. */
async function runSpread(spec: LoadSpec, urls: string[]): Promise<LoadResult> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const conns = urls.map(
    (_, i) => Math.floor(spec.connections / urls.length) + (i < spec.connections % urls.length ? 1 : 0),
  );
  // Disjoint key ranges per server (suffix), so no request is a replay of another server's.
  const parts = await Promise.all(
    urls.map((url, i) =>
      runLoad({
        ...spec,
        url,
        urls: undefined,
        connections: Math.max(1, conns[i]),
        keyPrefix: `${spec.keyPrefix}-s${i}`,
      }),
    ),
  );
  const wallSec = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const sum = (f: (r: LoadResult) => number) => parts.reduce((a, r) => a + f(r), 0);
  const worst = (k: keyof LoadResult['latencyMs']) => Math.max(...parts.map((r) => r.latencyMs[k]));
  const durationSec = Math.max(...parts.map((r) => r.durationSec));
  const ok2xx = sum((r) => r.ok2xx);
  const codes: Record<string, number> = {};
  for (const r of parts) for (const [c, v] of Object.entries(r.statusCodes)) codes[c] = (codes[c] ?? 0) + v;
  return {
    durationSec,
    sent: sum((r) => r.sent),
    ok2xx,
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    okPerSec: sum((r) => r.okPerSec),
    itemsPerRequest: parts[0].itemsPerRequest,
    okItemsPerSec: sum((r) => r.okItemsPerSec),
    latencyMs: {
      p50: worst('p50'),
      p90: worst('p90'),
      p99: worst('p99'),
      max: worst('max'),
      mean: ok2xx ? sum((r) => r.latencyMs.mean * r.ok2xx) / ok2xx : NaN,
    },
    clientCpuPct: ((cpu.user + cpu.system) / 1e6 / wallSec) * 100,
    statusCodes: codes,
    perTarget: parts.map((r, i) => ({
      url: urls[i],
      connections: conns[i],
      ok2xx: r.ok2xx,
      okPerSec: r.okPerSec,
      latencyMs: r.latencyMs,
    })),
  };
}

process.on('message', (msg: { id: number; spec: LoadSpec }) => {
  runLoad(msg.spec).then(
    (result) => process.send!({ id: msg.id, result }),
    (e: Error) => process.send!({ id: msg.id, error: e.stack ?? String(e) }),
  );
});
// The bench process went away (Ctrl-C, crash): stop generating load at once.
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true });
