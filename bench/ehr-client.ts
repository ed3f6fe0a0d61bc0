/**
 * The EHR bench's load generator, a separate process (forked by bench/ehr.ts) so that it does not
 * share the server's event loop. It answers one EhrLoadSpec per IPC message with an EhrLoadResult:
 * HTTP loads through autocannon (REST appointments and notifications, FHIR CommunicationRequest), and
 * HL7 v2 SIU^S12 messages over MLLP, each connection sending one message and waiting for its ACK.
 */
import { connect, type Socket } from 'node:net';
import autocannon from 'autocannon';
import { frame, MllpDecoder } from '../src/ehr/hl7/mllp.js';

export type EhrLoadKind = 'rest-appointment' | 'mllp-siu' | 'rest-notification' | 'fhir-communication-request';

export interface EhrLoadSpec {
  kind: EhrLoadKind;
  /** HTTPS base URL (HTTP kinds). */
  url: string;
  apiKey: string;
  /** MLLP listener (mllp-siu). */
  mllp?: { host: string; port: number; sendingApplication: string; sendingFacility: string; authority: string };
  connections: number;
  durationSec: number;
  /** Patients: Sealpost ids (REST, FHIR) and their MRNs under `mllp.authority` (HL7), same order. */
  patientIds: string[];
  mrns: string[];
  /** Makes appointment ids, control ids and idempotency keys unique across phases and runs. */
  keyPrefix: string;
}

export interface EhrLoadResult {
  durationSec: number;
  ok: number;
  failed: number;
  okPerSec: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** CPU of this process during the run, in % of one core. */
  clientCpuPct: number;
  /** What failed answers were (status codes or ACK codes), counted. */
  failures: Record<string, number>;
}

const DAY = 86_400_000;

/** An appointment start 10 to 40 days ahead, so all three reminders (7 d, 1 d, 2 h before) are scheduled. */
function startFor(i: number): Date {
  return new Date(Date.now() + 10 * DAY + (i % 30) * DAY + (i % 480) * 60_000);
}

/** `YYYYMMDDHHMMSS+0000` of a date (HL7 DTM in UTC). */
function hl7Time(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}+0000`;
}

/** A SIU^S12 as scheduling systems send them (shaped after the public sample SIU-S12-01): one new appointment. */
export function siuS12(spec: EhrLoadSpec, i: number): string {
  const m = spec.mllp!;
  const id = `${spec.keyPrefix}-${i}`;
  const start = startFor(i);
  const end = new Date(start.getTime() + 30 * 60_000);
  const mrn = spec.mrns[i % spec.mrns.length];
  return [
    `MSH|^~\\&|${m.sendingApplication}|${m.sendingFacility}|SEALPOST|SEALPOST|${hl7Time(new Date())}||SIU^S12^SIU_S12|${id}|P|2.5.1`,
    `SCH|${id}|${id}F|||||ROUTINE^Routine|NORMAL|30|min|^^30^${hl7Time(start)}^${hl7Time(end)}|||||||||||||||BOOKED`,
    `TQ1|1||||||${hl7Time(start)}|${hl7Time(end)}`,
    `PID|1||${mrn}^^^${m.authority}^MR||BENCH^PATIENT||19800101|U`,
    'RGS|1|A',
    `AIS|1|A|CONSULT^Consultation|${hl7Time(start)}|||30|min`,
    `AIL|1|A|CLINIC-2^Room 2^^Clinic`,
    `AIP|1|A|1234^CLINICIAN^ALEX|MD`,
  ].join('\r');
}

function httpRequest(spec: EhrLoadSpec, headers: Record<string, string>, next: () => number): autocannon.Request {
  switch (spec.kind) {
    case 'rest-appointment':
      return {
        method: 'PUT',
        headers,
        setupRequest: (req: autocannon.Request) => {
          const i = next();
          req.path = `/v1/appointments/${spec.keyPrefix}-${i}`;
          req.body = JSON.stringify({
            patientId: spec.patientIds[i % spec.patientIds.length],
            start: startFor(i).toISOString(),
            location: 'Clinic, room 2',
            clinicianName: 'Alex Clinician',
          });
          return req;
        },
      };
    case 'rest-notification':
      return {
        method: 'POST',
        path: '/v1/notifications',
        headers,
        setupRequest: (req: autocannon.Request) => {
          const i = next();
          req.headers = { ...headers, 'idempotency-key': `${spec.keyPrefix}-${i}` };
          req.body = JSON.stringify({
            type: 'test_result_ready',
            patientId: spec.patientIds[i % spec.patientIds.length],
            data: { testName: 'Lipid panel' },
          });
          return req;
        },
      };
    case 'fhir-communication-request':
      return {
        method: 'POST',
        path: '/fhir/R4/CommunicationRequest',
        headers: { ...headers, 'content-type': 'application/fhir+json' },
        setupRequest: (req: autocannon.Request) => {
          const i = next();
          req.body = JSON.stringify(communicationRequest(spec, i));
          return req;
        },
      };
    default:
      throw new Error(`not an HTTP load: ${spec.kind}`);
  }
}

/** The FHIR form of the REST load's notification: same type, patient and data, its identifier as the key. */
export function communicationRequest(spec: EhrLoadSpec, i: number): Record<string, unknown> {
  return {
    resourceType: 'CommunicationRequest',
    identifier: [{ system: 'urn:sealpost:bench', value: `${spec.keyPrefix}-${i}` }],
    status: 'active',
    category: [
      {
        coding: [
          { system: 'https://sealpost.dev/fhir/CodeSystem/sealpost-notification-type', code: 'test_result_ready' },
        ],
      },
    ],
    subject: { reference: `Patient/${spec.patientIds[i % spec.patientIds.length]}` },
    payload: [{ contentString: JSON.stringify({ testName: 'Lipid panel' }) }],
  };
}

async function runHttp(spec: EhrLoadSpec): Promise<EhrLoadResult> {
  let n = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${spec.apiKey}` };
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    pipelining: 1,
    duration: spec.durationSec,
    timeout: 30,
    servername: 'localhost',
    requests: [httpRequest(spec, headers, () => n++)],
  });
  const wallSec = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const failures: Record<string, number> = {};
  for (const [code, v] of Object.entries(result.statusCodeStats ?? {}))
    if (!code.startsWith('2')) failures[code] = (v as { count: number }).count;
  if (result.errors) failures.errors = result.errors;
  return {
    durationSec: result.duration,
    ok: result['2xx'],
    failed: result.non2xx + result.errors,
    okPerSec: result['2xx'] / result.duration,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    clientCpuPct: ((cpu.user + cpu.system) / 1e6 / wallSec) * 100,
    failures,
  };
}

/** One MLLP connection: the next frame's payload, in order. */
function mllpConnection(host: string, port: number): Promise<{ socket: Socket; next(): Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const decoder = new MllpDecoder(1 << 20);
    const frames: string[] = [];
    let waiting: ((s: string) => void) | null = null;
    let failed: Error | null = null;
    const fail = (e: Error) => {
      failed = e;
      if (waiting) waiting('');
    };
    socket.on('data', (chunk) => {
      for (const f of decoder.push(chunk)) {
        if (waiting) {
          const w = waiting;
          waiting = null;
          w(f.toString('utf8'));
        } else frames.push(f.toString('utf8'));
      }
    });
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
    socket.once('connect', () =>
      resolve({
        socket,
        next: () => {
          if (failed) return Promise.reject(failed);
          const f = frames.shift();
          if (f !== undefined) return Promise.resolve(f);
          return new Promise((r, j) => {
            waiting = (s) => (failed ? j(failed) : r(s));
          });
        },
      }),
    );
    socket.once('error', reject);
  });
}

/** MSA-1 of an ACK. */
function ackCode(ack: string): string {
  const msa = ack.split(/\r\n?|\n/).find((s) => s.startsWith('MSA'));
  return msa?.split('|')[1] ?? 'none';
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function runMllp(spec: EhrLoadSpec): Promise<EhrLoadResult> {
  const m = spec.mllp!;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const until = Date.now() + spec.durationSec * 1000;
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  let n = 0;
  let ok = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: spec.connections }, async () => {
      const c = await mllpConnection(m.host, m.port);
      try {
        while (Date.now() < until) {
          const msg = siuS12(spec, n++);
          const s = process.hrtime.bigint();
          c.socket.write(frame(msg));
          const code = ackCode(await c.next());
          latencies.push(Number(process.hrtime.bigint() - s) / 1e6);
          if (code === 'AA' || code === 'CA') ok++;
          else {
            failed++;
            failures[code] = (failures[code] ?? 0) + 1;
          }
        }
      } finally {
        c.socket.end();
      }
    }),
  );
  const wallSec = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  latencies.sort((a, b) => a - b);
  return {
    durationSec: wallSec,
    ok,
    failed,
    okPerSec: ok / wallSec,
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN },
    clientCpuPct: ((cpu.user + cpu.system) / 1e6 / wallSec) * 100,
    failures,
  };
}

if (process.send) {
  process.on('message', (msg: { id: number; spec: EhrLoadSpec }) => {
    (msg.spec.kind === 'mllp-siu' ? runMllp(msg.spec) : runHttp(msg.spec)).then(
      (result) => process.send!({ id: msg.id, result }),
      (e: Error) => process.send!({ id: msg.id, error: e.stack ?? String(e) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true });
}
