import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from 'node:https';
import { httpsJson, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { clientCert, daysFromNow, testCa, type Pem } from '../helpers/transport-pki.js';
import { query } from '../helpers/db-snapshot.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('mTLS: API keys bound to a client certificate, against a real HTTPS server', () => {
  let h: Harness;
  let caOne: Pem, caTwo: Pem, fromCaOne: Pem, fromCaTwo: Pem, selfSignedClient: Pem, expiredFromCaOne: Pem;
  let fingerprintKey = '',
    caKey = '',
    unboundKey = '';

  /** GET an audit-scoped route with `key`, presenting `cert` (or no certificate) in the handshake. */
  const call = (key: string, cert?: Pem) => {
    const agent = new Agent({ ca: h.cert, ...(cert ? { cert: cert.cert, key: cert.key } : {}), keepAlive: false });
    return httpsJson(h.url, agent, 'GET', '/v1/audit/events?limit=1', undefined, {
      authorization: `Bearer ${key}`,
    }).finally(() => agent.destroy());
  };
  const create = (body: unknown) => h.request('POST', '/v1/api-keys', body);
  const listKeys = async () =>
    (await h.request('GET', '/v1/api-keys')).body.items as {
      id: string;
      name: string;
      clientCert: unknown;
      revokedAt: string | null;
    }[];

  beforeAll(async () => {
    h = await startSealpost();
    [caOne, caTwo] = await Promise.all([testCa('Test Client CA One'), testCa('Test Client CA Two')]);
    [fromCaOne, fromCaTwo, selfSignedClient, expiredFromCaOne] = await Promise.all([
      clientCert('interface-engine', { ca: caOne }),
      clientCert('interface-engine', { ca: caTwo }),
      clientCert('interface-engine'),
      clientCert('interface-engine', { ca: caOne, notBefore: daysFromNow(-30), notAfter: daysFromNow(-1) }),
    ]);
    // The colon-separated upper-case form that `openssl x509 -fingerprint -sha256` prints.
    const printed = fromCaOne.sha256.toUpperCase().match(/../g)!.join(':');
    const a = await create({
      name: 'ehr by fingerprint',
      scopes: ['audit'],
      clientCert: { fingerprintSha256: printed },
    });
    const b = await create({ name: 'ehr by ca', scopes: ['audit'], clientCert: { issuerCaPem: caOne.cert } });
    const c = await create({ name: 'unbound', scopes: ['audit'] });
    expect([a.status, b.status, c.status]).toEqual([201, 201, 201]);
    [fingerprintKey, caKey, unboundKey] = [a.body.key, b.body.key, c.body.key];
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  it('accepts a fingerprint-bound key with exactly that certificate', async () => {
    expect((await call(fingerprintKey, fromCaOne)).status).toBe(200);
  });

  it('refuses a fingerprint-bound key without a certificate (401) and with any other certificate (403)', async () => {
    const missing = await call(fingerprintKey);
    expect(missing.status).toBe(401);
    expect(missing.body.code).toBe('SP_AUTH_CLIENT_CERT_REQUIRED');
    for (const other of [fromCaTwo, selfSignedClient, expiredFromCaOne]) {
      const r = await call(fingerprintKey, other);
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('SP_AUTH_CLIENT_CERT_MISMATCH');
    }
  });

  it('accepts a CA-bound key with a valid certificate that CA issued', async () => {
    expect((await call(caKey, fromCaOne)).status).toBe(200);
  });

  it('refuses a CA-bound key with a certificate of another CA, a self-signed one, an expired one from the right CA, or none', async () => {
    for (const bad of [fromCaTwo, selfSignedClient, expiredFromCaOne]) {
      const r = await call(caKey, bad);
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('SP_AUTH_CLIENT_CERT_MISMATCH');
    }
    expect((await call(caKey)).body.code).toBe('SP_AUTH_CLIENT_CERT_REQUIRED');
  });

  it('keeps unbound keys working without a client certificate, and with one', async () => {
    expect((await call(unboundKey)).status).toBe(200);
    expect((await call(unboundKey, selfSignedClient)).status).toBe(200);
  });

  it('names the certificate (SHA-256 of its DER, base64url) in the audit entries of requests mTLS authenticated, and only those', async () => {
    const refused = async (key: string, cert?: Pem) => {
      const agent = new Agent({ ca: h.cert, ...(cert ? { cert: cert.cert, key: cert.key } : {}), keepAlive: false });
      const r = await httpsJson(h.url, agent, 'GET', '/v1/patients/p-1', undefined, {
        authorization: `Bearer ${key}`,
      }).finally(() => agent.destroy());
      expect(r.status).toBe(403);
      const keyId = key.split('_')[1];
      const rows = query<{ entry: string }>(
        h.dataDir,
        "select entry from audit_entries where action = 'access.denied' and actor = ? order by idx desc limit 1",
        `api-key:${keyId}`,
      );
      return JSON.parse(rows[0]!.entry).details as Record<string, unknown>;
    };
    const thumbprint = Buffer.from(fromCaOne.sha256, 'hex').toString('base64url');
    expect((await refused(fingerprintKey, fromCaOne)).certThumbprint).toBe(thumbprint);
    expect((await refused(caKey, fromCaOne)).certThumbprint).toBe(thumbprint);
    // An unbound key was not authenticated by its certificate, even when one was presented.
    expect((await refused(unboundKey, selfSignedClient)).certThumbprint).toBeUndefined();
  });

  it('lists keys with their binding but never a secret', async () => {
    const res = await h.request('GET', '/v1/api-keys');
    expect(res.status).toBe(200);
    const byName = Object.fromEntries(
      (res.body.items as { name: string; clientCert: unknown }[]).map((k) => [k.name, k.clientCert]),
    );
    expect(byName['ehr by fingerprint']).toEqual({ fingerprintSha256: fromCaOne.sha256 });
    expect(byName['ehr by ca']).toEqual({ issuerCaSha256: caOne.sha256 });
    expect(byName['unbound']).toBeNull();
    for (const key of [fingerprintKey, caKey, unboundKey, h.apiKey]) expect(res.text).not.toContain(key.slice(20)); // the secret part
    expect(res.text).not.toMatch(/secret|hash/i);
  });

  it('rejects invalid bindings with SP_APIKEY_INVALID_CLIENT_CERT and creates nothing', async () => {
    const before = (await listKeys()).length;
    const cases: unknown[] = [
      { fingerprintSha256: 'abc' },
      { fingerprintSha256: 'z'.repeat(64) },
      { issuerCaPem: 'not a pem' },
      { issuerCaPem: fromCaOne.cert }, // a leaf certificate is not a CA
      { issuerCaPem: caOne.cert + caTwo.cert }, // one CA per key
    ];
    for (const clientCert of cases) {
      const r = await create({ name: 'bad', scopes: [], clientCert });
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('SP_APIKEY_INVALID_CLIENT_CERT');
    }
    const both = await create({
      name: 'bad',
      scopes: [],
      clientCert: { fingerprintSha256: fromCaOne.sha256, issuerCaPem: caOne.cert },
    });
    expect(both.body.code).toBe('SP_REQ_VALIDATION');
    const scope = await create({ name: 'bad', scopes: ['root'] });
    expect(scope.body.code).toBe('SP_REQ_VALIDATION');
    expect((await listKeys()).length).toBe(before);
  });

  it('lets only admin keys manage keys', async () => {
    const agent = new Agent({ ca: h.cert, cert: fromCaOne.cert, key: fromCaOne.key });
    const r = await httpsJson(
      h.url,
      agent,
      'POST',
      '/v1/api-keys',
      { name: 'x', scopes: ['admin'] },
      { authorization: `Bearer ${caKey}` },
    );
    agent.destroy();
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('SP_AUTH_FORBIDDEN');
  });

  it('revokes a key at once, records creation and revocation in the audit log, and answers 404 for a second revoke', async () => {
    const made = await create({ name: 'short-lived', scopes: ['audit'] });
    const id = made.body.apiKey.id as string;
    expect((await call(made.body.key)).status).toBe(200);
    expect((await h.request('POST', `/v1/api-keys/${id}/revoke`)).status).toBe(204);
    expect((await call(made.body.key)).body.code).toBe('SP_AUTH_UNAUTHENTICATED');
    const again = await h.request('POST', `/v1/api-keys/${id}/revoke`);
    expect(again.status).toBe(404);
    expect(again.body.code).toBe('SP_APIKEY_NOT_FOUND');
    const audit = await h.request('GET', '/v1/audit/events?action=api_key.*&limit=500');
    const mine = (audit.body.items as { action: string; target: { id: string } }[])
      .filter((e) => e.target?.id === id)
      .map((e) => e.action);
    expect(mine).toEqual(['api_key.created', 'api_key.revoked']);
    expect(audit.text).not.toContain(made.body.key.slice(20));
  });

  it('`sealpost api-keys create --bind-ca` prints a key that works only with a certificate from that CA', async () => {
    const caFile = join(h.dataDir, 'client-ca.pem');
    writeFileSync(caFile, caOne.cert);
    const out = await cli(h.dataDir, [
      'api-keys',
      'create',
      '--name',
      'cli bound',
      '--scopes',
      'audit',
      '--bind-ca',
      caFile,
    ]);
    expect(out.code).toBe(0);
    const key = out.stdout.trim();
    expect(key).toMatch(/^sp_[0-9a-f]{16}_/);
    expect((await call(key, fromCaOne)).status).toBe(200);
    expect((await call(key, fromCaTwo)).body.code).toBe('SP_AUTH_CLIENT_CERT_MISMATCH');
    const listed = await cli(h.dataDir, ['api-keys', 'list']);
    expect(listed.stdout).toContain(`ca sha256:${caOne.sha256}`);
    expect(listed.stdout).not.toContain(key.slice(20));
  }, 180_000);

  it('`sealpost api-keys create` refuses bad input with a clear code and creates nothing', async () => {
    const before = (await listKeys()).length;
    const certFile = join(h.dataDir, 'client.pem');
    writeFileSync(certFile, fromCaOne.cert);
    const [both, leafAsCa, scope, missing] = await Promise.all([
      cli(h.dataDir, ['api-keys', 'create', '--name', 'x', '--bind-cert', certFile, '--bind-ca', certFile]),
      cli(h.dataDir, ['api-keys', 'create', '--name', 'x', '--bind-ca', certFile]),
      cli(h.dataDir, ['api-keys', 'create', '--name', 'x', '--scopes', 'root']),
      cli(h.dataDir, ['api-keys', 'create', '--name', 'x', '--bind-cert', join(h.dataDir, 'nope.pem')]),
    ]);
    expect([both.code, leafAsCa.code, scope.code, missing.code]).toEqual([1, 1, 1, 1]);
    expect(both.stderr).toContain('SP_APIKEY_INVALID_CLIENT_CERT');
    expect(leafAsCa.stderr).toContain('SP_APIKEY_INVALID_CLIENT_CERT');
    expect(scope.stderr).toContain('SP_APIKEY_INVALID_SCOPE');
    expect(missing.stderr).toContain('SP_APIKEY_INVALID_CLIENT_CERT');
    expect((await listKeys()).length).toBe(before);
  }, 180_000);
});

function cli(dataDir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SEALPOST_')));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/sealpost.js', ...args],
      { cwd: ROOT, env: { ...env, SEALPOST_DATA_DIR: dataDir } },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}
