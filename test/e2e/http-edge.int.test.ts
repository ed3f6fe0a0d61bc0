import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { rowCounts } from '../helpers/db-snapshot.js';
import { expectProblemWithHeaders, openConnection, parseAnswers, rawExchange } from '../helpers/raw-http.js';

describe('every answer of the HTTP edge is a problem body with the security headers', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_WORKER: 'false' });
  });
  afterAll(() => h.close());

  const get = (path: string) =>
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${h.apiKey}\r\nConnection: close\r\n\r\n`;

  it('router errors: bad percent-encoding and an over-long parameter, without echoing the path', async () => {
    for (const path of [
      '/v1/patients/%E0%A4%APHIMARK',
      `/v1/notifications/${'PHIMARK'.repeat(40)}`,
      '/v1/patients/%',
    ]) {
      const [a] = parseAnswers(await rawExchange(h, get(path)));
      expectProblemWithHeaders(a, 400, 'SP_REQ_BAD_URL');
      expect(a!.body).not.toContain('PHIMARK');
    }
  });

  it('unknown routes and refused credentials', async () => {
    expectProblemWithHeaders(parseAnswers(await rawExchange(h, get('/v1/nothing-here')))[0], 404, 'SP_REQ_NOT_FOUND');
    const anon = 'GET /v1/patients/p1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';
    expectProblemWithHeaders(parseAnswers(await rawExchange(h, anon))[0], 401, 'SP_AUTH_UNAUTHENTICATED');
  });

  it("Node's HTTP parser errors: a malformed Content-Length, a garbage request line, bad header bytes", async () => {
    for (const bytes of [
      'POST /v1/notifications HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n',
      'BLAH\x01 / HTTP/1.1\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad\x00: 1\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    ]) {
      const answers = parseAnswers(await rawExchange(h, bytes));
      expect(answers, JSON.stringify(bytes)).toHaveLength(1);
      expectProblemWithHeaders(answers[0], 400, 'SP_REQ_MALFORMED_HTTP');
    }
  });

  it('a Content-Length shorter than the body: the rest is refused as a malformed request, nothing written', async () => {
    const before = rowCounts(h.dataDir);
    const body = '{}GARBAGE PHIMARK\r\n\r\n';
    const answers = parseAnswers(
      await rawExchange(
        h,
        `POST /v1/notifications HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${h.apiKey}\r\n` +
          `Content-Type: application/json\r\nContent-Length: 2\r\n\r\n${body}`,
      ),
    );
    // The parser reaches the leftover bytes while the first request may still be in its handler: the
    // connection then ends with the parser's answer, whether or not the first one made it out.
    expect(answers.length).toBeGreaterThanOrEqual(1);
    if (answers.length === 2) expectProblemWithHeaders(answers[0], 400, 'SP_REQ_VALIDATION');
    expectProblemWithHeaders(answers.at(-1), 400, 'SP_REQ_MALFORMED_HTTP');
    expect(answers.at(-1)!.body).not.toContain('PHIMARK');
    expect(rowCounts(h.dataDir)).toEqual(before);
  });

  it('headers over the size limit answer 431', async () => {
    const bytes = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`;
    expectProblemWithHeaders(parseAnswers(await rawExchange(h, bytes))[0], 431, 'SP_REQ_HEADERS_TOO_LARGE');
  });
});

describe('slow and idle clients are cut off (small configured timeouts)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost({
      SEALPOST_WORKER: 'false',
      SEALPOST_HTTP_HEADERS_TIMEOUT_MS: '400',
      SEALPOST_HTTP_REQUEST_TIMEOUT_MS: '800',
      SEALPOST_HTTP_KEEP_ALIVE_TIMEOUT_MS: '300',
    });
  });
  afterAll(() => h.close());

  it('a body sent a byte at a time to a public route gets 408 SP_REQ_TIMEOUT and the connection closed', async () => {
    const before = rowCounts(h.dataDir);
    const c = openConnection(h);
    expect(await c.ready).toBe(true);
    c.socket.write(
      'POST /v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
    );
    const drip = setInterval(() => c.socket.writable && c.socket.write(' '), 100);
    const raw = await c.closed;
    clearInterval(drip);
    const answers = parseAnswers(raw);
    expect(answers).toHaveLength(1);
    expectProblemWithHeaders(answers[0], 408, 'SP_REQ_TIMEOUT');
    expect(rowCounts(h.dataDir)).toEqual(before);
  });

  it('headers that never finish get 408 and the connection closed', async () => {
    const c = openConnection(h);
    expect(await c.ready).toBe(true);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const drip = setInterval(() => c.socket.writable && c.socket.write('X-A: b\r\n'), 100);
    const raw = await c.closed;
    clearInterval(drip);
    expectProblemWithHeaders(parseAnswers(raw)[0], 408, 'SP_REQ_TIMEOUT');
  });

  it('a connection that never sends a request is closed', async () => {
    const c = openConnection(h);
    expect(await c.ready).toBe(true);
    await c.closed;
    expect(c.socket.destroyed).toBe(true);
  });

  it('an idle keep-alive connection is closed after its answer', async () => {
    const c = openConnection(h);
    expect(await c.ready).toBe(true);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    const raw = await c.closed;
    const answers = parseAnswers(raw);
    expect(answers.map((a) => a.status)).toEqual([200]);
    expect(answers[0]!.headers['keep-alive']).toMatch(/timeout=/);
  });
});

describe('concurrent connections per source address are capped', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_WORKER: 'false', SEALPOST_HTTP_MAX_CONNECTIONS_PER_ADDRESS: '3' });
  });
  afterAll(() => h.close());

  it('closes a connection over the cap at once, and takes new ones when others end', async () => {
    const held = [openConnection(h), openConnection(h), openConnection(h)];
    for (const c of held) expect(await c.ready).toBe(true);
    const over = openConnection(h);
    expect(await over.ready).toBe(false);
    await over.closed;
    // The three held connections still work.
    held[0]!.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(parseAnswers(await held[0]!.closed).map((a) => a.status)).toEqual([200]);
    // One ended: a new connection is taken.
    const next = openConnection(h);
    expect(await next.ready).toBe(true);
    for (const c of [...held, next]) c.socket.destroy();
  });
});
