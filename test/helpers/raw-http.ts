import { expect } from 'vitest';
import { connect } from 'node:tls';
import type { Harness } from './sealpost-harness.js';

/** The headers every answer carries, whichever layer (router, parser, route) gave it. */
export const SECURITY_HEADERS: Record<string, RegExp> = {
  'x-content-type-options': /^nosniff$/,
  'x-frame-options': /^DENY$/,
  'referrer-policy': /^no-referrer$/,
  'strict-transport-security': /max-age=\d+/,
  'cache-control': /no-store/,
  'content-security-policy': /default-src 'none'/,
  'x-request-id': /.+/,
};

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Splits what came back on one connection into HTTP/1.1 answers (Content-Length framed). */
export function parseAnswers(raw: string): RawAnswer[] {
  const out: RawAnswer[] = [];
  let rest = raw;
  while (rest.startsWith('HTTP/1.1 ')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const body = Buffer.from(rest.slice(end + 4), 'latin1')
      .subarray(0, length)
      .toString('utf8');
    out.push({ status: Number(statusLine!.split(' ')[1]), headers, body });
    rest = Buffer.from(rest.slice(end + 4), 'latin1')
      .subarray(length)
      .toString('latin1');
  }
  return out;
}

/** Writes `bytes` on a fresh TLS connection and collects everything until the server closes it. */
export function rawExchange(h: Harness, bytes: string | Buffer): Promise<string> {
  const u = new URL(h.url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect({ host: u.hostname, port: Number(u.port), ca: h.cert, servername: 'localhost' }, () =>
      s.write(bytes),
    );
    s.on('data', (c) => chunks.push(c));
    s.on('error', (e) => (chunks.length ? resolve(Buffer.concat(chunks).toString('latin1')) : reject(e)));
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

export function expectProblemWithHeaders(a: RawAnswer | undefined, status: number, code: string) {
  expect(a, `an answer ${status}`).toBeDefined();
  expect(a!.status).toBe(status);
  expect(a!.headers['content-type']).toMatch(/^application\/problem\+json/);
  for (const [name, re] of Object.entries(SECURITY_HEADERS)) expect(a!.headers[name], name).toMatch(re);
  const body = JSON.parse(a!.body);
  expect(body).toMatchObject({ status, code, type: `https://sealpost.dev/errors/${code}` });
  expect(typeof body.title).toBe('string');
  expect(typeof body.requestId).toBe('string');
}

/** A TLS connection to the harness whose every byte received is kept, and whose closing is awaited. */
export function openConnection(h: Harness) {
  const u = new URL(h.url);
  const chunks: Buffer[] = [];
  const s = connect({ host: u.hostname, port: Number(u.port), ca: h.cert, servername: 'localhost' });
  s.on('data', (c) => chunks.push(c));
  s.on('error', () => {
    /* a refused or reset connection is seen as `closed` */
  });
  const closed = new Promise<string>((resolve) =>
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1'))),
  );
  const ready = new Promise<boolean>((resolve) => {
    s.once('secureConnect', () => resolve(true));
    s.once('close', () => resolve(false));
  });
  return { socket: s, ready, closed, received: () => Buffer.concat(chunks).toString('latin1') };
}
