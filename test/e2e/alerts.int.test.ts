import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  httpsJson,
  page,
  samplePatient,
  startSealpost,
  type Harness,
} from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { query } from '../helpers/db-snapshot.js';
import { PHI_MARKER } from '../../src/core/templates/template-test-fixtures.js';
import { createApiKey } from '../../src/auth/api-keys.js';

/** Clinical alerts end to end over the API, with the real directory, notifier and timer worker. */
describe('clinical alerts over the API', () => {
  let h: Harness;
  let admin: TestPerson, nurse1: TestPerson, nurse2: TestPerson, physician: TestPerson;
  const as = (p: TestPerson | null, m: string, path: string, b?: unknown) => h.request(m, path, b, p?.headers);
  const count = (table: string) => query<{ n: number }>(h.dataDir, `select count(*) as n from ${table}`)[0]!.n;
  const audits = (action: string) =>
    query<{ n: number }>(h.dataDir, 'select count(*) as n from audit_entries where action = ?', action)[0]!.n;
  let policyId: string;

  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_QUIET_HOURS: 'off' });
    [admin, nurse1, nurse2, physician] = await Promise.all([
      staffWithSession(h, ['admin']),
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['physician']),
    ]);
    for (const [p, phone] of [
      [nurse1, '+14155550111'],
      [nurse2, '+14155550112'],
    ] as const) {
      const r = await as(admin, 'PUT', `/v1/users/${p.userId}/alert-contacts`, {
        contacts: [{ kind: 'sms', value: phone }],
        settings: { language: 'en', timeZone: 'UTC', quietHours: null, doNotDisturbUntil: null },
      });
      expect(r.status).toBe(200);
    }
    expect((await h.request('PUT', '/v1/patients/al-p1', samplePatient())).status).toBe(201);
    const p = await as(admin, 'POST', '/v1/escalation-policies', {
      name: 'ward',
      steps: [
        { targets: ['target'], channels: ['sms'], waitSeconds: 1 },
        { targets: [`user:${nurse2.userId}`], channels: ['sms'], waitSeconds: 3600 },
      ],
    });
    expect(p.status).toBe(201);
    policyId = p.body.id;
  }, 120_000);
  afterAll(() => h?.close());

  it('escalates to step 2 when unacknowledged, and stops on acknowledge', async () => {
    const r = await h.request('POST', '/v1/alerts', {
      priority: 'medium',
      target: `user:${nurse1.userId}`,
      summary: 'Bed 12 SpO2 below 88',
      details: `SpO2 84 for ${PHI_MARKER}`,
      policyId,
    });
    expect(r.status).toBe(201);
    const id = r.body.alertId;
    const escalated = await eventually(async () => {
      const v = await as(admin, 'GET', `/v1/alerts/${id}`);
      return v.body.state === 'escalated' ? v.body : null;
    }, 'the alert escalates to step 2');
    const steps = escalated.timeline.filter((e: { kind: string }) => e.kind === 'notified' || e.kind === 'escalated');
    expect(steps.map((e: { data: { recipients: string[] } }) => e.data.recipients)).toEqual([
      [nurse1.userId],
      [nurse2.userId],
    ]);
    // Only recipients (and people with the patient relationship) see details.
    expect(escalated.details).toBeUndefined();
    const mine = await as(nurse2, 'GET', `/v1/alerts/${id}`);
    expect(mine.body.details).toContain(PHI_MARKER);
    expect(audits('alert.details_read')).toBeGreaterThanOrEqual(1);

    const ack = await as(nurse2, 'POST', `/v1/alerts/${id}/acknowledge`, {});
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({ state: 'acknowledged', acknowledgedBy: nurse2.userId });
    expect(query(h.dataDir, 'select * from alert_timers where alert_id = ? and fired_at is null', id)).toHaveLength(0);
    // Acknowledging again changes nothing; the audit has one acknowledgement.
    expect((await as(nurse1, 'POST', `/v1/alerts/${id}/acknowledge`, {})).body.acknowledgedBy).toBe(nurse2.userId);
    expect(audits('alert.acknowledged')).toBe(1);
    expect((await as(nurse1, 'POST', `/v1/alerts/${id}/resolve`, {})).body.state).toBe('resolved');
    expect((await as(nurse1, 'POST', `/v1/alerts/${id}/decline`, {})).body.code).toBe('SP_ALERT_CLOSED');
    // The PHI marker in details is sealed: not in the audit log, not in the server's log.
    const entries = query<{ entry: string }>(h.dataDir, "select entry from audit_entries where action like 'alert.%'");
    expect(entries.length).toBeGreaterThan(4);
    for (const e of entries) expect(e.entry).not.toContain(PHI_MARKER);
    expect(readFileSync(h.logFile, 'utf8')).not.toContain(PHI_MARKER);
  });

  it('decline passes the alert on at once; dedupKey folds repeats into the open alert', async () => {
    const body = {
      priority: 'high',
      target: `user:${nurse1.userId}`,
      summary: 'Pump occlusion',
      policyId,
      dedupKey: 'pump-7',
    };
    const first = await h.request('POST', '/v1/alerts', body);
    expect(first.status).toBe(201);
    const again = await h.request('POST', '/v1/alerts', body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ alertId: first.body.alertId, created: false, count: 2 });
    const d = await as(nurse1, 'POST', `/v1/alerts/${first.body.alertId}/decline`, {});
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({ state: 'escalated', step: 1 });
    const list = await as(admin, 'GET', '/v1/alerts?open=true&priority=high');
    expect(list.body.items.map((a: { id: string }) => a.id)).toContain(first.body.alertId);
    // Idempotency-Key: the same body answers the first answer, a different one is refused.
    const k = { 'idempotency-key': 'alert-k1' };
    const one = await h.request('POST', '/v1/alerts', { ...body, dedupKey: 'k1' }, k);
    expect((await h.request('POST', '/v1/alerts', { ...body, dedupKey: 'k1' }, k)).body).toEqual(one.body);
    expect((await h.request('POST', '/v1/alerts', { ...body, dedupKey: 'k2' }, k)).status).toBe(422);
  });

  it('the signed-in page shows summary and details and acknowledges by a same-origin form post', async () => {
    const r = await h.request('POST', '/v1/alerts', {
      priority: 'high',
      target: `user:${nurse1.userId}`,
      summary: 'Bed 3 <b>apnoea</b>',
      details: `Apnoea 25 s, ${PHI_MARKER}`,
      policyId,
    });
    const id = r.body.alertId as string;
    const cookie = `__Host-sealpost_session=${nurse1.token}`;
    const reads = audits('alert.details_read');
    const shown = await page(h, `/alerts/${id}`, cookie);
    expect(shown.status).toBe(200);
    expect(String(shown.headers['content-security-policy'])).toContain("default-src 'none'");
    expect(shown.text).toContain('Bed 3 &lt;b&gt;apnoea&lt;/b&gt;');
    expect(shown.text).toContain(PHI_MARKER);
    expect(shown.text).not.toContain('<script');
    expect(audits('alert.details_read')).toBe(reads + 1);
    // Someone who was not sent the alert sees the summary only.
    const other = await page(h, `/alerts/${id}`, `__Host-sealpost_session=${nurse2.token}`);
    expect(other.text).not.toContain(PHI_MARKER);
    // Without a session: no page, the browser is sent to sign in and back.
    expect((await page(h, `/alerts/${id}`)).status).toBe(303);
    // A cross-site form post is refused (the cookie alone is not enough) and changes nothing.
    const post = (headers: Record<string, string>) =>
      httpsJson(h.url, h.cert, 'POST', `/alerts/${id}/acknowledge`, '', {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: '',
        cookie,
        ...headers,
      });
    expect((await post({ origin: 'https://evil.example' })).status).toBe(403);
    expect((await as(admin, 'GET', `/v1/alerts/${id}`)).body.state).toBe('notified');
    const ok = await post({ 'sec-fetch-site': 'same-origin' });
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe(`/alerts/${id}?done=acknowledged`);
    const after = await as(admin, 'GET', `/v1/alerts/${id}`);
    expect(after.body).toMatchObject({ state: 'acknowledged', acknowledgedBy: nurse1.userId });
    expect(after.body.timeline.at(-1).data).toMatchObject({ userId: nurse1.userId, via: 'page' });
  });

  it('forward notifies another target now; a paging gateway answers only for a recipient it names', async () => {
    const r = await h.request('POST', '/v1/alerts', {
      priority: 'medium',
      target: `user:${nurse1.userId}`,
      summary: 'Telemetry lead off',
      policyId,
    });
    const id = r.body.alertId as string;
    const fw = await as(nurse1, 'POST', `/v1/alerts/${id}/forward`, { target: `user:${nurse2.userId}` });
    expect(fw.status).toBe(200);
    const v = await as(admin, 'GET', `/v1/alerts/${id}`);
    const forwarded = v.body.timeline.find((e: { kind: string }) => e.kind === 'forwarded');
    expect(forwarded.data).toMatchObject({ userId: nurse1.userId, recipients: [nurse2.userId], reached: 1 });
    expect((await as(nurse1, 'POST', `/v1/alerts/${id}/forward`, { target: 'user:u-nobody' })).body.code).toBe(
      'SP_ALERT_TARGET_NOT_FOUND',
    );
    const key = await createApiKey(h.app.store, 'default', 'pager gateway', ['paging'], new Date());
    const pager = { authorization: `Bearer ${key}` };
    // No userId: refused; a person the alert never reached: refused; nothing changed.
    expect((await h.request('POST', `/v1/alerts/${id}/acknowledge`, {}, pager)).status).toBe(400);
    const stranger = await h.request(
      'POST',
      `/v1/alerts/${id}/acknowledge`,
      { userId: physician.userId, via: 'paging' },
      pager,
    );
    expect(stranger.body.code).toBe('SP_ALERT_NOT_RECIPIENT');
    const ok = await h.request('POST', `/v1/alerts/${id}/acknowledge`, { userId: nurse2.userId, via: 'paging' }, pager);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ state: 'acknowledged', acknowledgedBy: nurse2.userId });
    // The gateway may not raise alerts (scope paging: read and respond only).
    expect(
      (await h.request('POST', '/v1/alerts', { priority: 'low', target: `user:${nurse1.userId}`, summary: 'x' }, pager))
        .status,
    ).toBe(403);
  });

  it('refuses a summary with PHI without echoing it, and writes nothing', async () => {
    const before = [count('alerts'), count('alert_timers'), count('audit_entries')];
    const cases = [
      `Call ${PHI_MARKER} at +1 415 555 0199`,
      'Lopez in bed 4 is desaturating',
      'Born 1980-04-02, chest pain',
      'See https://ehr.example.org/x',
      'MRN 123456789 critical potassium',
    ];
    for (const summary of cases) {
      const r = await h.request('POST', '/v1/alerts', {
        priority: 'low',
        target: `user:${nurse1.userId}`,
        summary,
        patientId: 'al-p1',
      });
      expect(r.status, summary).toBe(400);
      expect(r.body.code).toBe('SP_ALERT_SUMMARY_PHI');
      expect(r.text).not.toContain(summary);
      expect(r.text).not.toContain('Lopez');
    }
    const bad = await h.request('POST', '/v1/alerts', {
      priority: 'low',
      target: 'user:u-nobody',
      summary: 'Lab ready',
    });
    expect(bad.body.code).toBe('SP_ALERT_TARGET_NOT_FOUND');
    expect([count('alerts'), count('alert_timers'), count('audit_entries')]).toEqual(before);
    // A physician outside the patient's care team may not raise an alert about the patient.
    const r = await as(physician, 'POST', '/v1/alerts', {
      priority: 'low',
      target: `user:${nurse1.userId}`,
      summary: 'Lab ready',
      patientId: 'al-p1',
    });
    expect(r.body.code).toBe('SP_AUTH_NO_RELATIONSHIP');
  });

  it('validates escalation policies whole: nothing is written on a bad one', async () => {
    const n = count('escalation_policies');
    const step = { targets: ['target'], channels: ['sms'], waitSeconds: 60 };
    const cases: [unknown, number, string][] = [
      [{ name: 'x', steps: [] }, 400, 'SP_REQ_VALIDATION'],
      [{ name: 'x', steps: [{ ...step, channels: ['fax'] }] }, 400, 'SP_ALERT_POLICY_INVALID'],
      [{ name: 'x', steps: [{ ...step, waitSeconds: -5 }] }, 400, 'SP_ALERT_POLICY_INVALID'],
      [{ name: 'x', steps: [{ ...step, targets: ['not a target'] }] }, 400, 'SP_ALERT_POLICY_INVALID'],
      [{ name: 'x', steps: [{ ...step, targets: ['user:u-nobody'] }] }, 404, 'SP_ALERT_TARGET_NOT_FOUND'],
      [{ name: 'x', steps: [step], fallbackTargets: ['group:nope'] }, 404, 'SP_ALERT_TARGET_NOT_FOUND'],
      [{ name: 'x', steps: [{ ...step, repeat: { times: 2, everySeconds: 0 } }] }, 400, 'SP_ALERT_POLICY_INVALID'],
    ];
    for (const [body, status, code] of cases) {
      const r = await as(admin, 'POST', '/v1/escalation-policies', body);
      expect([r.status, r.body.code], JSON.stringify(body)).toEqual([status, code]);
    }
    expect(count('escalation_policies')).toBe(n);
    // One default per tenant: a new default replaces the old one.
    const a = await as(admin, 'POST', '/v1/escalation-policies', { name: 'a', isDefault: true, steps: [step] });
    const b = await as(admin, 'POST', '/v1/escalation-policies', { name: 'b', isDefault: true, steps: [step] });
    expect((await as(admin, 'GET', `/v1/escalation-policies/${a.body.id}`)).body.isDefault).toBe(false);
    expect((await as(admin, 'GET', `/v1/escalation-policies/${b.body.id}`)).body.isDefault).toBe(true);
    expect((await as(nurse1, 'POST', '/v1/escalation-policies', { name: 'c', steps: [step] })).status).toBe(403);
  });
});
