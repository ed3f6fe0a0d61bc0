import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';

describe('a notification sent through the embedded default', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost();
  });
  afterAll(() => h.close());

  it('reaches the dev outbox as a PHI-free nudge with a portal link', async () => {
    expect((await h.request('PUT', '/v1/patients/p1', samplePatient())).status).toBe(201);
    const res = await h.request(
      'POST',
      '/v1/notifications',
      { type: 'test_result_ready', patientId: 'p1', data: { testName: 'Lipid panel' } },
      { 'idempotency-key': 'a1' },
    );
    expect(res.status).toBe(202);
    const out = await eventually(async () => {
      const o = await h.request('GET', '/v1/dev/outbox');
      return o.body.items.length ? o.body.items : null;
    }, 'outbox message');
    expect(out[0].body).toMatch(/View it at https:\/\/127\.0\.0\.1:\d+\/m\/[A-Za-z0-9_-]{43}/);
    expect(out[0].body).not.toContain('Lipid');
  });
});
