import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpsJson, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { query } from '../helpers/db-snapshot.js';

const MARKER = 'Zqxphimarker';
type Contact = { system: 'email' | 'sms'; value: string };

describe('patient accounts: sign-in with a contact point and a one-time code', () => {
  let h: Harness;
  const accounts: Record<string, string> = {};
  const anon = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    httpsJson(h.url, h.cert, method, path, body, { authorization: '', ...headers });
  const asPatient = (token: string, method: string, path: string, body?: unknown) =>
    anon(method, path, body, { authorization: `Bearer ${token}` });

  /** Every outbox item (all pages), oldest first. */
  async function outbox(): Promise<any[]> {
    const items: any[] = [];
    for (let cursor = ''; ;) {
      const r = await h.request('GET', `/v1/dev/outbox?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
      items.push(...r.body.items);
      if (!r.body.nextCursor) return items;
      cursor = r.body.nextCursor;
    }
  }
  const codeMessages = async (accountId: string) =>
    (await outbox()).filter((i) => i.deliveryId.startsWith(`potp-${accountId}-`));

  /** Starts sign-in and returns the code that arrived (the newest for this account). */
  async function requestCode(patient: string, contact: Contact): Promise<string> {
    const before = (await codeMessages(accounts[patient]!)).length;
    expect((await anon('POST', '/v1/patient-auth/start', { contact })).status).toBe(202);
    const msgs = await eventually(async () => {
      const m = await codeMessages(accounts[patient]!);
      return m.length > before && m;
    }, 'sign-in code');
    return /code is (\d{6})/.exec(msgs[msgs.length - 1].body)![1]!;
  }

  async function signIn(patient: string, contact: Contact): Promise<string> {
    const code = await requestCode(patient, contact);
    const r = await anon('POST', '/v1/patient-auth/verify', { contact, code, transport: 'bearer' });
    expect(r.status).toBe(200);
    return r.body.token;
  }

  const email = (n: number): Contact => ({ system: 'email', value: `patient${n}@example.com` });
  const sms = (n: number): Contact => ({ system: 'sms', value: `+1415555267${n}` });
  const otherCode = (c: string) => String((Number(c) + 1) % 1_000_000).padStart(6, '0');

  beforeAll(async () => {
    h = await startSealpost();
    for (const n of [1, 2, 3, 4, 5, 6, 7]) {
      const body = samplePatient({ name: { given: [MARKER], family: `Family${n}` }, telecom: [sms(n), email(n)] });
      expect((await h.request('PUT', `/v1/patients/p${n}`, body)).status).toBe(201);
    }
    for (const [p, c] of [
      ['p1', email(1)],
      ['p2', sms(2)],
      ['p3', email(3)],
      ['p4', email(4)],
      ['p5', sms(5)],
      ['p6', email(6)],
    ] as const) {
      const r = await h.request('POST', `/v1/patients/${p}/account`, { contact: c });
      expect(r.status).toBe(201);
      accounts[p] = r.body.id;
    }
  }, 120_000);
  afterAll(() => h?.close());

  it('signs a patient in by e-mail; the patient sees exactly their own notifications, decrypted, newest first', async () => {
    const mine = [];
    for (const testName of ['Ferritin', 'Lipid panel'])
      mine.push(
        (
          await h.request('POST', '/v1/notifications', {
            type: 'test_result_ready',
            patientId: 'p1',
            data: { testName },
          })
        ).body.id,
      );
    await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'p2',
      data: { testName: 'Other-patient-HbA1c' },
    });
    const token = await signIn('p1', email(1));
    const r = await asPatient(token, 'GET', '/v1/me/notifications');
    expect(r.status).toBe(200);
    expect(r.body.items.map((i: any) => i.id)).toEqual([...mine].reverse());
    expect(r.body.items[0]).toMatchObject({ type: 'test_result_ready', status: 'unread' });
    expect(r.body.items[0].body + r.body.items[0].title).toContain('Lipid panel');
    expect(r.text).not.toContain('Other-patient-HbA1c');
    // Cursor pagination: one at a time, same order, then the end.
    const first = await asPatient(token, 'GET', '/v1/me/notifications?limit=1');
    const second = await asPatient(token, 'GET', `/v1/me/notifications?limit=1&cursor=${first.body.nextCursor}`);
    expect([first.body.items[0].id, second.body.items[0].id]).toEqual([...mine].reverse());
    expect(second.body.nextCursor).toBeNull();
  });

  it('signs a patient in by SMS, with the session in an HttpOnly SameSite cookie for the web', async () => {
    await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'p2',
      data: { testName: 'Vitamin D' },
    });
    const code = await requestCode('p2', sms(2));
    const msg = (await codeMessages(accounts.p2!)).at(-1);
    expect(msg.channel).toBe('sms');
    const r = await anon('POST', '/v1/patient-auth/verify', { contact: sms(2), code });
    expect(r.status).toBe(200);
    expect(r.body.token).toBeUndefined();
    const setCookie = String(r.headers['set-cookie']);
    expect(setCookie).toMatch(/^__Host-sealpost_session=sps_/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    const list = await anon('GET', '/v1/me/notifications', undefined, { cookie: setCookie.split(';')[0]! });
    expect(list.status).toBe(200);
    expect(list.text).toContain('Vitamin D');
  });

  it("refuses a patient session on staff routes (403) and answers 404 for another patient's notification", async () => {
    const theirs = (
      await h.request('POST', '/v1/notifications', {
        type: 'test_result_ready',
        patientId: 'p2',
        data: { testName: 'Not-yours' },
      })
    ).body.id;
    const token = await signIn('p3', email(3));
    expect((await asPatient(token, 'GET', '/v1/patients/p3')).status).toBe(403);
    expect((await asPatient(token, 'GET', '/v1/patients/p2')).status).toBe(403);
    const create = await asPatient(token, 'POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'p3',
      data: { testName: 'x' },
    });
    expect(create.status).toBe(403);
    expect((await asPatient(token, 'POST', '/v1/patients/p3/account', { contact: sms(3) })).status).toBe(403);
    const other = await asPatient(token, 'GET', `/v1/me/notifications/${theirs}`);
    expect(other.status).toBe(404);
    expect(other.body.code).toBe('SP_NOTIFICATION_NOT_FOUND');
    expect(other.text).not.toContain('Not-yours');
    expect((await asPatient(token, 'GET', '/v1/me/notifications/0190a000-0000-7000-8000-000000000000')).body.code).toBe(
      'SP_NOTIFICATION_NOT_FOUND',
    );
    // The admin API key is a system, not a patient: it has no inbox.
    expect((await h.request('GET', '/v1/me/notifications')).status).toBe(403);
  });

  it('marks a notification read when the patient opens it, on the record as the patient account', async () => {
    const id = (
      await h.request('POST', '/v1/notifications', {
        type: 'test_result_ready',
        patientId: 'p1',
        data: { testName: 'Thyroid' },
      })
    ).body.id;
    const token = await signIn('p1', email(1));
    const one = await asPatient(token, 'GET', `/v1/me/notifications/${id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id, status: 'read' });
    expect(one.body.body + one.body.title).toContain('Thyroid');
    expect(
      (await asPatient(token, 'GET', '/v1/me/notifications')).body.items.find((i: any) => i.id === id).status,
    ).toBe('read');
    const actor = `patient-account:${accounts.p1}`;
    const entries = query<{ action: string; actor: string; entry: string }>(
      h.dataDir,
      'select action, actor, entry from audit_entries where actor = ?',
      actor,
    );
    expect(entries.filter((e) => e.action === 'notification.read' && e.entry.includes(id))).toHaveLength(1);
    expect(entries.some((e) => e.action === 'notification.accessed' && e.entry.includes(id))).toBe(true);
    expect(entries.some((e) => e.action === 'patient_auth.signed_in')).toBe(true);
  });

  it('answers the same 202 for a contact without an account and sends nothing', async () => {
    const codes = async () => (await outbox()).filter((i) => i.deliveryId.startsWith('potp-')).length;
    const before = await codes();
    const known = await anon('POST', '/v1/patient-auth/start', { contact: email(4) });
    const unknown = await anon('POST', '/v1/patient-auth/start', {
      contact: { system: 'email', value: 'nobody@example.com' },
    });
    const onRecordNoAccount = await anon('POST', '/v1/patient-auth/start', { contact: email(7) });
    const otherTenant = await anon('POST', '/v1/patient-auth/start', { tenant: 'no-such-tenant', contact: email(4) });
    for (const r of [unknown, onRecordNoAccount, otherTenant]) {
      expect(r.status).toBe(202);
      expect(r.body).toEqual(known.body);
    }
    await eventually(async () => (await codeMessages(accounts.p4!)).length === 1, 'the one code for the real account');
    expect(await codes()).toBe(before + 1);
    // Verifying for the unknown contact is the same refusal as a wrong code.
    const v = await anon('POST', '/v1/patient-auth/verify', {
      contact: { system: 'email', value: 'nobody@example.com' },
      code: '123456',
    });
    expect(v.status).toBe(401);
    expect(v.body.code).toBe('SP_AUTH_CODE_INVALID');
  });

  it('burns a code after five wrong answers: the right one is then refused too', async () => {
    const code = await requestCode('p4', email(4));
    for (let i = 0; i < 5; i++) {
      const r = await anon('POST', '/v1/patient-auth/verify', {
        contact: email(4),
        code: otherCode(code),
        transport: 'bearer',
      });
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('SP_AUTH_CODE_INVALID');
    }
    const right = await anon('POST', '/v1/patient-auth/verify', { contact: email(4), code, transport: 'bearer' });
    expect(right.status).toBe(401);
    expect(right.body.token).toBeUndefined();
    const failed = query<{ entry: string }>(
      h.dataDir,
      "select entry from audit_entries where action = 'patient_auth.sign_in_failed' and actor = ?",
      `patient-account:${accounts.p4}`,
    );
    expect(failed.length).toBeGreaterThanOrEqual(6);
    expect(failed.some((f) => f.entry.includes('"burned":true'))).toBe(true);
  });

  it('accepts a code once: a used code cannot be used again, and a malformed one is refused as input', async () => {
    const code = await requestCode('p6', email(6));
    expect(
      (await anon('POST', '/v1/patient-auth/verify', { contact: email(6), code, transport: 'bearer' })).status,
    ).toBe(200);
    const again = await anon('POST', '/v1/patient-auth/verify', { contact: email(6), code, transport: 'bearer' });
    expect(again.status).toBe(401);
    expect(again.body.code).toBe('SP_AUTH_CODE_INVALID');
    expect((await anon('POST', '/v1/patient-auth/verify', { contact: email(6), code: '12ab56' })).status).toBe(400);
    expect(
      (await anon('POST', '/v1/patient-auth/start', { contact: { system: 'sms', value: 'not-a-phone' } })).status,
    ).toBe(400);
  });

  it('sends a code message without PHI: no name in the outbox message or in the server log', async () => {
    const code = await requestCode('p6', email(6));
    const msg = (await codeMessages(accounts.p6!)).at(-1);
    expect(msg.recipient).toBe('patient6@example.com');
    expect(msg.body).toContain(code);
    expect(`${msg.subject} ${msg.body}`).not.toContain(MARKER);
    expect(`${msg.subject} ${msg.body}`).not.toContain('Family6');
    const log = readFileSync(h.logFile, 'utf8');
    expect(log).not.toContain(MARKER);
    expect(log).not.toContain('patient6@example.com');
    expect(log).not.toContain(code);
    // At rest: the account's contact is ciphertext and a keyed index; the code only as a keyed hash.
    const rows = JSON.stringify(query(h.dataDir, 'select * from patient_accounts'));
    expect(rows).not.toContain('patient6@example.com');
    expect(JSON.stringify(query(h.dataDir, 'select challenge from auth_challenges'))).not.toContain(code);
  });

  it('sends at most three codes to one contact per 15 minutes; later starts still answer 202', async () => {
    for (let i = 0; i < 3; i++) await requestCode('p5', sms(5));
    const r = await anon('POST', '/v1/patient-auth/start', { contact: sms(5) });
    expect(r.status).toBe(202);
    // A later code would be written before the throttle entry's transaction answered; none is.
    expect(
      query(
        h.dataDir,
        "select 1 from audit_entries where action = 'patient_auth.code_throttled' and actor = ?",
        `patient-account:${accounts.p5}`,
      ),
    ).toHaveLength(1);
    expect(await codeMessages(accounts.p5!)).toHaveLength(3);
  });

  it('opens accounts only on a contact point on record, one per contact, and changes nothing when refused', async () => {
    const count = () => query(h.dataDir, 'select count(*) as n from patient_accounts')[0].n;
    const before = count();
    expect(
      (
        await h.request('POST', '/v1/patients/p7/account', {
          contact: { system: 'email', value: 'elsewhere@example.com' },
        })
      ).body.code,
    ).toBe('SP_PATIENT_ACCOUNT_CONTACT_UNKNOWN');
    expect((await h.request('POST', '/v1/patients/p7/account', { contact: email(1) })).body.code).toBe(
      'SP_PATIENT_ACCOUNT_CONTACT_UNKNOWN',
    );
    expect((await h.request('POST', '/v1/patients/p1/account', { contact: sms(1) })).body.code).toBe(
      'SP_PATIENT_ACCOUNT_EXISTS',
    );
    expect((await h.request('POST', '/v1/patients/nobody/account', { contact: email(1) })).body.code).toBe(
      'SP_PATIENT_NOT_FOUND',
    );
    expect(
      (await h.request('POST', '/v1/patients/p7/account', { contact: { system: 'webhook', value: 'https://x.test' } }))
        .status,
    ).toBe(400);
    expect((await h.request('DELETE', '/v1/patients/p7/account')).body.code).toBe('SP_PATIENT_ACCOUNT_NOT_FOUND');
    expect(count()).toBe(before);
    expect((await anon('POST', '/v1/patients/p7/account', { contact: email(7) })).status).toBe(401);
  });

  it('disables an account: its live session dies at once and it cannot sign in again', async () => {
    const token = await signIn('p3', email(3));
    expect((await asPatient(token, 'GET', '/v1/me/notifications')).status).toBe(200);
    expect((await h.request('DELETE', '/v1/patients/p3/account')).status).toBe(204);
    const dead = await asPatient(token, 'GET', '/v1/me/notifications');
    expect(dead.status).toBe(401);
    expect(dead.body.code).toBe('SP_AUTH_UNAUTHENTICATED');
    const sent = (await codeMessages(accounts.p3!)).length;
    expect((await anon('POST', '/v1/patient-auth/start', { contact: email(3) })).status).toBe(202);
    const v = await anon('POST', '/v1/patient-auth/verify', { contact: email(3), code: '000000', transport: 'bearer' });
    expect(v.body.code).toBe('SP_AUTH_CODE_INVALID');
    expect(await codeMessages(accounts.p3!)).toHaveLength(sent);
    expect(
      query(h.dataDir, 'select revoked_reason from sessions where subject_id = ? and revoked_at is null', accounts.p3),
    ).toHaveLength(0);
    // Opened again on the same contact: a new account, signed in afresh.
    const reopened = await h.request('POST', '/v1/patients/p3/account', { contact: email(3) });
    expect(reopened.status).toBe(201);
    expect(reopened.body.id).not.toBe(accounts.p3);
  });

  it('erasing the patient deletes their account and its code copies and ends their session at once', async () => {
    accounts.p7 = (await h.request('POST', '/v1/patients/p7/account', { contact: email(7) })).body.id;
    const token = await signIn('p7', email(7));
    expect((await asPatient(token, 'GET', '/v1/me/notifications')).status).toBe(200);
    expect((await codeMessages(accounts.p7!)).length).toBeGreaterThan(0);
    const r = await h.request('DELETE', '/v1/patients/p7?erase=true');
    expect(r.status).toBe(202);
    expect(r.body.counts.patientAccounts).toBe(1);
    expect((await asPatient(token, 'GET', '/v1/me/notifications')).status).toBe(401);
    expect(await codeMessages(accounts.p7!)).toEqual([]);
    expect(query(h.dataDir, 'select count(*) as n from patient_accounts where id = ?', accounts.p7)[0].n).toBe(0);
    expect(query(h.dataDir, 'select count(*) as n from auth_challenges where subject = ?', accounts.p7)[0].n).toBe(0);
    // Signing in again finds no account: the same 202, and no code is sent.
    expect((await anon('POST', '/v1/patient-auth/start', { contact: email(7) })).status).toBe(202);
    expect(await codeMessages(accounts.p7!)).toEqual([]);
  });
});
