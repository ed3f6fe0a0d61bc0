import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashToken } from '../crypto/tokens.js';
import { totpCode } from './totp.js';
import { verifyPassword } from './passwords.js';
import { ORIGIN, PASSWORD, authFixture, secretVisible, type AuthFixture } from '../../test/helpers/in-memory-auth.js';
import { refusal } from '../../test/helpers/in-memory-core.js';

const WRONG = 'definitely not the password';
const NEW_PASSWORD = 'Marigold lantern harbour 27';
/** With the default policy an account key is delayed from its third failure on (1 s, 2 s, 4 s…): a minute clears it. */
const MINUTE = 60_000;

let f: AuthFixture;
beforeEach(() => {
  // Lockout at 3 failures keeps the number of argon2 verifications small.
  f = authFixture({ SEALPOST_LOCKOUT_THRESHOLD: '3', SEALPOST_LOCKOUT_MINUTES: '15' });
});
afterEach(() => f.cleanup());

const login = (email: string, password: string, tenant = f.tenantId) =>
  f.signIn.login(tenant, email, password, 'bearer', ORIGIN);
const auditSince = (n: number) => f.store.audit.slice(n).map((a) => a.event);
const later = (ms: number) => f.setNow(f.now() + ms);

describe('SignInService.login', () => {
  it('issues, for the right password, a half-finished session at the second-factor step, never an active one', async () => {
    const u = await f.addUser();
    const n = f.store.audit.length;

    const enrol = await login(`  ${u.email.toUpperCase()} `, PASSWORD);

    expect(enrol).toMatchObject({ stage: 'mfa_enrol', methods: ['totp', 'webauthn'] });
    const row = f.sessionByToken(enrol.token)!;
    expect(row).toMatchObject({ subject_id: u.id, stage: 'mfa_enrol', amr: 'pwd', mfa_at: null, revoked_at: null });
    expect(auditSince(n)).toMatchObject([
      {
        action: 'auth.login_succeeded',
        actor: `user:${u.id}`,
        targetId: row.id,
        sourceIp: ORIGIN.sourceIp,
        details: { step: 'password', stage: 'mfa_enrol', transport: 'bearer' },
      },
    ]);
    // A user with a confirmed seed and recovery codes is asked for them.
    await f.store.transaction(async (tx) => {
      await tx.mfa.putTotp({
        user_id: u.id,
        tenant_id: f.tenantId,
        secret_ct: new Uint8Array([1]),
        confirmed_at: f.now(),
        last_step: null,
        created_at: f.now(),
      });
      await tx.mfa.replaceRecoveryCodes(f.tenantId, u.id, [{ id: 'rc1', code_hash: 'h' }], f.now());
    });
    const mfa = await login(u.email, PASSWORD);
    expect(mfa).toMatchObject({ stage: 'mfa', methods: ['totp', 'recovery'] });
    expect(f.sessionByToken(mfa.token)!.stage).toBe('mfa');
  });

  it('answers a wrong password, an unknown address or tenant, a disabled, invited or single-sign-on account alike, and issues no session', async () => {
    const active = await f.addUser();
    const disabled = await f.addUser({ status: 'disabled' });
    const invited = await f.addUser({ status: 'invited', password_hash: null });
    const sso = await f.addUser({ password_hash: null, sso_issuer: 'https://idp.example', sso_subject: 's1' });
    const n = f.store.audit.length;

    const errors = [
      await refusal(login(active.email, WRONG)),
      await refusal(login('nobody@clinic.example', PASSWORD)),
      await refusal(login(active.email, PASSWORD, 'elsewhere')),
      await refusal(login(disabled.email, PASSWORD)),
      await refusal(login(invited.email, PASSWORD)),
      await refusal(login(sso.email, PASSWORD)),
    ];

    for (const e of errors)
      expect({ code: e.code, status: e.status, message: e.message, detail: e.detail }).toEqual({
        code: 'SP_AUTH_LOGIN_FAILED',
        status: 401,
        message: 'Sign-in failed',
        detail: undefined,
      });
    expect(f.store.tables.sessions.size).toBe(0);
    // Only the audit log tells the reasons apart; attempts at an unknown tenant go to the default tenant's log.
    expect(auditSince(n).map((e) => [e.tenantId, e.action, e.targetType, e.details?.reason])).toEqual([
      ['default', 'auth.login_failed', 'user', 'bad_password'],
      ['default', 'auth.login_failed', 'login', 'unknown_account'],
      ['default', 'auth.login_failed', 'login', 'unknown_tenant'],
      ['default', 'auth.login_failed', 'user', 'disabled'],
      ['default', 'auth.login_failed', 'user', 'invited'],
      ['default', 'auth.login_failed', 'user', 'no_password'],
    ]);
    // Only the active user's wrong password counts toward a lockout.
    expect([active, disabled, invited, sso].map((u) => f.user(u.id).failed_logins)).toEqual([1, 0, 0, 0]);
  });

  it('locks an account at the threshold of wrong passwords: its sessions end, audited as user.locked, an admin alert raised', async () => {
    const u = await f.addUser();
    const open = await f.issueSession(u.id, 'active', ['pwd', 'otp', 'mfa']);
    for (let i = 0; i < 2; i++) {
      await refusal(login(u.email, WRONG));
      later(MINUTE);
    }
    expect(f.user(u.id)).toMatchObject({ status: 'active', failed_logins: 2 });
    const n = f.store.audit.length;

    expect((await refusal(login(u.email, WRONG))).code).toBe('SP_AUTH_LOGIN_FAILED');

    expect(f.user(u.id)).toMatchObject({ status: 'locked', failed_logins: 3, locked_until: f.now() + 15 * MINUTE });
    expect(f.store.tables.sessions.get(open.id)).toMatchObject({ revoked_at: f.now(), revoked_reason: 'locked' });
    expect(auditSince(n)).toMatchObject([
      { action: 'auth.login_failed', outcome: 'failure', details: { reason: 'bad_password' } },
      {
        action: 'user.locked',
        actor: 'system:lockout',
        targetType: 'user',
        targetId: u.id,
        details: { failures: 3, lockedUntil: new Date(f.now() + 15 * MINUTE).toISOString(), sessionsRevoked: 1 },
      },
    ]);
    expect([...f.store.tables.adminAlerts.values()]).toMatchObject([
      { kind: 'account_locked', actor: 'system:lockout', target_type: 'user', target_id: u.id, acknowledged_at: null },
    ]);

    // Locked: even the right password gets the same answer, audited as a locked-out attempt.
    later(MINUTE);
    const m = f.store.audit.length;
    expect((await refusal(login(u.email, PASSWORD))).code).toBe('SP_AUTH_LOGIN_FAILED');
    expect(auditSince(m)).toMatchObject([{ action: 'auth.login_locked_out', details: { reason: 'locked' } }]);
    expect(f.store.tables.sessions.size).toBe(1);
    expect(f.store.tables.adminAlerts.size).toBe(1);
  });

  it('unlocks the account by itself at the first attempt after the lockout ran out', async () => {
    const u = await f.addUser({ status: 'locked', failed_logins: 3, locked_until: f.now() + 15 * MINUTE });
    expect((await refusal(login(u.email, PASSWORD))).code).toBe('SP_AUTH_LOGIN_FAILED');
    later(15 * MINUTE);
    const n = f.store.audit.length;

    const s = await login(u.email, PASSWORD);

    expect(s.stage).toBe('mfa_enrol');
    expect(f.user(u.id)).toMatchObject({ status: 'active', locked_until: null, failed_logins: 0 });
    expect(auditSince(n).map((e) => [e.action, e.actor, e.details])).toEqual([
      ['user.unlocked', 'system:lockout', { by: 'time' }],
      ['auth.login_succeeded', `user:${u.id}`, { step: 'password', stage: 'mfa_enrol', transport: 'bearer' }],
    ]);
  });

  it('refuses an attempt inside the delay without looking at the password, even the right one, and does not count it', async () => {
    // The default policy: two free failures per account key, then 1 s, 2 s, 4 s…
    f.cleanup();
    f = authFixture({ SEALPOST_LOCKOUT_THRESHOLD: '10' });
    const u = await f.addUser();
    for (let i = 0; i < 3; i++) await refusal(login(u.email, WRONG));
    const throttleBefore = [...f.store.tables.throttle.values()];
    const n = f.store.audit.length;

    expect((await refusal(login(u.email, PASSWORD))).code).toBe('SP_AUTH_LOGIN_FAILED');

    expect(auditSince(n)).toMatchObject([
      { action: 'auth.login_throttled', outcome: 'failure', targetId: u.id, details: { by: 'account' } },
    ]);
    expect(f.store.tables.sessions.size).toBe(0);
    expect(f.user(u.id).failed_logins).toBe(3);
    expect([...f.store.tables.throttle.values()]).toEqual(throttleBefore);

    // Once the delay (1 s after the third failure) has passed, the right password is checked again.
    later(1_000);
    expect((await login(u.email, PASSWORD)).stage).toBe('mfa_enrol');
  });

  it('clears the lockout count only when the sign-in completes with the second factor, not for the right password alone', async () => {
    f.cleanup();
    f = authFixture({ SEALPOST_LOCKOUT_THRESHOLD: '10' });
    const u = await f.addUser();
    for (let i = 0; i < 2; i++) await refusal(login(u.email, WRONG));
    const first = await login(u.email, PASSWORD);
    // The account's delay starts again, the lockout count does not.
    expect(f.user(u.id).failed_logins).toBe(2);
    expect([...f.store.tables.throttle.keys()].some((k) => k.startsWith('acct:'))).toBe(false);

    const caller = f.caller(u.id, f.sessionByToken(first.token)!.id);
    const { secret } = await f.mfa.startTotp(caller);
    await f.mfa.confirmTotp(caller, await totpCode(secret, f.now()));

    expect(f.user(u.id).failed_logins).toBe(0);
  });

  it('issues no session when the account was locked between the password check and the session (reservation re-checked)', async () => {
    const u = await f.addUser();
    // A racing request locks the user just before this attempt's success transaction (its second one).
    let transactions = 0;
    const original = f.store.transaction.bind(f.store);
    f.store.transaction = ((fn, opts) =>
      original(async (tx) => {
        if (++transactions === 2)
          await tx.users.update(f.tenantId, u.id, { status: 'locked', locked_until: f.now() + MINUTE });
        return fn(tx);
      }, opts)) as typeof f.store.transaction;
    const n = f.store.audit.length;

    expect((await refusal(login(u.email, PASSWORD))).code).toBe('SP_AUTH_LOGIN_FAILED');

    expect(f.store.tables.sessions.size).toBe(0);
    expect(auditSince(n).map((e) => [e.action, e.details?.reason])).toEqual([
      ['auth.login_locked_out', 'status_changed'],
    ]);
  });
});

describe('SignInService password reset', () => {
  const tokenOf = (text: string) => /\/reset#([A-Za-z0-9_-]+)/.exec(text)![1];

  it('answers a request for an unknown address like a known one, and sends nothing nor stores a link for it', async () => {
    const u = await f.addUser();
    const disabled = await f.addUser({ status: 'disabled' });
    const n = f.store.audit.length;

    await expect(f.signIn.requestReset(f.tenantId, 'nobody@clinic.example', ORIGIN)).resolves.toBeUndefined();
    await expect(f.signIn.requestReset(f.tenantId, disabled.email, ORIGIN)).resolves.toBeUndefined();
    await expect(f.signIn.requestReset('elsewhere', u.email, ORIGIN)).resolves.toBeUndefined();
    expect(f.email.sent).toEqual([]);
    expect(f.store.tables.userTokens.size).toBe(0);
    expect(auditSince(n).map((e) => [e.action, e.targetType, e.details?.reason])).toEqual([
      ['auth.password_reset_refused', 'login', 'unknown_account'],
      ['auth.password_reset_refused', 'user', 'disabled'],
    ]);

    await expect(f.signIn.requestReset(f.tenantId, u.email.toUpperCase(), ORIGIN)).resolves.toBeUndefined();
    expect(f.email.sent).toHaveLength(1);
    const [mail] = f.email.sent;
    expect(mail).toMatchObject({ to: u.email, tenantId: f.tenantId, channel: 'email', subject: 'Password reset' });
    const token = tokenOf(mail.text);
    expect([...f.store.tables.userTokens.values()]).toMatchObject([
      {
        user_id: u.id,
        purpose: 'password_reset',
        token_hash: hashToken(token),
        expires_at: f.now() + 30 * MINUTE,
        used_at: null,
      },
    ]);
    expect(auditSince(n).at(-1)).toMatchObject({ action: 'auth.password_reset_requested', targetId: u.id });
    expect(secretVisible(f, token)).toBe(false);
  });

  it('sends at most one link a minute per user; a new link voids the one before', async () => {
    const u = await f.addUser();
    await f.signIn.requestReset(f.tenantId, u.email, ORIGIN);
    later(59_000);
    await f.signIn.requestReset(f.tenantId, u.email, ORIGIN);
    expect(f.email.sent).toHaveLength(1);
    later(1_000);
    await f.signIn.requestReset(f.tenantId, u.email, ORIGIN);
    expect(f.email.sent).toHaveLength(2);

    const [old, fresh] = f.email.sent.map((m) => tokenOf(m.text));
    expect((await refusal(f.signIn.checkLink(f.tenantId, 'password_reset', old, ORIGIN))).code).toBe(
      'SP_AUTH_TOKEN_INVALID',
    );
    await expect(f.signIn.checkLink(f.tenantId, 'password_reset', fresh, ORIGIN)).resolves.toBeUndefined();
  });

  it('sets the new password once: the link is single use, every session ends, a lockout ends too', async () => {
    const u = await f.addUser({ status: 'locked', failed_logins: 3, locked_until: f.now() + 15 * MINUTE });
    const open = await f.issueSession(u.id, 'active', ['pwd', 'otp', 'mfa']);
    await f.signIn.requestReset(f.tenantId, u.email, ORIGIN);
    const token = tokenOf(f.email.sent[0].text);
    const n = f.store.audit.length;

    await f.signIn.completeReset(f.tenantId, token, NEW_PASSWORD, ORIGIN);

    const after = f.user(u.id);
    expect(after).toMatchObject({ status: 'active', locked_until: null, failed_logins: 0 });
    expect(await verifyPassword(after.password_hash, NEW_PASSWORD)).toBe(true);
    expect(f.store.tables.sessions.get(open.id)).toMatchObject({ revoked_reason: 'password_reset' });
    expect(auditSince(n)).toMatchObject([
      { action: 'user.password_reset', targetId: u.id, details: { sessionsRevoked: 1 } },
    ]);

    // Used once: the same link again is refused, audited, counted against the address, and changes nothing.
    const before = f.store.dump();
    const e = await refusal(f.signIn.completeReset(f.tenantId, token, 'Another fine passphrase 9', ORIGIN));
    expect(e.code).toBe('SP_AUTH_TOKEN_INVALID');
    const dumpAfter = f.store.dump();
    expect(dumpAfter.tables.users).toEqual(before.tables.users);
    expect(dumpAfter.tables.sessions).toEqual(before.tables.sessions);
    expect(dumpAfter.tables.userTokens).toEqual(before.tables.userTokens);
    expect(auditSince(before.audit.length)).toMatchObject([
      { action: 'auth.token_invalid', outcome: 'failure', details: { purpose: 'password_reset', reason: 'used' } },
    ]);
    expect(f.store.tables.throttle.get(`ip:${ORIGIN.sourceIp}`)).toMatchObject({ failures: 1 });
    for (const secret of [PASSWORD, NEW_PASSWORD, token]) expect(secretVisible(f, secret)).toBe(false);
  });

  it('does not bring back a user disabled while their reset was in progress, and keeps the link unused', async () => {
    const u = await f.addUser();
    await f.signIn.requestReset(f.tenantId, u.email, ORIGIN);
    const token = tokenOf(f.email.sent[0].text);
    // An administrator disables the user (committed) after the link was checked, before the new password is stored.
    const original = f.store.transaction.bind(f.store);
    f.store.transaction = ((fn, opts) => {
      f.store.transaction = original;
      return original((tx) => tx.users.update(f.tenantId, u.id, { status: 'disabled' })).then(() => original(fn, opts));
    }) as typeof f.store.transaction;

    expect((await refusal(f.signIn.completeReset(f.tenantId, token, NEW_PASSWORD, ORIGIN))).code).toBe(
      'SP_AUTH_TOKEN_INVALID',
    );

    expect(f.user(u.id)).toMatchObject({ status: 'disabled', password_hash: u.password_hash });
    expect([...f.store.tables.userTokens.values()][0].used_at).toBeNull();
    expect(f.store.audit.at(-1)!.event.action).toBe('auth.password_reset_requested');
  });

  it('refuses an expired link, and a link of another purpose or tenant, without using it', async () => {
    const u = await f.addUser();
    await f.signIn.requestReset(f.tenantId, u.email, ORIGIN);
    const token = tokenOf(f.email.sent[0].text);
    const reasons = () =>
      f.store.audit.filter((a) => a.event.action === 'auth.token_invalid').map((a) => a.event.details?.reason);

    await refusal(f.signIn.checkLink(f.tenantId, 'enrolment', token, ORIGIN));
    await refusal(f.signIn.checkLink('elsewhere', 'password_reset', token, ORIGIN));
    await refusal(f.signIn.checkLink(f.tenantId, 'password_reset', 'not-a-token', ORIGIN));
    later(30 * MINUTE - 1);
    await expect(f.signIn.checkLink(f.tenantId, 'password_reset', token, ORIGIN)).resolves.toBeUndefined();
    later(1);
    const e = await refusal(f.signIn.completeReset(f.tenantId, token, NEW_PASSWORD, ORIGIN));

    expect(e.code).toBe('SP_AUTH_TOKEN_INVALID');
    // The unknown tenant has no log to write to.
    expect(reasons()).toEqual(['unknown', 'unknown', 'expired']);
    expect(f.user(u.id).password_hash).toBe(u.password_hash);
    expect([...f.store.tables.userTokens.values()][0].used_at).toBeNull();
  });

  it('refuses a new password that is too short or too long, common, or contains the e-mail local part, keeping the link', async () => {
    const u = await f.addUser({ email: 'mrivera@clinic.example' });
    await f.signIn.requestReset(f.tenantId, u.email, ORIGIN);
    const token = tokenOf(f.email.sent[0].text);
    const before = f.store.dump();

    for (const [password, rule] of [
      ['Short 1', 'password must be 12 to 128 characters'],
      ['x'.repeat(129), 'password must be 12 to 128 characters'],
      ['qwerty123456', 'password is on the list of common passwords'],
      ['MRivera was here 2030', 'password contains the e-mail address'],
    ]) {
      const e = await refusal(f.signIn.completeReset(f.tenantId, token, password, ORIGIN));
      expect([e.code, e.detail]).toEqual(['SP_USER_PASSWORD_WEAK', rule]);
      expect(e.message).not.toContain(password);
    }
    expect(f.store.dump()).toEqual(before);
    await expect(f.signIn.checkLink(f.tenantId, 'password_reset', token, ORIGIN)).resolves.toBeUndefined();
  });
});

describe('SignInService enrolment and password change', () => {
  it('sets the first password from an invitation link, once, and starts a session that must enrol a factor', async () => {
    const admin = { tenantId: f.tenantId, actor: 'api-key:admin', requestId: 'req-admin' };
    const { user, enrolmentUrl } = await f.users.invite(admin, {
      email: 'new.staff@clinic.example',
      displayName: 'New Staff',
      roles: ['nurse'],
    });
    const token = enrolmentUrl.split('#')[1];

    const weak = await refusal(f.signIn.enrol(f.tenantId, token, 'new.staff 2030 abc', 'cookie', ORIGIN));
    expect(weak.code).toBe('SP_USER_PASSWORD_WEAK');
    expect(f.user(user.id)).toMatchObject({ status: 'invited', password_hash: null });

    const s = await f.signIn.enrol(f.tenantId, token, PASSWORD, 'cookie', ORIGIN);

    expect(s).toMatchObject({ stage: 'mfa_enrol', methods: ['totp', 'webauthn'] });
    expect(f.sessionByToken(s.token)).toMatchObject({ stage: 'mfa_enrol', transport: 'cookie', amr: 'pwd' });
    expect(f.user(user.id).status).toBe('active');
    expect((await refusal(f.signIn.enrol(f.tenantId, token, PASSWORD, 'cookie', ORIGIN))).code).toBe(
      'SP_AUTH_TOKEN_INVALID',
    );
    expect(f.store.tables.sessions.size).toBe(1);
  });

  it('counts a wrong current password toward the lockout, and refuses a single-sign-on user without counting', async () => {
    const u = await f.addUser();
    const sso = await f.addUser({ password_hash: null, sso_issuer: 'https://idp.example', sso_subject: 's1' });
    const s = await f.issueSession(u.id, 'active', ['pwd', 'otp', 'mfa']);
    const ctx = { tenantId: f.tenantId, actor: `user:${u.id}` };
    const before = f.user(u.id);

    const e = await refusal(f.signIn.changePassword(ctx, u.id, s.id, WRONG, NEW_PASSWORD));

    expect(e.code).toBe('SP_AUTH_LOGIN_FAILED');
    expect(f.user(u.id)).toMatchObject({ failed_logins: 1, password_hash: before.password_hash });
    expect(f.store.audit.at(-1)!.event).toMatchObject({ action: 'user.password_change_failed', targetId: u.id });

    const none = await refusal(
      f.signIn.changePassword({ tenantId: f.tenantId, actor: `user:${sso.id}` }, sso.id, 'x', PASSWORD, NEW_PASSWORD),
    );
    expect(none.code).toBe('SP_USER_NO_PASSWORD');
    expect(f.user(sso.id).failed_logins).toBe(0);
  });

  it('never puts a password into an audit entry, a log line or a table in clear', async () => {
    const u = await f.addUser();
    await refusal(login(u.email, WRONG));
    await login(u.email, PASSWORD);
    for (const secret of [PASSWORD, WRONG]) expect(secretVisible(f, secret)).toBe(false);
    expect(f.user(u.id).password_hash).toMatch(/^\$argon2id\$/);
  });
});
