import { randomBytes } from 'node:crypto';
import { Agent } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpsJson, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { clientCert, testCa } from '../helpers/transport-pki.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { anon } from '../helpers/staff-sign-in.js';
import { query } from '../helpers/db-snapshot.js';

const tag = randomBytes(4).toString('hex');
const MINE = `ad-mine-${tag}`;
const OTHER = `ad-other-${tag}`;

interface Entry {
  idx: number;
  action: string;
  actor: string;
  patient_ref: string | null;
  entry: string;
}

describe('refused access is on the record (access.denied), for privacy monitoring', () => {
  let h: Harness;
  let admin: TestPerson, physician: TestPerson, billing: TestPerson;
  const entriesAfter = (idx: number) =>
    query<Entry>(
      h.dataDir,
      'select idx, action, actor, patient_ref, entry from audit_entries where idx > ? order by idx',
      idx,
    );
  const lastIdx = () => (query(h.dataDir, 'select max(idx) as n from audit_entries')[0].n as number) ?? 0;

  beforeAll(async () => {
    h = await startSealpost();
    [admin, physician, billing] = await Promise.all([
      staffWithSession(h, ['admin']),
      staffWithSession(h, ['physician']),
      staffWithSession(h, ['billing']),
    ]);
    for (const id of [MINE, OTHER])
      expect((await h.request('PUT', `/v1/patients/${id}`, samplePatient())).status).toBe(201);
    expect(
      (await h.request('PUT', `/v1/patients/${MINE}/care-team/${physician.userId}`, undefined, admin.headers)).status,
    ).toBe(201);
  }, 120_000);
  afterAll(() => h?.close());

  it("a physician refused a patient outside the care team leaves one entry naming the route template and the patient's pseudonymous reference", async () => {
    const before = lastIdx();
    const r = await h.request('GET', `/v1/patients/${OTHER}`, undefined, physician.headers);
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('SP_AUTH_NO_RELATIONSHIP');
    const denied = entriesAfter(before).filter((e) => e.action === 'access.denied');
    expect(denied).toHaveLength(1);
    const e = JSON.parse(denied[0].entry);
    expect(e).toMatchObject({
      actor: `user:${physician.userId}`,
      action: 'access.denied',
      outcome: 'failure',
      ip: '127.0.0.1',
      details: { code: 'SP_AUTH_NO_RELATIONSHIP', method: 'GET', route: '/v1/patients/:id' },
    });
    // The reference is the one the patient's other entries carry; the id (an MRN) is nowhere.
    const registered = query<Entry>(
      h.dataDir,
      "select patient_ref from audit_entries where action = 'patient.created' order by idx",
    ).map((x) => x.patient_ref);
    expect(e.patient).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(registered).toContain(e.patient);
    expect(denied[0].patient_ref).toBe(e.patient);
    expect(denied[0].entry).not.toContain(OTHER);
    // The answer does not carry the reference.
    expect(r.text).not.toContain(e.patient);
  });

  it('a role without the permission is refused with SP_AUTH_FORBIDDEN and that is recorded without a patient', async () => {
    const before = lastIdx();
    const r = await h.request('GET', `/v1/patients/${MINE}`, undefined, billing.headers);
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('SP_AUTH_FORBIDDEN');
    const added = entriesAfter(before);
    expect(added.map((x) => x.action)).toEqual(['access.denied']);
    const e = JSON.parse(added[0].entry);
    expect(e).toMatchObject({
      actor: `user:${billing.userId}`,
      patient: null,
      details: { code: 'SP_AUTH_FORBIDDEN', method: 'GET', route: '/v1/patients/:id' },
    });
    expect(added[0].entry).not.toContain(MINE);
  });

  it("a refused write changes nothing: the request's own rows and entries are rolled back, only the refusal is recorded", async () => {
    const before = lastIdx();
    const id = `ad-new-${tag}`;
    const r = await h.request('PUT', `/v1/patients/${id}`, samplePatient(), physician.headers);
    expect(r.status).toBe(403);
    expect(query(h.dataDir, 'select count(*) as n from patients where id = ?', id)[0].n).toBe(0);
    const added = entriesAfter(before);
    expect(added.map((x) => x.action)).toEqual(['access.denied']);
    expect(JSON.parse(added[0].entry).details).toEqual({
      code: 'SP_AUTH_NO_RELATIONSHIP',
      method: 'PUT',
      route: '/v1/patients/:id',
    });
  });

  it('requests without a valid credential write nothing, however many there are', async () => {
    const before = lastIdx();
    for (let i = 0; i < 20; i++) {
      expect((await anon(h, 'GET', `/v1/patients/${OTHER}`)).status).toBe(401);
      expect(
        (await h.request('GET', `/v1/patients/${OTHER}`, undefined, { authorization: `Bearer sps_${'x'.repeat(40)}` }))
          .status,
      ).toBe(401);
      expect(
        (
          await h.request('GET', `/v1/patients/${OTHER}`, undefined, {
            authorization: `Bearer sp_${'0'.repeat(16)}_${'y'.repeat(43)}`,
          })
        ).status,
      ).toBe(401);
      // A cookie change from another site is refused (403) whatever the cookie; an unknown session writes nothing.
      const csrf = await h.request('PUT', `/v1/patients/${OTHER}`, samplePatient(), {
        authorization: '',
        cookie: `__Host-sealpost_session=sps_${'z'.repeat(43)}`,
        origin: 'https://evil.example',
      });
      expect(csrf.status).toBe(403);
      expect(csrf.body.code).toBe('SP_AUTH_FORBIDDEN');
    }
    expect(entriesAfter(before)).toEqual([]);
  });

  it("a cross-site change carrying a live session cookie is refused and recorded under that session's person", async () => {
    const before = lastIdx();
    const csrf = await h.request('PUT', `/v1/patients/${OTHER}`, samplePatient(), {
      authorization: '',
      cookie: `__Host-sealpost_session=${physician.token}`,
      origin: 'https://evil.example',
    });
    expect(csrf.status).toBe(403);
    expect(csrf.body.code).toBe('SP_AUTH_FORBIDDEN');
    const added = entriesAfter(before);
    expect(added.map((x) => x.action)).toEqual(['access.denied']);
    expect(JSON.parse(added[0].entry)).toMatchObject({
      actor: `user:${physician.userId}`,
      outcome: 'failure',
      patient: null,
      ip: '127.0.0.1',
      details: { code: 'SP_AUTH_FORBIDDEN', method: 'PUT', route: '/v1/patients/:id' },
    });
    expect(added[0].entry).not.toContain(OTHER);
    expect(query(h.dataDir, 'select count(*) as n from patients where id = ?', OTHER)[0].n).toBe(1);
  });

  it('an API key bound to a client certificate, used with another certificate or none, is recorded under the key (with the presented thumbprint)', async () => {
    const ca = await testCa('Access Denied Test CA');
    const [bound, other] = await Promise.all([
      clientCert('interface-engine', { ca }),
      clientCert('interface-engine', { ca }),
    ]);
    const made = await h.request('POST', '/v1/api-keys', {
      name: `bound ${tag}`,
      scopes: ['audit'],
      clientCert: { fingerprintSha256: bound.sha256.toUpperCase().match(/../g)!.join(':') },
    });
    expect(made.status).toBe(201);
    const keyId = made.body.apiKey.id as string;
    const call = async (cert?: { cert: string; key: string }) => {
      const agent = new Agent({ ca: h.cert, ...(cert ?? {}), keepAlive: false });
      try {
        return await httpsJson(h.url, agent, 'GET', '/v1/audit/events?limit=1', undefined, {
          authorization: `Bearer ${made.body.key}`,
        });
      } finally {
        agent.destroy();
      }
    };
    expect((await call(bound)).status).toBe(200);

    const before = lastIdx();
    const wrong = await call(other);
    expect(wrong.status).toBe(403);
    expect(wrong.body.code).toBe('SP_AUTH_CLIENT_CERT_MISMATCH');
    const none = await call();
    expect(none.status).toBe(401);
    expect(none.body.code).toBe('SP_AUTH_CLIENT_CERT_REQUIRED');
    const added = entriesAfter(before).filter((e) => e.action === 'access.denied');
    expect(added.map((e) => JSON.parse(e.entry))).toEqual([
      expect.objectContaining({
        actor: `api-key:${keyId}`,
        outcome: 'failure',
        details: {
          code: 'SP_AUTH_CLIENT_CERT_MISMATCH',
          method: 'GET',
          route: '/v1/audit/events',
          certThumbprint: Buffer.from(other.sha256, 'hex').toString('base64url'),
        },
      }),
      expect.objectContaining({
        actor: `api-key:${keyId}`,
        details: { code: 'SP_AUTH_CLIENT_CERT_REQUIRED', method: 'GET', route: '/v1/audit/events' },
      }),
    ]);
  });

  it('a failed sign-in records the source address and an account key: the user id, or a keyed hash of an unknown login name', async () => {
    const before = lastIdx();
    const unknown = `nobody-${tag}@staff.test`;
    expect((await anon(h, 'POST', '/v1/auth/login', { email: unknown, password: 'wrong password here' })).status).toBe(
      401,
    );
    const failed = entriesAfter(before).filter((e) => e.action === 'auth.login_failed');
    expect(failed).toHaveLength(1);
    const e = JSON.parse(failed[0].entry);
    expect(e.ip).toBe('127.0.0.1');
    expect(e.target.type).toBe('login');
    expect(e.target.id).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(failed[0].entry).not.toContain('nobody-');
    // The same name again gives the same key (the detector counts accounts per address and addresses per account).
    const again = lastIdx();
    await anon(h, 'POST', '/v1/auth/login', { email: unknown.toUpperCase(), password: 'wrong password again' });
    const second = entriesAfter(again).filter((x) => x.action === 'auth.login_failed');
    expect(second.length).toBe(1);
    expect(JSON.parse(second[0].entry).target.id).toBe(e.target.id);
  });
});
