import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';

/**
 * The server POSTs live portal links to a webhook contact point, so adding one is a permission of its
 * own (`contact.webhook`: integrations and admins), not part of `patient.write` (clinical roles).
 */
describe('adding a webhook contact point needs the contact.webhook permission', () => {
  let h: Harness;
  let physician: TestPerson;
  let integrationKey: string;
  const hook = 'https://hooks.example.org/sealpost';

  beforeAll(async () => {
    h = await startSealpost();
    physician = await staffWithSession(h, ['physician']);
    const key = await h.request('POST', '/v1/api-keys', { name: 'EHR feed' });
    expect(key.status).toBe(201);
    integrationKey = key.body.key;
    expect((await h.request('PUT', '/v1/patients/p1', samplePatient())).status).toBe(201);
    expect((await h.request('PUT', `/v1/patients/p1/care-team/${physician.userId}`)).status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  const put = (auth: string, telecom: { system: string; value: string }[], given = 'Ana') =>
    h.request('PUT', '/v1/patients/p1', samplePatient({ name: { given: [given], family: 'Lopez' }, telecom }), {
      authorization: auth,
    });
  const telecom = async () =>
    (await h.request('GET', '/v1/patients/p1')).body.telecom as { system: string; value: string }[];
  const sms = { system: 'sms', value: '+14155552671' };

  it('refuses a clinician adding one with 403 SP_AUTH_FORBIDDEN and changes nothing', async () => {
    const before = await telecom();
    const r = await put(physician.headers.authorization, [sms, { system: 'webhook', value: hook }], 'Changed');
    expect([r.status, r.body.code]).toEqual([403, 'SP_AUTH_FORBIDDEN']);
    expect(String(r.headers['content-type'])).toMatch(/^application\/problem\+json/);
    expect(JSON.stringify(r.body)).not.toContain(hook);
    expect(await telecom()).toEqual(before);
    expect((await h.request('GET', '/v1/patients/p1')).body.name.given).not.toContain('Changed');
  });

  it('lets an integration key add one, and a clinician then keep it while replacing the patient, but not swap it', async () => {
    const r = await put(`Bearer ${integrationKey}`, [sms, { system: 'webhook', value: hook }]);
    expect(r.status).toBe(200);
    expect((await telecom()).some((t) => t.system === 'webhook')).toBe(true);
    const keep = await put(physician.headers.authorization, [sms, { system: 'webhook', value: hook }], 'Ana Maria');
    expect(keep.status).toBe(200);
    const swap = await put(physician.headers.authorization, [sms, { system: 'webhook', value: `${hook}/other` }]);
    expect([swap.status, swap.body.code]).toEqual([403, 'SP_AUTH_FORBIDDEN']);
    expect((await telecom()).filter((t) => t.system === 'webhook').map((t) => t.value)).toEqual([hook]);
  });
});
