import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { query } from '../helpers/db-snapshot.js';
import { cli } from '../helpers/sealpost-cli.js';
import { staffWithSession } from '../helpers/identity.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('API keys: expiry, rotation with a grace period, scopes (key scopes and SMART system scopes)', () => {
  let h: Harness;
  let offsetMs = 0;
  const clock = () => new Date(Date.now() + offsetMs);

  const create = async (body: Record<string, unknown>) => {
    const r = await h.request('POST', '/v1/api-keys', body);
    expect(r.status).toBe(201);
    return r.body as { key: string; apiKey: { id: string; expiresAt: string | null; scopes: string[] } };
  };
  const as = (key: string, method: string, path: string, body?: unknown) =>
    h.request(method, path, body, { authorization: `Bearer ${key}` });
  const count = (table: string) => query<{ n: number }>(h.dataDir, `select count(*) as n from ${table}`)[0]!.n;
  const rows = () => ({ keys: count('api_keys'), audit: count('audit_entries') });
  /** Moves the server's clock; every check of expiry uses it (no sleeping). */
  const later = async <T>(ms: number, fn: () => Promise<T>) => {
    offsetMs += ms;
    try {
      return await fn();
    } finally {
      offsetMs -= ms;
    }
  };

  beforeAll(async () => {
    h = await startSealpost({}, { clock });
    expect((await h.request('PUT', '/v1/patients/k-p1', samplePatient())).status).toBe(201);
  }, 120_000);
  afterAll(async () => h?.close());

  it('a key created with expiresInDays works until then and is refused with SP_AUTH_UNAUTHENTICATED after', async () => {
    const { key, apiKey } = await create({ name: 'short-lived', scopes: ['audit'], expiresInDays: 1 });
    expect(Math.abs(Date.parse(apiKey.expiresAt!) - (clock().getTime() + DAY))).toBeLessThan(60_000);
    expect((await as(key, 'GET', '/v1/audit/checkpoints')).status).toBe(200);
    const refused = await later(DAY + 60_000, () => as(key, 'GET', '/v1/audit/checkpoints'));
    expect([refused.status, refused.body.code]).toEqual([401, 'SP_AUTH_UNAUTHENTICATED']);
    const listed = (await h.request('GET', '/v1/api-keys')).body.items.find((k: { id: string }) => k.id === apiKey.id);
    expect(listed.lastUsedAt).not.toBeNull();
  });

  it('refuses a key whose expiry time in the store has passed (verifyApiKey checks expires_at)', async () => {
    const { key, apiKey } = await create({ name: 'expires now', scopes: ['audit'] });
    expect((await as(key, 'GET', '/v1/audit/checkpoints')).status).toBe(200);
    const now = clock().getTime();
    expect(await h.app.store.read.apiKeys.shortenLife('default', apiKey.id, now - 1, now)).toBe(true);
    h.app.server.apiKeyVerifier.forget(apiKey.id);
    expect((await as(key, 'GET', '/v1/audit/checkpoints')).status).toBe(401);
  });

  it('refuses expiresInDays outside 1..730 and unknown scopes, creating nothing', async () => {
    const before = rows();
    for (const [body, code] of [
      [{ name: 'x', expiresInDays: 0 }, 'SP_REQ_VALIDATION'],
      [{ name: 'x', expiresInDays: 731 }, 'SP_REQ_VALIDATION'],
      [{ name: 'x', expiresInDays: 1.5 }, 'SP_REQ_VALIDATION'],
      [{ name: 'x', scopes: ['root'] }, 'SP_REQ_VALIDATION'],
      [{ name: 'x', scopes: ['patient/Patient.rs'] }, 'SP_REQ_VALIDATION'],
      [{ name: 'x', scopes: ['system/Pharmacy.rs'] }, 'SP_APIKEY_INVALID_SCOPE'],
      [{ name: 'x', scopes: ['system/Patient.s'] }, 'SP_APIKEY_INVALID_SCOPE'],
    ] as const) {
      const r = await h.request('POST', '/v1/api-keys', body);
      expect([r.status, r.body.code]).toEqual([400, code]);
    }
    expect(rows()).toEqual(before);
  });

  it('scopes are enforced: an audit key cannot write a patient; a system/Patient.rs key reads but cannot write', async () => {
    const audit = await create({ name: 'auditor', scopes: ['audit'] });
    const put = await as(audit.key, 'PUT', '/v1/patients/k-p1', samplePatient());
    expect([put.status, put.body.code]).toEqual([403, 'SP_AUTH_FORBIDDEN']);
    const reader = await create({ name: 'reader', scopes: ['system/Patient.rs'] });
    expect(reader.apiKey.scopes).toEqual(['system/Patient.rs']);
    expect((await as(reader.key, 'GET', '/v1/patients/k-p1')).status).toBe(200);
    const write = await as(reader.key, 'PUT', '/v1/patients/k-p1', samplePatient());
    expect([write.status, write.body.code]).toEqual([403, 'SP_AUTH_FORBIDDEN']);
  });

  it('rotation gives a successor with the same name and scopes; the old key works through the grace period and not after', async () => {
    const old = await create({ name: 'EHR feed', scopes: ['system/Patient.rs'], expiresInDays: 30 });
    const r = await h.request('POST', `/v1/api-keys/${old.apiKey.id}/rotate`, {});
    expect(r.status).toBe(201);
    expect(r.body.apiKey).toMatchObject({
      name: 'EHR feed',
      scopes: ['system/Patient.rs'],
      rotatedFrom: old.apiKey.id,
      revokedAt: null,
    });
    // The successor keeps the predecessor's lifetime (30 days from now), the old key ends in 24 h.
    expect(Math.abs(Date.parse(r.body.apiKey.expiresAt) - (clock().getTime() + 30 * DAY))).toBeLessThan(60_000);
    expect(Math.abs(Date.parse(r.body.previous.expiresAt) - (clock().getTime() + 24 * HOUR))).toBeLessThan(60_000);
    const audit = query<{ actor: string; entry: string }>(
      h.dataDir,
      "select actor, entry from audit_entries where action = 'api_key.rotated'",
    );
    expect(JSON.parse(audit.at(-1)!.entry)).toMatchObject({
      target: { type: 'api_key', id: r.body.apiKey.id },
      details: { rotatedFrom: old.apiKey.id, graceHours: 24 },
    });
    expect(audit.at(-1)!.entry).not.toContain(r.body.key.slice(20));

    expect((await as(old.key, 'GET', '/v1/patients/k-p1')).status).toBe(200);
    expect((await as(r.body.key, 'GET', '/v1/patients/k-p1')).status).toBe(200);
    const [oldLater, newLater] = await later(25 * HOUR, async () => [
      await as(old.key, 'GET', '/v1/patients/k-p1'),
      await as(r.body.key, 'GET', '/v1/patients/k-p1'),
    ]);
    expect([oldLater!.status, oldLater!.body.code]).toEqual([401, 'SP_AUTH_UNAUTHENTICATED']);
    expect(newLater!.status).toBe(200);
  });

  it('rotation with graceHours 0 stops the old key at once, even right after it was used', async () => {
    const old = await create({ name: 'immediate', scopes: ['system/Patient.rs'] });
    expect((await as(old.key, 'GET', '/v1/patients/k-p1')).status).toBe(200);
    const r = await h.request('POST', `/v1/api-keys/${old.apiKey.id}/rotate`, { graceHours: 0 });
    expect(r.status).toBe(201);
    expect(r.body.apiKey.expiresAt).toBeNull();
    expect((await as(old.key, 'GET', '/v1/patients/k-p1')).status).toBe(401);
    expect((await as(r.body.key, 'GET', '/v1/patients/k-p1')).status).toBe(200);
  });

  it('refuses to rotate a key twice, a revoked key or an unknown key, changing nothing', async () => {
    const old = await create({ name: 'twice', scopes: ['audit'] });
    const first = await h.request('POST', `/v1/api-keys/${old.apiKey.id}/rotate`, { graceHours: 1 });
    expect(first.status).toBe(201);
    const revoked = await create({ name: 'revoked', scopes: ['audit'] });
    expect((await h.request('POST', `/v1/api-keys/${revoked.apiKey.id}/revoke`)).status).toBe(204);
    const before = rows();
    const again = await h.request('POST', `/v1/api-keys/${old.apiKey.id}/rotate`, { graceHours: 0 });
    expect([again.status, again.body.code]).toEqual([409, 'SP_APIKEY_ALREADY_ROTATED']);
    const dead = await h.request('POST', `/v1/api-keys/${revoked.apiKey.id}/rotate`);
    expect([dead.status, dead.body.code]).toEqual([404, 'SP_APIKEY_NOT_FOUND']);
    const unknown = await h.request('POST', '/v1/api-keys/0123456789abcdef/rotate', { graceHours: 1 });
    expect([unknown.status, unknown.body.code]).toEqual([404, 'SP_APIKEY_NOT_FOUND']);
    const bad = await h.request('POST', `/v1/api-keys/${first.body.apiKey.id}/rotate`, { graceHours: -1 });
    expect([bad.status, bad.body.code]).toEqual([400, 'SP_REQ_VALIDATION']);
    expect(rows()).toEqual(before);
    // The failed second rotation did not shorten the old key's grace period.
    const listed = (await h.request('GET', '/v1/api-keys?limit=500')).body.items.find(
      (k: { id: string }) => k.id === old.apiKey.id,
    );
    expect(listed.expiresAt).toBe(first.body.previous.expiresAt);
  });

  it('`sealpost api-keys create --expires-in-days` and `rotate <id>` work from the command line', async () => {
    const env = { SEALPOST_DATA_DIR: h.dataDir };
    const made = await cli(env, [
      'api-keys',
      'create',
      '--name',
      'cli key',
      '--scopes',
      'system/Patient.rs',
      '--expires-in-days',
      '7',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const key = made.stdout.trim();
    const id = key.slice(3, 19);
    expect((await as(key, 'GET', '/v1/patients/k-p1')).status).toBe(200);
    const rotated = await cli(env, ['api-keys', 'rotate', id, '--grace-hours', '0']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const successor = rotated.stdout.trim();
    expect(successor).toMatch(/^sp_[0-9a-f]{16}_/);
    h.app.server.apiKeyVerifier.forget(id);
    expect((await as(key, 'GET', '/v1/patients/k-p1')).status).toBe(401);
    expect((await as(successor, 'GET', '/v1/patients/k-p1')).status).toBe(200);
    const listed = await cli(env, ['api-keys', 'list']);
    expect(listed.stdout).toMatch(
      new RegExp(`${successor.slice(3, 19)}\\s+active\\s+cli key\\s+\\[system/Patient.rs\\].*expires 20.*last used 20`),
    );
    expect(listed.stdout).not.toContain(successor.slice(20));
    const bad = await Promise.all([
      cli(env, ['api-keys', 'create', '--name', 'x', '--expires-in-days', '0']),
      cli(env, ['api-keys', 'create', '--name', 'x', '--expires-in-days', 'soon']),
      cli(env, ['api-keys', 'rotate', id]),
    ]);
    expect(bad.map((b) => b.code)).toEqual([1, 1, 1]);
    expect(bad[0]!.stderr).toContain('SP_APIKEY_INVALID_EXPIRY');
    expect(bad[1]!.stderr).toContain('SP_APIKEY_INVALID_EXPIRY');
    expect(bad[2]!.stderr).toContain('SP_APIKEY_ALREADY_ROTATED');
  }, 180_000);

  it('lets an administrator person mint only credentials within their own permissions: no PHI access through a key or client', async () => {
    const admin = await staffWithSession(h, ['admin']);
    const asAdmin = (method: string, path: string, body?: unknown) => h.request(method, path, body, admin.headers);
    const before = { ...rows(), clients: count('oauth_clients') };
    for (const scopes of [['admin'], [], ['integration'], ['system/Patient.rs']]) {
      const r = await asAdmin('POST', '/v1/api-keys', { name: 'escalation', scopes });
      expect([JSON.stringify(scopes), r.status, r.body.code]).toEqual([
        JSON.stringify(scopes),
        403,
        'SP_AUTH_FORBIDDEN',
      ]);
    }
    const jwks = {
      keys: [
        {
          kty: 'EC',
          crv: 'P-384',
          kid: 'k1',
          x: 'iA4U3cGKSkKuC9PUfU3sWK5fxR1NHDVv1ov8djeDR1txNy1mf3NBXoHNFYfgZVZ2',
          y: 'yPSMT1AoPhM6MHb4XVxMk0DkDCzFXLxW8HFdbSHw0uu1YYO3zz6hBr9Fmy2wFH6G',
        },
      ],
    };
    const client = await asAdmin('POST', '/v1/oauth-clients', {
      name: 'escalation',
      scopes: ['system/Patient.rs'],
      jwks,
    });
    expect([client.status, client.body.code]).toEqual([403, 'SP_AUTH_FORBIDDEN']);
    // The integration key of the installation cannot be rotated into the administrator's hands either.
    const integration = await create({ name: 'ehr feed', scopes: [] });
    expect((await asAdmin('POST', `/v1/api-keys/${integration.apiKey.id}/rotate`, {})).status).toBe(403);
    expect({ ...rows(), clients: count('oauth_clients') }).toEqual({
      keys: before.keys + 1,
      audit: count('audit_entries'),
      clients: before.clients,
    });
    // Within their permissions they can: an audit key reads no PHI.
    const audit = await asAdmin('POST', '/v1/api-keys', { name: 'siem export', scopes: ['audit'] });
    expect(audit.status).toBe(201);
    expect((await as(audit.body.key, 'GET', '/v1/patients/p1')).status).toBe(403);
  });
});
