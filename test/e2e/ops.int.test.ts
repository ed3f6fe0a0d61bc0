import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsJson, samplePatient, startSealpost, eventually, type Harness } from '../helpers/sealpost-harness.js';
import { query } from '../helpers/db-snapshot.js';

describe('operations endpoints and the API description', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost();
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

  it('exposes Prometheus metrics for queue depth, deliveries and latency', async () => {
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
    const m = (await anon('/metrics')).text;
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
