import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpsRequest } from 'node:https';
import { samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { query, tableSnapshot } from '../helpers/db-snapshot.js';
import { SECURITY_HEADERS } from '../helpers/raw-http.js';
import { seededRandom } from '../helpers/seeded-random.js';

/**
 * Walks every operation of /openapi.json with malformed bodies, parameters, query strings and
 * headers. Deterministic: a seeded PRNG (SEALPOST_FUZZ_SEED overrides the default; the seed is in
 * every failure message) and a bounded number of requests. Every request carries at least one part
 * the server must refuse, so the answers must all be 4xx: never a 5xx, always an RFC 9457 problem
 * body with the security headers (the two protocol endpoints answer in their protocol's format),
 * and nothing written to the database.
 */
const SEED = Number(process.env.SEALPOST_FUZZ_SEED ?? 0x5ea1905);
const PER_OPERATION = 3;

type Rand = ReturnType<typeof seededRandom>;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const nest = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

/** Bodies every route refuses, at parsing or at validation: [content-type, bytes]. */
function junkBody(r: Rand): [string | undefined, Buffer] {
  const json = 'application/json';
  const choices: (() => [string | undefined, Buffer])[] = [
    () => [json, Buffer.from('{"a": ')],
    () => [json, Buffer.from('{"a":"\\ud800"}')],
    () => [json, Buffer.from('{"\\udc00":1}')],
    // Shaped like a notification, so a route that validates late still meets the bad part.
    () => [
      json,
      Buffer.from('{"type":"follow_up","patientId":"p1","data":{"reason":"\\ud800","dueDate":"2030-01-01"}}'),
    ],
    () => [json, Buffer.from(`{"type":"follow_up","patientId":"p1","data":{"reason":${nest(2000)}}}`)],
    () => [json, Buffer.from(`{"a":${nest(200 + Math.floor(r() * 2000))}}`)],
    () => [json, Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])],
    () => [json, Buffer.from('{"__proto__":{"x":1}}')],
    () => [json, Buffer.from('')],
    () => ['application/json; charset=utf-16', Buffer.from('{}', 'utf16le')],
    () => ['text/plain', Buffer.from('hello')],
    () => ['application/xml', Buffer.from('<a/>')],
    () => ['application/x-www-form-urlencoded', Buffer.from('a=1&b=%ZZ')],
    () => ['multipart/form-data; boundary=x', Buffer.from('--x\r\n\r\n--x--')],
    () => [undefined, Buffer.from('{"a":1}')],
    () => ['not a media type', Buffer.from('{}')],
  ];
  return pick(r, choices)();
}

/** Path parameter values the router or the schema refuses. */
function junkParam(r: Rand): string {
  return pick(r, [
    '%E0%A4%A',
    '%',
    '%ZZ',
    'x'.repeat(201 + Math.floor(r() * 300)),
    '%00',
    '%0d%0a',
    `${'%F0%9F%98%80'.repeat(70)}`,
  ]);
}

function junkQuery(r: Rand): string {
  return pick(r, [
    '',
    '?limit=-1',
    '?limit=%ZZ',
    '?cursor=x',
    `?${'a'.repeat(3000)}=1`,
    '?a=%',
    '?limit=1e400',
    '?x[y]=1',
  ]);
}

function junkHeaders(r: Rand): Record<string, string> {
  return pick<Record<string, string>>(r, [
    {},
    { 'idempotency-key': 'has space' },
    { 'idempotency-key': 'k'.repeat(300) },
    { 'x-request-id': '../../etc' },
    { accept: 'application/xml' },
    { origin: 'https://evil.example' },
    { 'accept-language': 'x'.repeat(500) },
  ]);
}

const AUDIT_LOG_TABLES = ['audit_entries', 'audit_checkpoints', 'audit_nodes', 'audit_log_state', 'leases'];
const withoutAuditLog = (snap: Record<string, string>) =>
  Object.fromEntries(Object.entries(snap).filter(([t]) => !AUDIT_LOG_TABLES.includes(t)));

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function send(h: Harness, method: string, path: string, headers: Record<string, string>, body?: Buffer) {
  const u = new URL(h.url);
  return new Promise<Answer>((resolve, reject) => {
    const req = httpsRequest(
      { host: u.hostname, port: u.port, method, path, ca: h.cert, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

describe(`fuzzing every operation of /openapi.json (seed ${SEED})`, () => {
  let h: Harness;
  let operations: { method: string; path: string; params: string[]; hasBody: boolean }[] = [];

  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_WORKER: 'false' });
    await h.request('PUT', '/v1/patients/p1', samplePatient());
    const doc = (await h.request('GET', '/openapi.json')).body as {
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    };
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(item)) {
        if (!['get', 'put', 'post', 'patch', 'delete'].includes(method)) continue;
        const params = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
        operations.push({ method: method.toUpperCase(), path, params, hasBody: op.requestBody !== undefined });
      }
    operations = operations.sort((a, b) => `${a.path} ${a.method}`.localeCompare(`${b.path} ${b.method}`));
  });
  afterAll(() => h.close());

  it('answers every malformed request with a 4xx problem body and the security headers, writing nothing', async () => {
    expect(operations.length).toBeGreaterThan(50);
    const r = seededRandom(SEED);
    const before = tableSnapshot(h.dataDir);
    const auditBefore = query(h.dataDir, 'select max(idx) as n from audit_entries')[0].n as number;
    const failures: string[] = [];
    let sent = 0;
    for (const op of operations) {
      for (let n = 0; n < PER_OPERATION; n++) {
        // One part the server must refuse: a path parameter (GET and HEAD bodies are ignored), or the body.
        const badParam = op.params.length > 0 && (op.method === 'GET' || r() < 0.4);
        const headers: Record<string, string> = { ...junkHeaders(r) };
        if (r() < 0.85) headers.authorization = `Bearer ${h.apiKey}`;
        else headers.authorization = pick(r, ['Bearer ', 'Basic Zm9vOmJhcg==', `Bearer ${h.apiKey}x`, 'Bearer \u00ff']);
        let path = op.path;
        const bad = badParam ? pick(r, op.params) : null;
        for (const p of op.params) path = path.replace(`{${p}}`, p === bad ? junkParam(r) : pick(r, ['p1', 'x', '1']));
        path += junkQuery(r);
        let body: Buffer | undefined;
        if (op.method !== 'GET') {
          const [type, bytes] = junkBody(r);
          if (type) headers['content-type'] = type;
          body = bytes;
          headers['content-length'] = String(bytes.length);
        } else if (!badParam) {
          // A GET without parameters: refused by its credential, or it only reads.
          headers.authorization = 'Bearer sp_nope_nope';
        }
        const what = `${op.method} ${op.path} as ${op.method} ${path.slice(0, 120)} ${JSON.stringify(headers).slice(0, 200)} (seed ${SEED})`;
        const res = await send(h, op.method, path, headers, body);
        sent++;
        for (const [name, re] of Object.entries(SECURITY_HEADERS)) {
          // Public documents (signing keys) may choose to be cacheable; errors never are.
          if (name === 'cache-control' && res.status < 400 && res.headers[name]) continue;
          if (!re.test(String(res.headers[name] ?? ''))) failures.push(`header ${name} missing for ${what}`);
        }
        // A GET without parameters may be public (health, discovery documents): it answers, and only reads.
        const readOnly = op.method === 'GET' && !badParam && res.status < 300;
        if (readOnly) continue;
        if (res.status >= 500 || res.status < 400) {
          failures.push(`${res.status} for ${what}: ${res.text.slice(0, 200)}`);
          continue;
        }
        const type = String(res.headers['content-type'] ?? '');
        let parsed: Record<string, unknown> = {};
        try {
          parsed = JSON.parse(res.text);
        } catch {
          /* checked below */
        }
        if (op.path === '/oauth2/token' && res.status !== 415) {
          // RFC 6749 §5.2: the token endpoint answers OAuth errors.
          if (typeof parsed.error !== 'string')
            failures.push(`not an OAuth error for ${what}: ${res.text.slice(0, 200)}`);
        } else if (op.path.startsWith('/fhir/') && type.includes('fhir+json')) {
          if (parsed.resourceType !== 'OperationOutcome') failures.push(`not an OperationOutcome for ${what}`);
        } else if (
          !type.startsWith('application/problem+json') ||
          parsed.status !== res.status ||
          typeof parsed.code !== 'string' ||
          !/^SP_[A-Z0-9_]+$/.test(parsed.code as string) ||
          typeof parsed.type !== 'string' ||
          typeof parsed.title !== 'string'
        )
          failures.push(`not a problem body for ${what}: ${type} ${res.text.slice(0, 200)}`);
      }
    }
    expect(sent).toBeGreaterThanOrEqual(operations.length * PER_OPERATION);
    expect(failures, `seed ${SEED}`).toEqual([]);
    // Refusals the server records by design (the OAuth token endpoint audits each one) are the only
    // rows allowed to appear: failures in the audit log, and the log's own chaining tables and lease.
    const after = tableSnapshot(h.dataDir);
    expect(withoutAuditLog(after), `seed ${SEED}`).toEqual(withoutAuditLog(before));
    const added = query(
      h.dataDir,
      "select action, json_extract(entry, '$.outcome') as outcome from audit_entries where idx > ?",
      auditBefore,
    );
    for (const e of added) expect(e, `seed ${SEED}`).toMatchObject({ outcome: 'failure' });
  }, 120_000);
});
