import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  httpsJson,
  samplePatient,
  startSealpost,
  eventually,
  type Harness,
} from '../helpers/sealpost-harness.js';
import { query } from '../helpers/db-snapshot.js';
import { startServerProcess } from '../helpers/server-process.js';

/** A plain-HTTP GET (the metrics listener is for loopback or a monitoring network, without TLS). */
function httpGet(url: string): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), headers: res.headers }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('operations endpoints and the API description', () => {
  let h: Harness;
  let metricsUrl: string;
  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_METRICS_PORT: '0' });
    await h.app.metricsServer!.listen({ host: '127.0.0.1', port: 0 });
    metricsUrl = `http://127.0.0.1:${(h.app.metricsServer!.server.address() as { port: number }).port}`;
  });
  afterAll(() => h.close());
  const anon = (path: string) => httpsJson(h.url, h.cert, 'GET', path);

  it('answers liveness and readiness without authentication', async () => {
    expect((await anon('/healthz')).body).toEqual({ ok: true });
    expect((await anon('/readyz')).body).toEqual({ ready: true });
  });

  it('sends secure headers and a request id on every answer', async () => {
    const r = await anon('/healthz');
    expect(r.headers['strict-transport-security']).toContain('max-age=');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['x-request-id']).toBeTruthy();
  });

  it('does not serve /metrics on the API listener, with or without a credential', async () => {
    for (const res of [await anon('/metrics'), await h.request('GET', '/metrics')]) {
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('SP_REQ_NOT_FOUND');
    }
    expect((await anon('/openapi.json')).body.paths['/metrics']).toBeUndefined();
  });

  it('exposes Prometheus metrics for queue depth, deliveries and latency on the metrics listener', async () => {
    await h.request('PUT', '/v1/patients/p1', samplePatient());
    const res = await h.request('POST', '/v1/notifications', {
      type: 'follow_up',
      patientId: 'p1',
      data: { reason: 'check-up', dueDate: '2030-01-01' },
    });
    await eventually(
      async () => (await h.request('GET', `/v1/notifications/${res.body.id}`)).body.status === 'delivered',
      'delivered',
    );
    const m = (await httpGet(`${metricsUrl}/metrics`)).text;
    expect(m).toMatch(/sealpost_deliveries\{status="delivered",channel="sms"\} 1/);
    expect(m).toMatch(/sealpost_delivery_attempts_total\{channel="sms",outcome="delivered"\} 1/);
    expect(m).toContain('sealpost_delivery_latency_seconds_bucket');
    expect(m).toContain(
      'sealpost_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/notifications",status="202"}',
    );
  });

  it('serves an OpenAPI document describing every API route with its schemas', async () => {
    const doc = (await anon('/openapi.json')).body;
    expect(doc.openapi).toBe('3.1.0');
    for (const [path, method] of [
      ['/v1/patients/{id}', 'put'],
      ['/v1/notifications', 'post'],
      ['/v1/notifications/{id}', 'get'],
      ['/v1/notifications/{id}/cancel', 'post'],
      ['/v1/appointments/{externalId}', 'put'],
      ['/v1/appointments/{externalId}', 'delete'],
      ['/v1/dev/outbox', 'get'],
    ]) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeTruthy();
      expect(Object.keys(doc.paths[path][method].responses).length).toBeGreaterThan(1);
    }
    expect(doc.paths['/v1/notifications'].post.requestBody).toBeTruthy();
    expect((await anon('/docs/')).status).toBe(200);
  });

  it('records when an API key was last used', async () => {
    const rows = query<{ last_used_at: number | null }>(h.dataDir, 'select last_used_at from api_keys');
    expect(rows[0].last_used_at).toBeGreaterThan(0);
  });
});

describe('sealpost serve: the metrics listener', () => {
  it('serves /metrics on SEALPOST_METRICS_HOST/_PORT (loopback by default) and not on the API port', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-metrics-'));
    const port = await freePort();
    const s = await startServerProcess({ dataDir, env: { SEALPOST_METRICS_PORT: String(port) } });
    try {
      const m = await httpGet(`http://127.0.0.1:${port}/metrics`);
      expect(m.status).toBe(200);
      expect(m.text).toContain('sealpost_http_request_duration_seconds');
      expect(m.headers['x-content-type-options']).toBe('nosniff');
      const other = await httpGet(`http://127.0.0.1:${port}/v1/patients/p1`);
      expect(other.status).toBe(404);
      expect((await httpsJson(s.url, s.ca, 'GET', '/metrics')).status).toBe(404);
      expect(s.log()).toMatch(/"host":"127\.0\.0\.1".*metrics listener|metrics listener.*"host":"127\.0\.0\.1"/);
    } finally {
      await s.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
