import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { eventually, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { query } from '../helpers/db-snapshot.js';
import {
  anon,
  asBearer,
  auditEvents,
  enrolledUser,
  invite,
  login,
  persistedText,
  sansRequestId,
  strongPassword,
} from '../helpers/staff-sign-in.js';

const tag = randomBytes(4).toString('hex');
const email = (who: string) => `${who}.${tag}@clinic.test`;
const WRONG = 'definitely not the password';

describe('password sign-in: uniform failures, lockout, throttling, reset, cookies and sign-out', () => {
  let h: Harness;
  let now = Date.parse('2026-06-01T08:00:00Z');
  const secrets: string[] = [];
  /** Moves the clock; two hours also lets the address's failure window lapse, so tests do not add up. */
  const later = (ms: number) => void (now += ms);

  beforeAll(async () => {
    h = await startSealpost(
      { SEALPOST_LOCKOUT_THRESHOLD: '5', SEALPOST_LOCKOUT_MINUTES: '15' },
      { clock: () => new Date(now) },
    );
  }, 120_000);
  afterAll(async () => h?.close(), 120_000);

  it('answers every failed sign-in with the same body: unknown e-mail or tenant, wrong password, locked, disabled and not yet enrolled accounts', async () => {
    later(2 * 3_600_000);
    await enrolledUser(h, email('active'), strongPassword('active'));
    const disabled = await enrolledUser(h, email('disabled'), strongPassword('disabled'));
    await h.request('POST', `/v1/users/${disabled.id}/disable`);
    await invite(h, email('invited'));
    const locked = await enrolledUser(h, email('locked'), strongPassword('locked'));
    for (let i = 0; i < 5; i++) {
      await login(h, email('locked'), WRONG);
      later(60_000);
    }
    expect((await h.request('GET', `/v1/users/${locked.id}`)).body.status).toBe('locked');
    later(60_000);

    const attempts = {
      unknownEmail: await login(h, email('nobody'), strongPassword('active')),
      wrongPassword: await login(h, email('active'), WRONG),
      locked: await login(h, email('locked'), strongPassword('locked')),
      disabled: await login(h, email('disabled'), strongPassword('disabled')),
      invited: await login(h, email('invited'), strongPassword('invited')),
      unknownTenant: await login(h, email('active'), strongPassword('active'), { tenant: 'elsewhere' }),
    };
    const expected = {
      type: 'https://sealpost.dev/errors/SP_AUTH_LOGIN_FAILED',
      title: 'Sign-in failed',
      status: 401,
      code: 'SP_AUTH_LOGIN_FAILED',
    };
    for (const [what, r] of Object.entries(attempts)) {
      expect([what, r.status, sansRequestId(r.body)]).toEqual([what, 401, expected]);
      expect(r.headers['set-cookie']).toBeUndefined();
    }
    // No session was created by any of them; the audit log keeps the reasons apart.
    expect(query(h.dataDir, 'select count(*) as n from sessions where created_at = ?', now)).toEqual([{ n: 0 }]);
    const reasons = (await auditEvents(h, 'auth.login_failed')).map((a) => a.details?.reason);
    expect(reasons).toEqual(
      expect.arrayContaining(['unknown_account', 'bad_password', 'disabled', 'invited', 'unknown_tenant']),
    );
    expect((await auditEvents(h, 'auth.login_locked_out')).some((a) => a.target?.id === locked.id)).toBe(true);
  });

  it('locks an account after the threshold of wrong passwords: audited, an admin alert raised, its sessions ended; an admin unlock lets it in again', async () => {
    later(2 * 3_600_000);
    const u = await enrolledUser(h, email('lock'), strongPassword('lock'));
    const session = (await login(h, email('lock'), strongPassword('lock'))).body.token;
    for (let i = 1; i <= 5; i++) {
      expect((await login(h, email('lock'), WRONG)).status).toBe(401);
      if (i < 5)
        expect(query(h.dataDir, 'select status, failed_logins from users where id = ?', u.id)).toEqual([
          { status: 'active', failed_logins: i },
        ]);
      later(60_000);
    }
    const [row] = query(h.dataDir, 'select status, locked_until from users where id = ?', u.id);
    expect(row.status).toBe('locked');
    expect(row.locked_until).toBe(now - 60_000 + 15 * 60_000);
    expect((await asBearer(h, session, 'GET', '/v1/me')).status).toBe(401);
    expect((await login(h, email('lock'), strongPassword('lock'))).body.code).toBe('SP_AUTH_LOGIN_FAILED');

    const lockedEvent = (await auditEvents(h, 'user.locked')).find((a) => a.target?.id === u.id);
    expect(lockedEvent).toMatchObject({ actor: 'system:lockout', details: { failures: 5, sessionsRevoked: 2 } });
    expect(
      (await auditEvents(h, 'auth.login_failed')).filter(
        (a) => a.target?.id === u.id && a.details?.reason === 'bad_password',
      ),
    ).toHaveLength(5);
    expect(query(h.dataDir, 'select kind, actor, target_type from admin_alerts where target_id = ?', u.id)).toEqual([
      { kind: 'account_locked', actor: 'system:lockout', target_type: 'user' },
    ]);

    const unlock = await h.request('POST', `/v1/users/${u.id}/unlock`);
    expect([unlock.status, unlock.body.status, unlock.body.lockedUntil]).toEqual([200, 'active', null]);
    expect((await auditEvents(h, 'user.unlocked')).find((a) => a.target?.id === u.id)).toMatchObject({
      details: { by: 'admin' },
    });
    expect((await login(h, email('lock'), strongPassword('lock'))).status).toBe(200);
  });

  it('unlocks a locked account by itself once the lockout time has passed', async () => {
    later(2 * 3_600_000);
    const u = await enrolledUser(h, email('timed'), strongPassword('timed'));
    for (let i = 0; i < 5; i++) {
      await login(h, email('timed'), WRONG);
      later(60_000);
    }
    expect((await login(h, email('timed'), strongPassword('timed'))).status).toBe(401);
    later(14 * 60_000);
    const ok = await login(h, email('timed'), strongPassword('timed'));
    expect(ok.status).toBe(200);
    expect(query(h.dataDir, 'select status, locked_until, failed_logins from users where id = ?', u.id)).toEqual([
      { status: 'active', locked_until: null, failed_logins: 0 },
    ]);
    expect((await auditEvents(h, 'user.unlocked')).find((a) => a.target?.id === u.id)).toMatchObject({
      actor: 'system:lockout',
      details: { by: 'time' },
    });
  });

  it('refuses attempts within the exponential delay without checking the password, even the right one, and audits them as throttled', async () => {
    later(2 * 3_600_000);
    const u = await enrolledUser(h, email('fast'), strongPassword('fast'));
    for (let i = 0; i < 3; i++) await login(h, email('fast'), WRONG); // the third failure starts a 1 s delay
    const refused = await login(h, email('fast'), strongPassword('fast'));
    expect([refused.status, refused.body.code]).toEqual([401, 'SP_AUTH_LOGIN_FAILED']);
    expect((await auditEvents(h, 'auth.login_throttled')).find((a) => a.target?.id === u.id)).toMatchObject({
      outcome: 'failure',
      details: { by: 'account' },
    });
    // A throttled attempt is not counted as a wrong password.
    expect(query(h.dataDir, 'select failed_logins from users where id = ?', u.id)).toEqual([{ failed_logins: 3 }]);
    later(1_000);
    expect((await login(h, email('fast'), strongPassword('fast'))).status).toBe(200);
    // The password alone does not clear the lockout count: only a sign-in completed with the second factor does.
    expect(query(h.dataDir, 'select failed_logins from users where id = ?', u.id)).toEqual([{ failed_logins: 3 }]);
  });

  it('evaluates at most the allowed number of fifteen wrong passwords sent at once, and a right password at the end of the same burst gets no session', async () => {
    later(2 * 3_600_000);
    const u = await enrolledUser(h, email('burst'), strongPassword('burst'));
    const burst = await Promise.all([
      ...Array.from({ length: 15 }, () => login(h, email('burst'), WRONG)),
      login(h, email('burst'), strongPassword('burst')),
    ]);
    expect(burst.map((r) => r.status)).toEqual(Array(16).fill(401));
    // Two failures are free, the third starts the delay: every attempt after it waits, however many arrive at once.
    const evaluated = (await auditEvents(h, 'auth.login_failed')).filter(
      (a) => a.target?.id === u.id && a.details?.reason === 'bad_password',
    );
    const throttled = (await auditEvents(h, 'auth.login_throttled')).filter((a) => a.target?.id === u.id);
    expect(evaluated.length).toBeLessThanOrEqual(3);
    expect(evaluated.length + throttled.length).toBe(16);
    const [row] = query(h.dataDir, 'select status, failed_logins from users where id = ?', u.id);
    expect(row.status).toBe('active');
    expect(row.failed_logins).toBe(evaluated.length);
    // Only the enrolment session exists.
    expect(query(h.dataDir, 'select count(*) as n from sessions where subject_id = ?', u.id)).toEqual([{ n: 1 }]);
    later(60_000);
    expect((await login(h, email('burst'), strongPassword('burst'))).status).toBe(200);
  });

  it('resets a password through a link e-mailed to the user, answering unknown addresses identically; the reset ends every session', async () => {
    later(2 * 3_600_000);
    const u = await enrolledUser(h, email('reset'), strongPassword('reset'));
    const before = (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items.length;
    const known = await anon(h, 'POST', '/v1/auth/password-reset', { email: email('reset') });
    const unknown = await anon(h, 'POST', '/v1/auth/password-reset', { email: email('ghost') });
    expect([known.status, known.body]).toEqual([202, { status: 'accepted' }]);
    expect([unknown.status, unknown.body]).toEqual([202, { status: 'accepted' }]);

    const mail = await eventually(
      async () =>
        (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items.find(
          (m: { recipient: string }) => m.recipient === email('reset'),
        ),
      'the reset e-mail',
    );
    const items = (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items;
    expect(items.length - before).toBe(1);
    expect(mail.subject).toBe('Password reset');
    const m = new RegExp(`${h.url.replace(/[.]/g, '\\.')}/reset#([A-Za-z0-9_-]{43})`).exec(mail.body);
    expect(m).not.toBeNull();
    const token = m![1];
    secrets.push(token);

    const weak = await anon(h, 'POST', '/v1/auth/password-reset/complete', { token, password: 'qwerty123456' });
    expect([weak.status, weak.body.code]).toEqual([400, 'SP_USER_PASSWORD_WEAK']);
    expect((await asBearer(h, u.session, 'GET', '/v1/me')).status).toBe(200);

    const fresh = strongPassword('reset-new');
    secrets.push(fresh);
    expect((await anon(h, 'POST', '/v1/auth/password-reset/complete', { token, password: fresh })).status).toBe(204);
    expect((await asBearer(h, u.session, 'GET', '/v1/me')).status).toBe(401);
    expect((await login(h, email('reset'), strongPassword('reset'))).status).toBe(401);
    later(60_000);
    expect((await login(h, email('reset'), fresh)).status).toBe(200);
    const again = await anon(h, 'POST', '/v1/auth/password-reset/complete', {
      token,
      password: strongPassword('third'),
    });
    expect([again.status, again.body.code]).toEqual([401, 'SP_AUTH_TOKEN_INVALID']);
    expect((await auditEvents(h, 'user.password_reset')).find((a) => a.target?.id === u.id)?.details).toEqual({
      sessionsRevoked: 1,
    });
  });

  it('e-mails a reset link to a locked user too, and completing it unlocks them', async () => {
    later(2 * 3_600_000);
    const u = await enrolledUser(h, email('locked-reset'), strongPassword('locked-reset'));
    for (let i = 0; i < 5; i++) {
      await login(h, email('locked-reset'), WRONG);
      later(60_000);
    }
    expect(query(h.dataDir, 'select status from users where id = ?', u.id)).toEqual([{ status: 'locked' }]);
    expect((await anon(h, 'POST', '/v1/auth/password-reset', { email: email('locked-reset') })).status).toBe(202);
    const mail = await eventually(
      async () =>
        (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items.find(
          (m: { recipient: string }) => m.recipient === email('locked-reset'),
        ),
      'the reset e-mail of a locked user',
    );
    const token = /\/reset#([A-Za-z0-9_-]{43})/.exec(mail.body)![1];
    secrets.push(token);
    expect(
      (await anon(h, 'POST', '/v1/auth/password-reset/complete', { token, password: strongPassword('unlocked') }))
        .status,
    ).toBe(204);
    expect(query(h.dataDir, 'select status, locked_until, failed_logins from users where id = ?', u.id)).toEqual([
      { status: 'active', locked_until: null, failed_logins: 0 },
    ]);
    expect((await login(h, email('locked-reset'), strongPassword('unlocked'))).status).toBe(200);
  });

  it('hands web sessions out as a __Host- cookie (HttpOnly, Secure, SameSite=Strict, Path=/) only to our own origin, and refuses cross-origin cookie posts', async () => {
    later(2 * 3_600_000);
    await enrolledUser(h, email('web'), strongPassword('web'));
    const crossSite = await login(
      h,
      email('web'),
      strongPassword('web'),
      { transport: 'cookie' },
      { origin: 'https://evil.example' },
    );
    expect([crossSite.status, crossSite.body.code, crossSite.headers['set-cookie']]).toEqual([
      403,
      'SP_AUTH_FORBIDDEN',
      undefined,
    ]);

    const r = await login(h, email('web'), strongPassword('web'), { transport: 'cookie' }, { origin: h.url });
    expect(r.status).toBe(200);
    expect(r.body.token).toBeUndefined();
    expect(r.body.stage).toBe('mfa_enrol');
    const setCookie = ([] as string[]).concat(r.headers['set-cookie'] ?? []);
    expect(setCookie).toHaveLength(1);
    const attrs = setCookie[0].split(';').map((s) => s.trim());
    expect(attrs[0]).toMatch(/^__Host-sealpost_session=sps_[A-Za-z0-9_-]{43}$/);
    expect(attrs).toEqual(expect.arrayContaining(['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/']));
    expect(attrs.some((a) => /^domain=/i.test(a))).toBe(false);
    const cookie = attrs[0];
    secrets.push(cookie.split('=')[1]);

    expect((await anon(h, 'GET', '/v1/me', undefined, { cookie })).body.session).toMatchObject({
      transport: 'cookie',
      stage: 'mfa_enrol',
    });
    const noOrigin = await anon(h, 'POST', '/v1/auth/logout', undefined, { cookie });
    expect([noOrigin.status, noOrigin.body.code]).toEqual([403, 'SP_AUTH_FORBIDDEN']);
    const otherOrigin = await anon(h, 'POST', '/v1/auth/logout', undefined, { cookie, origin: 'https://evil.example' });
    expect(otherOrigin.status).toBe(403);
    expect((await anon(h, 'GET', '/v1/me', undefined, { cookie })).status).toBe(200);

    const out = await anon(h, 'POST', '/v1/auth/logout', undefined, { cookie, origin: h.url });
    expect(out.status).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^__Host-sealpost_session=;.*Expires=Thu, 01 Jan 1970/);
    expect((await anon(h, 'GET', '/v1/me', undefined, { cookie })).status).toBe(401);
  });

  it('signs out a bearer session for good, and lets a person list and end their own other sessions only', async () => {
    later(2 * 3_600_000);
    const u = await enrolledUser(h, email('apps'), strongPassword('apps'));
    const phone = (await login(h, email('apps'), strongPassword('apps'))).body.token;
    const list = await asBearer(h, u.session, 'GET', '/v1/me/sessions');
    // Sessions at a sign-in step see only the routes meant for that step.
    expect(list.body.code).toBe('SP_AUTH_MFA_REQUIRED');
    const me = await asBearer(h, phone, 'GET', '/v1/me');
    expect(me.body.session.stage).toBe('mfa_enrol');

    const out = await asBearer(h, phone, 'POST', '/v1/auth/logout');
    expect(out.status).toBe(204);
    expect((await asBearer(h, phone, 'GET', '/v1/me')).status).toBe(401);
    expect((await auditEvents(h, 'auth.logout')).some((a) => a.actor === `user:${u.id}`)).toBe(true);
    expect((await asBearer(h, u.session, 'POST', '/v1/auth/logout')).status).toBe(204);
  });

  it('lets a signed-in user change their password with the current one; their other sessions end, and a wrong current one counts toward lockout', async () => {
    later(2 * 3_600_000);
    const { staffWithPassword } = await import('../helpers/identity.js');
    const p = await staffWithPassword(h, ['nurse'], strongPassword('change'));
    const issue = async () =>
      (
        await h.app.store.transaction((tx) =>
          h.app.sessions.issue(tx, {
            tenantId: 'default',
            subjectType: 'user',
            subjectId: p.userId,
            transport: 'bearer',
            stage: 'active',
            amr: ['pwd', 'otp', 'mfa'],
          }),
        )
      ).token;
    const [here, elsewhere] = [await issue(), await issue()];
    const change = (current: string, next: string) =>
      asBearer(h, here, 'POST', '/v1/me/password', { currentPassword: current, newPassword: next });
    const wrong = await change(WRONG, strongPassword('changed'));
    expect([wrong.status, wrong.body.code]).toEqual([401, 'SP_AUTH_LOGIN_FAILED']);
    expect(query(h.dataDir, 'select failed_logins from users where id = ?', p.userId)).toEqual([{ failed_logins: 1 }]);
    const weak = await change(strongPassword('change'), 'password1234');
    expect([weak.status, weak.body.code]).toEqual([400, 'SP_USER_PASSWORD_WEAK']);
    expect((await login(h, p.email, strongPassword('change'))).status).toBe(200);

    const ok = await change(strongPassword('change'), strongPassword('changed'));
    expect(ok.status).toBe(200);
    expect(ok.body.sessionsRevoked).toBeGreaterThanOrEqual(2); // the other bearer session and the sign-in just made
    expect((await asBearer(h, elsewhere, 'GET', '/v1/me')).status).toBe(401);
    expect((await asBearer(h, here, 'GET', '/v1/me')).status).toBe(200);
    expect((await login(h, p.email, strongPassword('change'))).status).toBe(401);
    expect((await login(h, p.email, strongPassword('changed'))).status).toBe(200);
    expect((await auditEvents(h, 'user.password_changed')).some((a) => a.actor === `user:${p.userId}`)).toBe(true);
    expect(readFileSync(h.logFile, 'utf8')).not.toContain(strongPassword('changed'));
  });

  it('answers 409 SP_USER_NO_PASSWORD to a user without a password (single sign-on) who tries to change it, without counting toward lockout', async () => {
    later(2 * 3_600_000);
    const { staffWithSession } = await import('../helpers/identity.js');
    const sso = await staffWithSession(h, ['nurse']);
    for (let i = 0; i < 6; i++) {
      const r = await asBearer(h, sso.token, 'POST', '/v1/me/password', {
        currentPassword: WRONG,
        newPassword: strongPassword('sso-new'),
      });
      expect([r.status, r.body.code]).toEqual([409, 'SP_USER_NO_PASSWORD']);
    }
    expect(query(h.dataDir, 'select status, failed_logins, password_hash from users where id = ?', sso.userId)).toEqual(
      [{ status: 'active', failed_logins: 0, password_hash: null }],
    );
    expect((await asBearer(h, sso.token, 'GET', '/v1/me')).status).toBe(200);
  });

  it('voids an outstanding reset link when the user changes their password', async () => {
    later(2 * 3_600_000);
    const u = await enrolledUser(h, email('change-reset'), strongPassword('change-reset'));
    expect((await anon(h, 'POST', '/v1/auth/password-reset', { email: email('change-reset') })).status).toBe(202);
    const mail = await eventually(
      async () =>
        (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items.find(
          (m: { recipient: string }) => m.recipient === email('change-reset'),
        ),
      'the reset e-mail',
    );
    const token = /\/reset#([A-Za-z0-9_-]{43})/.exec(mail.body)![1];
    secrets.push(token);
    const active = await h.app.store.transaction((tx) =>
      h.app.sessions.issue(tx, {
        tenantId: 'default',
        subjectType: 'user',
        subjectId: u.id,
        transport: 'bearer',
        stage: 'active',
        amr: ['pwd', 'otp', 'mfa'],
      }),
    );
    const changed = await asBearer(h, active.token, 'POST', '/v1/me/password', {
      currentPassword: strongPassword('change-reset'),
      newPassword: strongPassword('change-reset-2'),
    });
    expect(changed.status).toBe(200);
    const reset = await anon(h, 'POST', '/v1/auth/password-reset/complete', {
      token,
      password: strongPassword('change-reset-3'),
    });
    expect([reset.status, reset.body?.code]).toEqual([401, 'SP_AUTH_TOKEN_INVALID']);
    expect((await login(h, email('change-reset'), strongPassword('change-reset-2'))).status).toBe(200);
  });

  it("lets a signed-in person list their live sessions (no tokens) and end another one of their own, but not somebody else's", async () => {
    later(2 * 3_600_000);
    const { staffWithSession } = await import('../helpers/identity.js');
    const me = await staffWithSession(h, ['nurse']);
    const other = await staffWithSession(h, ['nurse']);
    const second = await h.app.store.transaction((tx) =>
      h.app.sessions.issue(tx, {
        tenantId: 'default',
        subjectType: 'user',
        subjectId: me.userId,
        transport: 'bearer',
        stage: 'active',
        amr: ['pwd', 'otp', 'mfa'],
      }),
    );
    const list = await asBearer(h, me.token, 'GET', '/v1/me/sessions');
    expect(list.status).toBe(200);
    expect(
      list.body.items.map((s: { id: string; current: boolean }) => [s.id === second.id, s.current]).sort(),
    ).toEqual([
      [false, true],
      [true, false],
    ]);
    expect(list.text).not.toContain('sps_');
    const foreign = (await asBearer(h, other.token, 'GET', '/v1/me/sessions')).body.items[0].id;
    const refused = await asBearer(h, me.token, 'DELETE', `/v1/me/sessions/${foreign}`);
    expect([refused.status, refused.body.code]).toEqual([404, 'SP_AUTH_SESSION_NOT_FOUND']);
    expect((await asBearer(h, other.token, 'GET', '/v1/me')).status).toBe(200);
    expect((await asBearer(h, me.token, 'DELETE', `/v1/me/sessions/${second.id}`)).status).toBe(204);
    expect((await asBearer(h, second.token, 'GET', '/v1/me')).status).toBe(401);
    expect((await asBearer(h, me.token, 'GET', '/v1/me')).status).toBe(200);
  });

  it('never writes a password or a token to the log, nor to the database in clear', () => {
    const text = persistedText(h);
    secrets.push(
      ...[
        'active',
        'disabled',
        'locked',
        'lock',
        'timed',
        'fast',
        'reset',
        'web',
        'apps',
        'burst',
        'locked-reset',
        'unlocked',
        'sso-new',
        'change-reset',
        'change-reset-2',
        'change-reset-3',
      ].map(strongPassword),
      WRONG,
    );
    expect(text).toContain(email('active'));
    for (const s of secrets) expect(text.includes(s), `secret found: ${s.slice(0, 6)}…`).toBe(false);
  });
});

describe('per-address throttling', () => {
  let h: Harness;
  let now = Date.parse('2026-06-01T08:00:00Z');
  beforeAll(async () => {
    h = await startSealpost({}, { clock: () => new Date(now) });
  }, 120_000);
  afterAll(async () => h?.close(), 120_000);

  it('delays an address that fails against many different accounts, even for a right password of yet another account', async () => {
    await enrolledUser(h, email('target'), strongPassword('target'));
    // 20 free failures per address, each against a different (unknown) account: no account key is ever delayed.
    for (let i = 0; i < 21; i++) expect((await login(h, email(`spray${i}`), WRONG)).status).toBe(401);
    const r = await login(h, email('target'), strongPassword('target'));
    expect([r.status, r.body.code]).toEqual([401, 'SP_AUTH_LOGIN_FAILED']);
    expect((await auditEvents(h, 'auth.login_throttled')).at(-1)).toMatchObject({
      details: { by: 'ip' },
      outcome: 'failure',
    });
    now += 2_000;
    expect((await login(h, email('target'), strongPassword('target'))).status).toBe(200);
  });
});
