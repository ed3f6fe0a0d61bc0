import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { query } from '../helpers/db-snapshot.js';
import { totpCode } from '../../src/auth/totp.js';

const tag = randomBytes(4).toString('hex');
const PATIENT = `bg-${tag}`;
/** Planted in the stated reason: it may name the patient, so it must never reach logs, audit or non-admins. */
const REASON_MARK = `REASONMARK-${tag}`;
const REASON = `Unconscious in the emergency department ${REASON_MARK}`;

describe('break-glass: emergency access outside the care team', () => {
  let h: Harness;
  let offsetMs = 0;
  const clock = () => new Date(Date.now() + offsetMs);
  let admin: TestPerson, physician: TestPerson, receptionist: TestPerson;
  let secret = '';
  let recoveryCodes: string[] = [];
  const as = (p: TestPerson) => (method: string, path: string, body?: unknown) =>
    h.request(method, path, body, p.headers);
  const count = (sql: string, ...params: unknown[]) => query(h.dataDir, sql, ...params)[0].n as number;
  const grants = () => count('select count(*) as n from break_glass_grants');
  const alerts = () => count("select count(*) as n from admin_alerts where kind = 'break_glass'");
  /** The code of the next time step: later than the one enrolment used (codes are single-use per step; ±1 step is accepted). */
  const nextCode = () => totpCode(secret, clock().getTime() + 30_000);

  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_BREAK_GLASS_MINUTES: '5' }, { clock });
    [admin, physician, receptionist] = await Promise.all([
      staffWithSession(h, ['admin']),
      staffWithSession(h, ['physician']),
      staffWithSession(h, ['receptionist']),
    ]);
    expect((await h.request('PUT', `/v1/patients/${PATIENT}`, samplePatient())).status).toBe(201);
    // The physician enrols an authenticator app through the MFA routes.
    const setup = await as(physician)('POST', '/v1/auth/mfa/totp/setup');
    expect(setup.status).toBe(200);
    secret = setup.body.secret;
    const confirm = await as(physician)('POST', '/v1/auth/mfa/totp/confirm', {
      code: await totpCode(secret, clock().getTime()),
    });
    expect(confirm.status).toBe(200);
    if (confirm.body.token)
      physician = {
        ...physician,
        token: confirm.body.token,
        headers: { authorization: `Bearer ${confirm.body.token}` },
      };
    recoveryCodes = confirm.body.recoveryCodes ?? [];
    expect(recoveryCodes.length).toBeGreaterThan(1);
  }, 120_000);
  afterAll(() => h?.close());

  it('a wrong or missing second factor is refused with 401, audited, and grants nothing', async () => {
    const [g, a] = [grants(), alerts()];
    const failures = () =>
      count(
        'select count(*) as n from audit_entries where action = \'access.break_glass\' and entry like \'%"outcome":"failure"%\'',
      );
    const f = failures();
    const attempts = [
      { reason: REASON, totp: '000000' },
      { reason: REASON },
      { reason: REASON, recoveryCode: 'not-a-code' },
    ];
    for (const body of attempts) {
      const r = await as(physician)('POST', `/v1/patients/${PATIENT}/break-glass`, body);
      expect([r.status, r.body.code]).toEqual([401, 'SP_AUTH_MFA_FAILED']);
      expect(r.text).not.toContain(REASON_MARK);
    }
    expect([grants(), alerts()]).toEqual([g, a]);
    expect(failures()).toBe(f + attempts.length);
    // Each wrong code is a guess at the second factor and counts toward the account's lockout (a request without one is not).
    expect(count(`select failed_logins as n from users where id = '${physician.userId}'`)).toBe(2);
    expect((await as(physician)('GET', `/v1/patients/${PATIENT}`)).body.code).toBe('SP_AUTH_NO_RELATIONSHIP');
  });

  it('bad input, system credentials and roles without the permission are refused and change nothing', async () => {
    const [g, a] = [grants(), alerts()];
    const p = as(physician);
    expect(
      (await p('POST', `/v1/patients/${PATIENT}/break-glass`, { reason: 'too short', totp: '123456' })).body.code,
    ).toBe('SP_REQ_VALIDATION');
    expect(
      (await p('POST', `/v1/patients/${PATIENT}/break-glass`, { reason: '            ', totp: '123456' })).body.code,
    ).toBe('SP_REQ_VALIDATION');
    expect(
      (await p('POST', `/v1/patients/${PATIENT}/break-glass`, { reason: REASON, totp: '1', extra: true })).body.code,
    ).toBe('SP_REQ_VALIDATION');
    expect(
      (await p('POST', `/v1/patients/nobody-${tag}/break-glass`, { reason: REASON, totp: '123456' })).body.code,
    ).toBe('SP_PATIENT_NOT_FOUND');
    // The admin API key holds every permission, but break-glass is for a named person who re-authenticated.
    expect(
      (await h.request('POST', `/v1/patients/${PATIENT}/break-glass`, { reason: REASON, totp: '123456' })).body.code,
    ).toBe('SP_AUTH_FORBIDDEN');
    expect(
      (await as(receptionist)('POST', `/v1/patients/${PATIENT}/break-glass`, { reason: REASON, totp: '123456' })).body
        .code,
    ).toBe('SP_AUTH_FORBIDDEN');
    expect([grants(), alerts()]).toEqual([g, a]);
  });

  let grantId = '';
  it('with a reason and a fresh TOTP code the physician gets time-limited access; grant, accesses and alert are on the record without the reason', async () => {
    const admin = await staffWithSession(h, ['admin'], 'default', `alerts-${tag}@clinic.test`);
    const code = await nextCode();
    const r = await as(physician)('POST', `/v1/patients/${PATIENT}/break-glass`, { reason: REASON, totp: code });
    expect(r.status).toBe(201);
    expect(r.text).not.toContain(REASON_MARK);
    grantId = r.body.grant.id;
    expect(r.body.grant).toMatchObject({ userId: physician.userId, patientId: PATIENT, revokedAt: null });
    expect(Date.parse(r.body.grant.expiresAt) - Date.parse(r.body.grant.createdAt)).toBe(5 * 60_000);
    // The same code cannot open a second grant.
    const replay = await as(physician)('POST', `/v1/patients/${PATIENT}/break-glass`, { reason: REASON, totp: code });
    expect([replay.status, replay.body.code]).toEqual([401, 'SP_AUTH_MFA_FAILED']);

    const read = await as(physician)('GET', `/v1/patients/${PATIENT}`);
    expect(read.status).toBe(200);
    expect(read.body.name.family).toBe('Lopez');
    const n = await as(physician)('POST', '/v1/notifications', {
      patientId: PATIENT,
      type: 'test_result_ready',
      data: { testName: 'CT head' },
    });
    expect(n.status).toBe(202);
    expect((await as(physician)('GET', `/v1/notifications/${n.body.id}`)).status).toBe(200);

    const entries = query<{ action: string; entry: string }>(
      h.dataDir,
      'select action, entry from audit_entries order by idx',
    );
    expect(
      entries.some(
        (e) =>
          e.action === 'access.break_glass' && e.entry.includes(grantId) && e.entry.includes('"outcome":"success"'),
      ),
    ).toBe(true);
    const patientRead = entries.filter((e) => e.action === 'patient.read').at(-1)!;
    expect(JSON.parse(patientRead.entry).details.breakGlass).toBe(grantId);
    expect(
      JSON.parse(entries.filter((e) => e.action === 'notification.created').at(-1)!.entry).details.breakGlass,
    ).toBe(grantId);
    expect(
      entries.filter((e) => e.action === 'access.break_glass_used' && e.entry.includes(grantId)).length,
    ).toBeGreaterThanOrEqual(3);
    expect(entries.some((e) => e.entry.includes(REASON_MARK))).toBe(false);
    expect(query(h.dataDir, 'select * from admin_alerts where target_id = ?', grantId)).toMatchObject([
      { kind: 'break_glass', actor: `user:${physician.userId}`, target_type: 'break_glass_grant' },
    ]);
    // Stored encrypted; logged by ids only.
    const row = query<{ reason_ct: Buffer }>(
      h.dataDir,
      'select reason_ct from break_glass_grants where id = ?',
      grantId,
    )[0]!;
    expect(Buffer.from(row.reason_ct).includes(REASON_MARK)).toBe(false);
    const log = readFileSync(h.logFile, 'utf8');
    expect(log).toContain('break-glass access granted');
    expect(log).toContain(grantId);
    expect(log).not.toContain(REASON_MARK);
    // Administrators are told at once by e-mail: the alert and who acted, never the patient or the reason.
    const alertId = r.body.alertId as string;
    const mail = await eventually(async () => {
      const items = (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items as {
        deliveryId: string;
        recipient: string;
        body: string;
      }[];
      return items.find((i) => i.deliveryId === `alert-${alertId}-${admin.userId}`);
    }, 'the alert e-mail to the administrator');
    expect(mail.recipient).toBe(`alerts-${tag}@clinic.test`);
    expect(mail.body).toContain(alertId);
    expect(mail.body).toContain(`user:${physician.userId}`);
    for (const secret of [REASON_MARK, PATIENT, 'Lopez']) expect(mail.body).not.toContain(secret);
  });

  it('a recovery code also re-authenticates, once', async () => {
    const code = recoveryCodes[0]!;
    const ok = await as(physician)('POST', `/v1/patients/${PATIENT}/break-glass`, {
      reason: REASON,
      recoveryCode: code,
    });
    expect(ok.status).toBe(201);
    const again = await as(physician)('POST', `/v1/patients/${PATIENT}/break-glass`, {
      reason: REASON,
      recoveryCode: code,
    });
    expect([again.status, again.body.code]).toEqual([401, 'SP_AUTH_MFA_FAILED']);
  });

  it('administrators review grants with their reasons (an audited read) and acknowledge the alerts', async () => {
    const before = count("select count(*) as n from audit_entries where action = 'break_glass.reasons_read'");
    const list = await as(admin)('GET', '/v1/break-glass?limit=1');
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0].reason).toBe(REASON);
    const next = await as(admin)('GET', `/v1/break-glass?limit=10&cursor=${encodeURIComponent(list.body.nextCursor)}`);
    expect(next.body.items.map((g: { id: string }) => g.id)).toContain(grantId);
    expect(count("select count(*) as n from audit_entries where action = 'break_glass.reasons_read'")).toBe(before + 2);
    expect((await as(physician)('GET', '/v1/break-glass')).body.code).toBe('SP_AUTH_FORBIDDEN');
    expect((await as(admin)('GET', '/v1/break-glass?cursor=bogus')).status).toBe(400);

    const open = await as(admin)('GET', '/v1/security-alerts?open=true');
    const alert = open.body.items.find((a: { targetId: string }) => a.targetId === grantId);
    expect(alert).toMatchObject({ kind: 'break_glass', targetType: 'break_glass_grant', acknowledgedAt: null });
    expect(open.text).not.toContain(REASON_MARK);
    const acks = () => count("select count(*) as n from audit_entries where action = 'alert.acknowledged'");
    const a0 = acks();
    const ack = await as(admin)('POST', `/v1/security-alerts/${alert.id}/acknowledge`);
    expect(ack.body).toMatchObject({ id: alert.id, acknowledgedBy: `user:${admin.userId}` });
    const again = await as(admin)('POST', `/v1/security-alerts/${alert.id}/acknowledge`);
    expect(again.body.acknowledgedAt).toBe(ack.body.acknowledgedAt);
    expect(acks()).toBe(a0 + 1);
    expect(
      (await as(admin)('GET', '/v1/security-alerts?open=true')).body.items.map((a: { id: string }) => a.id),
    ).not.toContain(alert.id);
    expect((await as(admin)('POST', `/v1/security-alerts/no-such-alert/acknowledge`)).body.code).toBe(
      'SP_SECURITY_ALERT_NOT_FOUND',
    );
    expect((await as(physician)('GET', '/v1/security-alerts')).body.code).toBe('SP_AUTH_FORBIDDEN');
  });

  it('when the grant expires the record closes again', async () => {
    offsetMs += 6 * 60_000;
    const r = await as(physician)('GET', `/v1/patients/${PATIENT}`);
    expect([r.status, r.body.code]).toEqual([403, 'SP_AUTH_NO_RELATIONSHIP']);
  });

  it("a batch under two grants names each patient's own grant in its audit entries", async () => {
    const second = `bg2-${tag}`;
    expect((await h.request('PUT', `/v1/patients/${second}`, samplePatient())).status).toBe(201);
    offsetMs += 60_000;
    const g1 = await as(physician)('POST', `/v1/patients/${PATIENT}/break-glass`, {
      reason: REASON,
      totp: await nextCode(),
    });
    offsetMs += 60_000;
    const g2 = await as(physician)('POST', `/v1/patients/${second}/break-glass`, {
      reason: REASON,
      totp: await nextCode(),
    });
    expect([g1.status, g2.status]).toEqual([201, 201]);
    const item = (patientId: string) => ({ patientId, type: 'test_result_ready', data: { testName: 'Troponin' } });
    const b = await as(physician)('POST', '/v1/notifications:batch', { items: [item(PATIENT), item(second)] });
    expect(b.status).toBe(202);
    const byNotification = new Map(
      query<{ entry: string }>(
        h.dataDir,
        "select entry from audit_entries where action = 'notification.created' order by idx desc limit 2",
      ).map((r) => {
        const e = JSON.parse(r.entry);
        return [e.target.id, e.details.breakGlass] as const;
      }),
    );
    const [n1, n2] = b.body.items.map((x: { id: string }) => x.id);
    expect([byNotification.get(n1), byNotification.get(n2)]).toEqual([g1.body.grant.id, g2.body.grant.id]);
  });

  it('an administrator ends a grant before its time, and a grant dies with the session that re-authenticated for it', async () => {
    const third = `bg3-${tag}`; // no other grant of the physician's covers it
    expect((await h.request('PUT', `/v1/patients/${third}`, samplePatient())).status).toBe(201);
    offsetMs += 60_000;
    const g = await as(physician)('POST', `/v1/patients/${third}/break-glass`, {
      reason: REASON,
      totp: await nextCode(),
    });
    expect(g.status).toBe(201);
    expect((await as(physician)('GET', `/v1/patients/${third}`)).status).toBe(200);
    // Another session of the same person (say, a second device) does not carry the grant.
    const other = await h.app.store.transaction((tx) =>
      h.app.sessions.issue(tx, {
        tenantId: 'default',
        subjectType: 'user',
        subjectId: physician.userId,
        transport: 'bearer',
        stage: 'active',
        amr: ['pwd', 'otp', 'mfa'],
      }),
    );
    expect(
      (await h.request('GET', `/v1/patients/${third}`, undefined, { authorization: `Bearer ${other.token}` })).body
        .code,
    ).toBe('SP_AUTH_NO_RELATIONSHIP');
    expect((await as(physician)('POST', `/v1/break-glass/${g.body.grant.id}/revoke`)).status).toBe(403);
    const r = await as(admin)('POST', `/v1/break-glass/${g.body.grant.id}/revoke`);
    expect(r.status).toBe(200);
    expect(r.body.revokedAt).not.toBeNull();
    expect((await as(physician)('GET', `/v1/patients/${third}`)).body.code).toBe('SP_AUTH_NO_RELATIONSHIP');
    const again = await as(admin)('POST', `/v1/break-glass/${g.body.grant.id}/revoke`);
    expect([again.status, again.body.code]).toEqual([404, 'SP_BREAK_GLASS_NOT_FOUND']);
    expect(
      count(
        "select count(*) as n from audit_entries where action = 'break_glass.revoked' and entry like ?",
        `%${g.body.grant.id}%`,
      ),
    ).toBe(1);
  });

  // Last: it locks the physician's account (five wrong second factors).
  it('evaluates at most five of twenty wrong step-up codes sent at once, grants nothing, and locks the account', async () => {
    const session = await h.app.store.transaction((tx) =>
      h.app.sessions.issue(tx, {
        tenantId: 'default',
        subjectType: 'user',
        subjectId: physician.userId,
        transport: 'bearer',
        stage: 'active',
        amr: ['pwd', 'otp', 'mfa'],
      }),
    );
    const evaluated = () =>
      count(
        'select count(*) as n from audit_entries where action = \'access.break_glass\' and entry like \'%"outcome":"failure"%\'',
      );
    const [before, grantsBefore] = [evaluated(), grants()];
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        h.request(
          'POST',
          `/v1/patients/${PATIENT}/break-glass`,
          { reason: REASON, totp: '000000' },
          { authorization: `Bearer ${session.token}` },
        ),
      ),
    );
    expect(answers.every((a) => a.status === 401)).toBe(true);
    expect(evaluated() - before).toBeLessThanOrEqual(5);
    expect(grants()).toBe(grantsBefore);
    expect(query(h.dataDir, 'select status from users where id = ?', physician.userId)).toEqual([{ status: 'locked' }]);
  });
});
