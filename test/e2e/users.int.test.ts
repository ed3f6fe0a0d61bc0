import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { cli } from '../helpers/sealpost-cli.js';
import { query } from '../helpers/db-snapshot.js';
import {
  anon,
  asBearer,
  auditEvents,
  enrolledUser,
  invite,
  login,
  persistedText,
  strongPassword,
} from '../helpers/staff-sign-in.js';

const tag = randomBytes(4).toString('hex');
const email = (who: string) => `${who}.${tag}@clinic.test`;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describe('staff users: invitation, enrolment and administration', () => {
  let h: Harness;
  let now = Date.parse('2026-06-01T08:00:00Z');
  /** Every secret a test used: none may be found in the log or in the database in clear. */
  const secrets: string[] = [];

  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_INVITE_TTL_HOURS: '72' }, { clock: () => new Date(now) });
  }, 120_000);
  afterAll(async () => h?.close(), 120_000);

  it('lets an invited user enrol with the one-time link; the session stops at mfa_enrol and reaches no ordinary route', async () => {
    const { id, token, url } = await invite(h, email('ana'), ['physician']);
    secrets.push(token);
    // The token rides in the fragment, never in a path or query a log could keep.
    expect(url).toMatch(new RegExp(`^${h.url}/enrol#[A-Za-z0-9_-]{43}$`));
    expect((await h.request('GET', `/v1/users/${id}`)).body).toMatchObject({
      id,
      email: email('ana'),
      status: 'invited',
      roles: ['physician'],
    });

    const password = strongPassword('ana');
    secrets.push(password);
    const e = await anon(h, 'POST', '/v1/auth/enrol', { token, password });
    expect(e.status).toBe(200);
    expect(e.body).toMatchObject({ stage: 'mfa_enrol', methods: ['totp', 'webauthn'] });
    expect(e.body.token).toMatch(/^sps_/);
    secrets.push(e.body.token);

    const me = await asBearer(h, e.body.token, 'GET', '/v1/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      id,
      kind: 'user',
      roles: ['physician'],
      session: { stage: 'mfa_enrol', amr: ['pwd'], transport: 'bearer' },
    });
    for (const path of ['/v1/patients/x', '/v1/users']) {
      const r = await asBearer(h, e.body.token, 'GET', path);
      expect([path, r.status, r.body.code]).toEqual([path, 401, 'SP_AUTH_MFA_REQUIRED']);
    }

    const l = await login(h, email('ana'), password);
    expect(l.status).toBe(200);
    expect(l.body).toMatchObject({ stage: 'mfa_enrol', methods: ['totp', 'webauthn'] });
    expect(l.body.token).not.toBe(e.body.token);
    secrets.push(l.body.token);
    expect((await h.request('GET', `/v1/users/${id}`)).body.status).toBe('active');

    const [row] = query(h.dataDir, 'select password_hash from users where id = ?', id);
    expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    const tokens = query(h.dataDir, 'select token_hash, used_at from user_tokens where user_id = ?', id);
    expect(tokens).toEqual([{ token_hash: sha256(token), used_at: now }]);
    expect(
      (await auditEvents(h, 'user.invited')).some((a) => a.target?.id === id && a.actor.startsWith('api-key:')),
    ).toBe(true);
    expect((await auditEvents(h, 'user.enrolled')).some((a) => a.target?.id === id)).toBe(true);
  });

  it('refuses short, common and e-mail-containing passwords naming the rule, and changes nothing: the link still works afterwards', async () => {
    const { id, token } = await invite(h, email('bo'));
    secrets.push(token);
    const weak = [
      ['short pass', 'characters'],
      ['qwerty123456', 'common'],
      ['QWERTY123456', 'common'],
      [`i am bo.${tag} really`, 'e-mail'],
    ] as const;
    for (const [password, rule] of weak) {
      const r = await anon(h, 'POST', '/v1/auth/enrol', { token, password });
      expect([r.status, r.body.code]).toEqual([400, 'SP_USER_PASSWORD_WEAK']);
      expect(r.body.detail).toContain(rule);
      expect(r.text).not.toContain(password);
    }
    expect(query(h.dataDir, 'select status, password_hash from users where id = ?', id)).toEqual([
      { status: 'invited', password_hash: null },
    ]);
    expect(query(h.dataDir, 'select used_at from user_tokens where user_id = ?', id)).toEqual([{ used_at: null }]);
    expect(query(h.dataDir, 'select count(*) as n from sessions where subject_id = ?', id)).toEqual([{ n: 0 }]);
    const ok = await anon(h, 'POST', '/v1/auth/enrol', { token, password: strongPassword('bo') });
    expect(ok.status).toBe(200);
  });

  it('tells whether an enrolment link is still usable without using it up, and refuses a used, unknown or wrong-purpose one', async () => {
    const { token } = await invite(h, email('lc'));
    secrets.push(token);
    const check = (body: Record<string, unknown>) => anon(h, 'POST', '/v1/auth/link-check', body);
    expect((await check({ purpose: 'enrolment', token })).status).toBe(204);
    expect((await check({ purpose: 'enrolment', token })).status).toBe(204); // asking twice uses nothing
    expect((await check({ purpose: 'password_reset', token })).body.code).toBe('SP_AUTH_TOKEN_INVALID');
    expect((await anon(h, 'POST', '/v1/auth/enrol', { token, password: strongPassword('lc') })).status).toBe(200);
    for (const t of [token, randomBytes(32).toString('base64url')]) {
      const r = await check({ purpose: 'enrolment', token: t });
      expect([r.status, r.body.code]).toEqual([401, 'SP_AUTH_TOKEN_INVALID']);
    }
    expect((await check({ purpose: 'anything', token })).body.code).toBe('SP_REQ_VALIDATION');
  });

  it('honours an enrolment link once and only before it expires; unknown, used and expired links are the same 401 and change nothing', async () => {
    const used = await invite(h, email('cy'));
    expect(
      (await anon(h, 'POST', '/v1/auth/enrol', { token: used.token, password: strongPassword('cy') })).status,
    ).toBe(200);
    const late = await invite(h, email('di'));
    secrets.push(used.token, late.token);
    now += 73 * 3_600_000;
    try {
      const answers = [];
      for (const token of [used.token, late.token, randomBytes(32).toString('base64url'), 'not even a token']) {
        const r = await anon(h, 'POST', '/v1/auth/enrol', { token, password: strongPassword('again') });
        answers.push([r.status, r.body.code, r.body.detail]);
      }
      expect(answers).toEqual(Array(4).fill([401, 'SP_AUTH_TOKEN_INVALID', undefined]));
      expect(query(h.dataDir, 'select status, password_hash from users where id = ?', late.id)).toEqual([
        { status: 'invited', password_hash: null },
      ]);
      expect((await auditEvents(h, 'auth.token_invalid')).map((a) => a.details?.reason)).toEqual(
        expect.arrayContaining(['used', 'expired', 'unknown']),
      );
    } finally {
      now -= 73 * 3_600_000;
    }
  });

  it('re-issues an invitation: the new link works and the old one no longer does', async () => {
    const first = await invite(h, email('ed'));
    const again = await h.request('POST', `/v1/users/${first.id}/invite`);
    expect(again.status).toBe(200);
    const second = again.body.enrolmentUrl.split('#')[1];
    secrets.push(first.token, second);
    expect(
      (await anon(h, 'POST', '/v1/auth/enrol', { token: first.token, password: strongPassword('ed') })).status,
    ).toBe(401);
    expect((await anon(h, 'POST', '/v1/auth/enrol', { token: second, password: strongPassword('ed') })).status).toBe(
      200,
    );
    const r = await h.request('POST', `/v1/users/${first.id}/invite`);
    expect([r.status, r.body.code]).toEqual([409, 'SP_USER_NOT_INVITED']);
  });

  it('refuses a second user with the same e-mail (any case), the patient role, unknown roles and no roles, creating nothing', async () => {
    await invite(h, email('fay'));
    const before = query(h.dataDir, 'select count(*) as n from users')[0].n;
    const dup = await h.request('POST', '/v1/users', {
      email: email('FAY').toUpperCase(),
      displayName: 'Again',
      roles: ['nurse'],
    });
    expect([dup.status, dup.body.code]).toEqual([409, 'SP_USER_EXISTS']);
    for (const roles of [['patient'], ['wizard'], []]) {
      const r = await h.request('POST', '/v1/users', {
        email: email(`r${roles.length}${roles[0] ?? ''}`),
        displayName: 'X',
        roles,
      });
      expect([r.status, r.body.code]).toEqual([400, 'SP_REQ_VALIDATION']);
    }
    const bad = await h.request('POST', '/v1/users', { email: 'not an address', displayName: 'X', roles: ['nurse'] });
    expect([bad.status, bad.body.code]).toEqual([400, 'SP_USER_INVALID_EMAIL']);
    expect(query(h.dataDir, 'select count(*) as n from users')[0].n).toBe(before);
  });

  it('lists users page by page and answers 404 for an unknown id', async () => {
    const first = await h.request('GET', '/v1/users?limit=2');
    expect(first.body.items).toHaveLength(2);
    const second = await h.request('GET', `/v1/users?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.items[0].id > first.body.items[1].id).toBe(true);
    expect(JSON.stringify(first.body)).not.toMatch(/password|argon2|token/i);
    const r = await h.request('GET', '/v1/users/nobody');
    expect([r.status, r.body.code]).toEqual([404, 'SP_USER_NOT_FOUND']);
  });

  it('ends every session of a user whose roles change, and audits the old and new roles', async () => {
    const u = await enrolledUser(h, email('gus'), strongPassword('gus'), ['nurse']);
    const other = (await login(h, email('gus'), strongPassword('gus'))).body.token;
    const r = await h.request('PATCH', `/v1/users/${u.id}`, { roles: ['physician', 'nurse'] });
    expect(r.status).toBe(200);
    expect(r.body.roles).toEqual(['physician', 'nurse']);
    for (const t of [u.session, other])
      expect((await asBearer(h, t, 'GET', '/v1/me')).body.code).toBe('SP_AUTH_UNAUTHENTICATED');
    const a = (await auditEvents(h, 'user.roles_changed')).find((x) => x.target?.id === u.id);
    expect(a?.details).toMatchObject({ from: ['nurse'], to: ['physician', 'nurse'], sessionsRevoked: 2 });
    // A change of display name alone keeps the sessions.
    const s = (await login(h, email('gus'), strongPassword('gus'))).body.token;
    expect((await h.request('PATCH', `/v1/users/${u.id}`, { displayName: 'Gus G.' })).body.displayName).toBe('Gus G.');
    expect((await asBearer(h, s, 'GET', '/v1/me')).status).toBe(200);
  });

  it('disabling a user ends their session at once and refuses their sign-in; enabling lets them sign in again', async () => {
    const u = await enrolledUser(h, email('hal'), strongPassword('hal'));
    expect((await asBearer(h, u.session, 'GET', '/v1/me')).status).toBe(200);
    const d = await h.request('POST', `/v1/users/${u.id}/disable`);
    expect([d.status, d.body.status]).toEqual([200, 'disabled']);
    const next = await asBearer(h, u.session, 'GET', '/v1/me');
    expect([next.status, next.body.code]).toEqual([401, 'SP_AUTH_UNAUTHENTICATED']);
    expect(query(h.dataDir, 'select revoked_reason from sessions where subject_id = ?', u.id)).toEqual([
      { revoked_reason: 'disabled' },
    ]);
    expect((await login(h, email('hal'), strongPassword('hal'))).body.code).toBe('SP_AUTH_LOGIN_FAILED');
    expect((await auditEvents(h, 'user.disabled')).find((a) => a.target?.id === u.id)?.details).toMatchObject({
      sessionsRevoked: 1,
    });
    expect((await h.request('POST', `/v1/users/${u.id}/enable`)).body.status).toBe('active');
    expect((await login(h, email('hal'), strongPassword('hal'))).status).toBe(200);
  });

  it('"remote wipe" revokes every session and device registration (with its push token) of the user and answers the counts', async () => {
    const u = await enrolledUser(h, email('ivy'), strongPassword('ivy'));
    const deviceId = `dev-${tag}`;
    await h.app.store.transaction((tx) =>
      tx.sessions.insertDevice({
        id: deviceId,
        tenant_id: 'default',
        subject_type: 'user',
        subject_id: u.id,
        platform: 'ios',
        name: 'phone',
        push_token_ct: Buffer.from('sealed'),
        created_at: now,
        revoked_at: null,
      }),
    );
    const r = await h.request('POST', `/v1/users/${u.id}/revoke-sessions`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ sessions: 1, devices: 1 });
    expect(query(h.dataDir, 'select revoked_at, push_token_ct from devices where id = ?', deviceId)).toEqual([
      { revoked_at: now, push_token_ct: null },
    ]);
    expect((await asBearer(h, u.session, 'GET', '/v1/me')).status).toBe(401);
    expect((await auditEvents(h, 'user.sessions_revoked')).find((a) => a.target?.id === u.id)?.details).toEqual({
      sessionsRevoked: 1,
      devicesRevoked: 1,
    });
    // Signing in again still works: a wipe is not a lock.
    expect((await login(h, email('ivy'), strongPassword('ivy'))).status).toBe(200);
  });

  it('keeps user administration to holders of user.manage: a signed-in nurse is refused', async () => {
    const { staffWithSession } = await import('../helpers/identity.js');
    const nurse = await staffWithSession(h, ['nurse']);
    for (const [method, path] of [
      ['GET', '/v1/users'],
      ['POST', '/v1/users/x/disable'],
      ['POST', '/v1/users/x/revoke-sessions'],
    ] as const) {
      const r = await asBearer(h, nurse.token, method, path);
      expect([path, r.status, r.body.code]).toEqual([path, 403, 'SP_AUTH_FORBIDDEN']);
    }
  });

  it('never writes a password or a one-time token to the log, nor to the database in clear', () => {
    const text = persistedText(h);
    secrets.push(...['bo', 'cy', 'ed', 'gus', 'hal', 'ivy'].map(strongPassword));
    // The scan reads what was written: staff e-mail addresses (not secrets) are there in clear.
    expect(text).toContain(email('ana'));
    expect(secrets.length).toBeGreaterThan(12);
    for (const s of secrets) expect(text.includes(s), `secret found: ${s.slice(0, 6)}…`).toBe(false);
  });
});

describe('sealpost users (command line)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-users-cli-'));
  let h: Harness | undefined;
  afterAll(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('invites the first administrator of a fresh installation, whose link then works on the server; lists, disables and refuses bad roles', async () => {
    const env = { SEALPOST_DATA_DIR: dir };
    // The server's first start creates the installation; the command line only ever uses it.
    h = await startSealpost({ SEALPOST_DATA_DIR: dir });
    const bad = await cli(env, [
      'users',
      'invite',
      '--email',
      email('root'),
      '--name',
      'First Admin',
      '--roles',
      'admin,patient',
    ]);
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringContaining('SP_USER_INVALID_ROLE')]);
    const r = await cli(env, [
      'users',
      'invite',
      '--email',
      email('root'),
      '--name',
      'First Admin',
      '--roles',
      'admin',
    ]);
    expect(r.code).toBe(0);
    const url = r.stdout.trim();
    expect(url).toMatch(/\/enrol#[A-Za-z0-9_-]{43}$/);

    const e = await anon(h, 'POST', '/v1/auth/enrol', { token: url.split('#')[1], password: strongPassword('root') });
    expect([e.status, e.body.stage]).toEqual([200, 'mfa_enrol']);
    expect((await login(h, email('root'), strongPassword('root'))).status).toBe(200);

    const list = await cli(env, ['users', 'list', '--json']);
    const users = list.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(users).toEqual([expect.objectContaining({ email: email('root'), status: 'active', roles: ['admin'] })]);
    const off = await cli(env, ['users', 'disable', users[0].id]);
    expect([off.code, off.stdout.trim()]).toEqual([0, `${users[0].id}: disabled`]);
    expect((await login(h, email('root'), strongPassword('root'))).status).toBe(401);
    expect((await auditEvents(h, 'user.disabled')).at(-1)?.actor).toBe('system:cli');
  }, 120_000);
});
