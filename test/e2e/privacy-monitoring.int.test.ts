import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { AdminAlertMailer } from '../../src/auth/admin-alert-mailer.js';
import type { Channel, OutboundMessage } from '../../src/channels/channel.js';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { query } from '../helpers/db-snapshot.js';

const tag = randomBytes(4).toString('hex');
/** Planted in every patient's name: it must never reach an alert, an e-mail, a log line or the audit log. */
const PHI_MARK = `Phimark${tag}`;
const ids = Array.from({ length: 36 }, (_, i) => `pm-${tag}-${i}`);
/** Patients a privacy officer reads later the same day, after their first alert was closed. */
const later = Array.from({ length: 36 }, (_, i) => `pm-${tag}-later-${i}`);
const VIP = ids[0]!;

interface Alert {
  id: string;
  subject: string;
  detectors: string[];
  score: number;
  status: string;
  outcome: string | null;
  evidence: number[];
  reasons: string[];
  assignee: string | null;
}

describe('privacy monitoring through the API: a snooping incident detected, investigated and closed', () => {
  let h: Harness;
  let officer: TestPerson, snooper: TestPerson, second: TestPerson, receptionist: TestPerson, nurse: TestPerson;
  /** A privacy officer who also works the front desk (and snoops), and a second, honest officer. */
  let rogue: TestPerson, colleague: TestPerson;
  let alert: Alert, rogueAlert: Alert;
  const as = (p: TestPerson) => (method: string, path: string, body?: unknown) =>
    h.request(method, path, body, p.headers);
  const auditText = () => query<{ entry: string }>(h.dataDir, 'select entry from audit_entries').map((r) => r.entry);
  const alertRows = () => query<{ n: number }>(h.dataDir, 'select count(*) as n from privacy_alerts')[0]!.n;
  const snoop = async (p: TestPerson, which = ids) => {
    for (const id of which) expect((await as(p)('GET', `/v1/patients/${id}`)).status).toBe(200);
  };
  type Mail = { deliveryId: string; recipient: string; body: string };
  const outbox = async () => (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items as Mail[];
  const mailFor = (deliveryId: string) =>
    eventually(async () => (await outbox()).find((i) => i.deliveryId === deliveryId), deliveryId);
  /** Whom the alert mailer writes to, over the real store, through a channel that keeps the messages. */
  const recipients = async (send: (m: AdminAlertMailer) => Promise<number>) => {
    const sent: OutboundMessage[] = [];
    const channel: Channel = {
      kind: 'email',
      provider: 'capture',
      send: async (m) => {
        sent.push(m);
        return { status: 'delivered' };
      },
    };
    const opts = { organisationName: 'Clinic', publicUrl: 'https://sealpost.test', timeoutMs: 5000, newId: () => 'x' };
    await send(new AdminAlertMailer(h.app.store, channel, opts, pino({ level: 'silent' })));
    return { to: sent.map((m) => m.to), texts: sent.map((m) => m.text) };
  };
  const emailOf = (p: TestPerson) =>
    query<{ email: string }>(h.dataDir, 'select email from users where id = ?', p.userId)[0]!.email;

  beforeAll(async () => {
    // The monitor's own timer never fires during the test: each step runs it explicitly.
    h = await startSealpost({ SEALPOST_PRIVACY_MONITOR: 'on', SEALPOST_PRIVACY_MONITOR_INTERVAL_MS: '3600000' });
    [officer, snooper, second, receptionist, nurse, rogue, colleague] = await Promise.all([
      staffWithSession(h, ['privacy_officer'], 'default', `officer-${tag}@clinic.test`),
      staffWithSession(h, ['receptionist']),
      staffWithSession(h, ['receptionist']),
      staffWithSession(h, ['receptionist']),
      staffWithSession(h, ['nurse']),
      staffWithSession(h, ['privacy_officer', 'receptionist']),
      staffWithSession(h, ['privacy_officer']),
    ]);
    for (const id of [...ids, ...later])
      expect(
        (await h.request('PUT', `/v1/patients/${id}`, samplePatient({ name: { given: ['Ana'], family: PHI_MARK } })))
          .status,
      ).toBe(201);
  }, 180_000);
  afterAll(() => h?.close());

  it('a privacy officer flags a VIP; the flag is kept by pseudonymous reference and audited', async () => {
    const r = await as(officer)('PUT', `/v1/patients/${VIP}/sensitivity`, { kind: 'vip' });
    expect(r.status).toBe(201);
    expect(r.body.kind).toBe('vip');
    expect((await as(officer)('PUT', `/v1/patients/${VIP}/sensitivity`, { kind: 'vip' })).status).toBe(200);
    const list = await as(officer)('GET', '/v1/privacy/sensitive-patients');
    expect(list.body.items).toEqual([expect.objectContaining({ patientRef: r.body.patientRef, kind: 'vip' })]);
    expect(list.text).not.toContain(VIP);
    expect(auditText().filter((e) => e.includes('"patient.sensitivity_set"'))).toHaveLength(1);
    // Unknown patients and kinds are refused and change nothing.
    expect((await as(officer)('PUT', `/v1/patients/nobody-${tag}/sensitivity`, { kind: 'vip' })).body.code).toBe(
      'SP_PATIENT_NOT_FOUND',
    );
    expect((await as(officer)('PUT', `/v1/patients/${VIP}/sensitivity`, { kind: 'celebrity' })).body.code).toBe(
      'SP_REQ_VALIDATION',
    );
    expect((await as(officer)('DELETE', `/v1/patients/nobody-${tag}/sensitivity`)).body.code).toBe(
      'SP_PATIENT_NOT_FOUND',
    );
    expect(query(h.dataDir, 'select count(*) as n from privacy_sensitive_patients')[0].n).toBe(1);
  });

  it('a receptionist reading many patients, the VIP among them, raises one ranked alert naming them, with evidence', async () => {
    await snoop(snooper);
    await h.app.privacyMonitor.runOnce();
    const r = await as(officer)('GET', '/v1/privacy/alerts');
    expect(r.status).toBe(200);
    const mine = (r.body.items as Alert[]).filter((a) => a.subject === `user:${snooper.userId}`);
    expect(mine).toHaveLength(1);
    alert = mine[0]!;
    expect(alert.status).toBe('open');
    // sensitive_patient waits out a grace period for a booking that would explain the VIP look-up
    // (detector-params.ts); the many patients in one window raise the alert at once.
    expect(alert.detectors).toContain('distinct_patients');
    expect(alert.score).toBeGreaterThanOrEqual(40);
    expect(alert.evidence.length).toBeGreaterThan(0);
    // Running again over the same log changes nothing: one alert per incident.
    await h.app.privacyMonitor.runOnce();
    expect(alertRows()).toBe((await as(officer)('GET', '/v1/privacy/alerts')).body.items.length);
    const detail = await as(officer)('GET', `/v1/privacy/alerts/${alert.id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.entries.length).toBe(alert.evidence.length);
    // Whom to talk to: the staff account the alert is about (the evidence names only its id).
    expect(detail.body.subjectPerson).toEqual({
      displayName: `Staff ${snooper.userId}`,
      email: `${snooper.userId}@staff.test`,
      roles: ['receptionist'],
      status: 'active',
    });
    for (const e of detail.body.entries as { entry: string }[])
      expect(JSON.parse(e.entry).actor).toBe(`user:${snooper.userId}`);
    for (const text of [r.text, detail.text]) {
      expect(text).not.toContain(PHI_MARK);
      for (const id of ids) expect(text).not.toContain(id);
    }
    // Reading the detail above was itself recorded (privacy_alert.read): the monitor reads past it.
    await h.app.privacyMonitor.runOnce();
    const status = await as(officer)('GET', '/v1/privacy/status');
    expect(status.body).toMatchObject({ enabled: true, lag: 0 });
    expect(status.body.cursor).toBeGreaterThan(ids.length);
  });

  it('reading one alert (its evidence entries) is on the record; listing alerts is not', async () => {
    const reads = () =>
      auditText()
        .map((e) => JSON.parse(e))
        .filter((e) => e.action === 'privacy_alert.read');
    const before = reads().length;
    expect((await as(officer)('GET', '/v1/privacy/alerts')).status).toBe(200);
    expect(reads()).toHaveLength(before);
    expect((await as(officer)('GET', `/v1/privacy/alerts/${alert.id}`)).status).toBe(200);
    const after = reads();
    expect(after).toHaveLength(before + 1);
    expect(after[after.length - 1]).toMatchObject({
      actor: `user:${officer.userId}`,
      outcome: 'success',
      target: { type: 'privacy_alert', id: alert.id },
      patient: null,
    });
    // An unknown alert is 404 and not recorded as a read.
    expect((await as(officer)('GET', `/v1/privacy/alerts/unknown-${tag}`)).status).toBe(404);
    expect(reads()).toHaveLength(before + 1);
  });

  it('privacy officers and administrators are told by e-mail: the alert id and score, no person, patient or reason', async () => {
    const mail = await eventually(async () => {
      const items = (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items as {
        deliveryId: string;
        recipient: string;
        body: string;
      }[];
      return items.find((i) => i.deliveryId === `privacy-${alert.id}-${officer.userId}`);
    }, 'the privacy alert e-mail to the officer');
    expect(mail.recipient).toBe(`officer-${tag}@clinic.test`);
    expect(mail.body).toContain(alert.id);
    for (const secret of [PHI_MARK, VIP, snooper.userId, 'distinct', 'Lopez']) expect(mail.body).not.toContain(secret);
  });

  it('the officer investigates and closes it with an outcome and a note; wrong moves answer clear errors and change nothing', async () => {
    const inv = await as(officer)('POST', `/v1/privacy/alerts/${alert.id}/investigate`);
    expect(inv.status).toBe(200);
    expect(inv.body).toMatchObject({ status: 'investigating', assignee: `user:${officer.userId}` });
    expect((await as(officer)('POST', `/v1/privacy/alerts/${alert.id}/investigate`)).body.code).toBe(
      'SP_PRIVACY_TRANSITION_INVALID',
    );
    const note = await as(officer)('POST', `/v1/privacy/alerts/${alert.id}/notes`, {
      text: 'Spoke with the manager; no booking reason.',
    });
    expect(note.status).toBe(201);
    expect(note.body.notes).toEqual([expect.objectContaining({ author: `user:${officer.userId}` })]);
    const before = query(h.dataDir, 'select status, outcome, updated_at from privacy_alerts where id = ?', alert.id)[0];
    for (const [body, code] of [
      [{ outcome: 'fired', note: 'x' }, 'SP_REQ_VALIDATION'],
      [{ outcome: 'sanction' }, 'SP_REQ_VALIDATION'],
      [{ outcome: 'sanction', note: '   ' }, 'SP_REQ_VALIDATION'],
    ] as const) {
      const r = await as(officer)('POST', `/v1/privacy/alerts/${alert.id}/close`, body);
      expect(r.status).toBe(400);
      expect(r.body.code).toBe(code);
    }
    expect(
      (await as(officer)('POST', `/v1/privacy/alerts/unknown-${tag}/close`, { outcome: 'breach', note: 'x' })).body
        .code,
    ).toBe('SP_PRIVACY_ALERT_NOT_FOUND');
    expect(
      query(h.dataDir, 'select status, outcome, updated_at from privacy_alerts where id = ?', alert.id)[0],
    ).toEqual(before);
    const closed = await as(officer)('POST', `/v1/privacy/alerts/${alert.id}/close`, {
      outcome: 'policy_reminder',
      note: 'Reminded of the minimum-necessary policy.',
    });
    expect(closed.status).toBe(200);
    expect(closed.body).toMatchObject({ status: 'closed', outcome: 'policy_reminder' });
    const again = await as(officer)('POST', `/v1/privacy/alerts/${alert.id}/close`, { outcome: 'breach', note: 'x' });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('SP_PRIVACY_TRANSITION_INVALID');
    expect((await as(officer)('POST', `/v1/privacy/alerts/${alert.id}/notes`, { text: 'late' })).status).toBe(409);
    const detail = await as(officer)('GET', `/v1/privacy/alerts/${alert.id}`);
    expect(detail.body).toMatchObject({ status: 'closed', outcome: 'policy_reminder' });
    expect(detail.body.notes).toHaveLength(2);
    // Notes are sealed at rest; the audit says that a note was written, not what it says.
    const notes = query<{ text_ct: Buffer }>(h.dataDir, 'select text_ct from privacy_alert_notes');
    for (const n of notes) expect(Buffer.from(n.text_ct).includes('minimum-necessary')).toBe(false);
    expect(auditText().some((e) => e.includes('minimum-necessary'))).toBe(false);
    const changes = auditText()
      .map((e) => JSON.parse(e))
      .filter((e) => e.action === 'privacy_alert.status_changed' && e.target?.id === alert.id);
    expect(changes.map((e) => e.details.to)).toEqual(['investigating', 'closed']);
  });

  it('a suppression needs a detector or a subject and a future expiry; one in force stops a repeat from raising an alert', async () => {
    const count = () => query(h.dataDir, 'select count(*) as n from privacy_suppressions')[0].n as number;
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    const bad: [unknown, string][] = [
      [{ reason: 'nothing named', expiresAt: tomorrow }, 'SP_PRIVACY_SUPPRESSION_INVALID'],
      [{ detector: null, subject: null, reason: 'x', expiresAt: tomorrow }, 'SP_PRIVACY_SUPPRESSION_INVALID'],
      [{ detector: 'mind_reading', reason: 'x', expiresAt: tomorrow }, 'SP_PRIVACY_SUPPRESSION_INVALID'],
      [{ detector: 'off_hours', reason: 'x', expiresAt: '2020-01-01T00:00:00Z' }, 'SP_PRIVACY_SUPPRESSION_INVALID'],
      [{ detector: 'off_hours', reason: 'x', expiresAt: '2099-01-01T00:00:00Z' }, 'SP_PRIVACY_SUPPRESSION_INVALID'],
      [{ detector: 'off_hours', reason: 'x', expiresAt: 'tomorrow' }, 'SP_REQ_VALIDATION'],
      [{ subject: 'Ana Lopez', reason: 'x', expiresAt: tomorrow }, 'SP_REQ_VALIDATION'],
    ];
    for (const [body, code] of bad) {
      const r = await as(officer)('POST', '/v1/privacy/suppressions', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.code).toBe(code);
    }
    expect(count()).toBe(0);
    const s = await as(officer)('POST', '/v1/privacy/suppressions', {
      subject: `user:${second.userId}`,
      reason: 'Registration clerk during the records migration',
      expiresAt: tomorrow,
    });
    expect(s.status).toBe(201);
    expect(s.body).toMatchObject({ subject: `user:${second.userId}`, detector: null, expired: false });
    expect((await as(officer)('GET', '/v1/privacy/suppressions')).body.items).toHaveLength(1);

    await snoop(second);
    await h.app.privacyMonitor.runOnce();
    const items = (await as(officer)('GET', '/v1/privacy/alerts')).body.items as Alert[];
    expect(items.filter((a) => a.subject === `user:${second.userId}`)).toEqual([]);

    expect((await as(officer)('DELETE', `/v1/privacy/suppressions/${s.body.id}`)).status).toBe(204);
    const gone = await as(officer)('DELETE', `/v1/privacy/suppressions/${s.body.id}`);
    expect(gone.status).toBe(404);
    expect(gone.body.code).toBe('SP_PRIVACY_SUPPRESSION_NOT_FOUND');
    expect((await as(officer)('GET', '/v1/privacy/suppressions')).body.items).toEqual([]);
  });

  it('receptionists and nurses are refused every privacy route (and each refusal is on the record)', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/v1/privacy/alerts'],
      ['GET', `/v1/privacy/alerts/${alert.id}`],
      ['POST', `/v1/privacy/alerts/${alert.id}/investigate`],
      ['POST', `/v1/privacy/alerts/${alert.id}/close`, { outcome: 'false_positive', note: 'x' }],
      ['GET', '/v1/privacy/suppressions'],
      [
        'POST',
        '/v1/privacy/suppressions',
        { detector: 'off_hours', reason: 'x', expiresAt: new Date(Date.now() + 3_600_000).toISOString() },
      ],
      ['PUT', `/v1/patients/${VIP}/sensitivity`, { kind: 'staff' }],
      ['DELETE', `/v1/patients/${VIP}/sensitivity`],
      ['GET', '/v1/privacy/status'],
    ];
    const denied = () => auditText().filter((e) => e.includes('"access.denied"')).length;
    const before = denied();
    for (const p of [receptionist, nurse])
      for (const [method, path, body] of routes) {
        const r = await as(p)(method, path, body);
        expect(r.status, `${method} ${path}`).toBe(403);
        expect(r.body.code).toBe('SP_AUTH_FORBIDDEN');
      }
    expect(denied()).toBe(before + 2 * routes.length);
    expect((await as(officer)('GET', `/v1/privacy/alerts/${alert.id}`)).body.status).toBe('closed');
  });

  it("a privacy officer's own alert: they cannot investigate, note or close it, nor suppress themselves; each refusal is on the record, and the new-alert e-mail never goes to them", async () => {
    await snoop(rogue);
    await h.app.privacyMonitor.runOnce();
    const list = (await as(officer)('GET', '/v1/privacy/alerts')).body.items as Alert[];
    const mine = list.filter((a) => a.subject === `user:${rogue.userId}`);
    expect(mine).toHaveLength(1);
    rogueAlert = mine[0]!;
    const row = () =>
      query(h.dataDir, 'select status, outcome, assignee, updated_at from privacy_alerts where id = ?', rogueAlert.id);
    const suppressions = () => query(h.dataDir, 'select count(*) as n from privacy_suppressions')[0].n as number;
    const denied = () =>
      auditText()
        .map((e) => JSON.parse(e))
        .filter((e) => e.action === 'access.denied' && e.actor === `user:${rogue.userId}`);
    const [rowBefore, supBefore, deniedBefore] = [row(), suppressions(), denied().length];
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    const attempts: [string, string, unknown?][] = [
      ['POST', `/v1/privacy/alerts/${rogueAlert.id}/investigate`],
      ['POST', `/v1/privacy/alerts/${rogueAlert.id}/notes`, { text: 'Looked fine to me.' }],
      ['POST', `/v1/privacy/alerts/${rogueAlert.id}/close`, { outcome: 'false_positive', note: 'Routine work.' }],
      ['POST', '/v1/privacy/suppressions', { subject: `user:${rogue.userId}`, reason: 'Me', expiresAt: tomorrow }],
      [
        'POST',
        '/v1/privacy/suppressions',
        { detector: 'distinct_patients', subject: `user:${rogue.userId}`, reason: 'Me', expiresAt: tomorrow },
      ],
    ];
    for (const [method, path, body] of attempts) {
      const r = await as(rogue)(method, path, body);
      expect(r.status, path).toBe(403);
      expect(r.body.code).toBe('SP_PRIVACY_SELF_REVIEW');
    }
    expect(row()).toEqual(rowBefore);
    expect(suppressions()).toBe(supBefore);
    const refused = denied().slice(deniedBefore);
    expect(refused.map((e) => e.details.code)).toEqual(attempts.map(() => 'SP_PRIVACY_SELF_REVIEW'));
    // They may still read it (and that read is on the record under their name).
    expect((await as(rogue)('GET', `/v1/privacy/alerts/${rogueAlert.id}`)).status).toBe(200);

    // The other officers are told of the alert; its subject is not.
    await mailFor(`privacy-${rogueAlert.id}-${officer.userId}`);
    await mailFor(`privacy-${rogueAlert.id}-${colleague.userId}`);
    const told = await recipients((m) =>
      m.notifyPrivacyAlert('default', { id: rogueAlert.id, score: rogueAlert.score, subject: `user:${rogue.userId}` }),
    );
    expect(told.to).toEqual(expect.arrayContaining([emailOf(officer), emailOf(colleague)]));
    expect(told.to).not.toContain(emailOf(rogue));
    expect(told.texts[0]).toContain('recorded in the audit log');
  });

  it('a detector suppression covering everyone is allowed, and the other officers and administrators are told by e-mail (ids, no reason)', async () => {
    const r = await as(rogue)('POST', '/v1/privacy/suppressions', {
      detector: 'off_hours',
      reason: `Night shift rota ${PHI_MARK}`,
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(r.status).toBe(201);
    const mail = await mailFor(`privacy-suppression-${r.body.id}-${officer.userId}`);
    expect(mail.body).toContain(`user:${rogue.userId}`);
    expect(mail.body).toContain('off_hours');
    expect(mail.body).toContain('every subject');
    expect(mail.body).not.toContain(PHI_MARK);
    expect(mail.body).not.toContain('Night shift');
    const told = await recipients((m) =>
      m.notifyPrivacyOversight('default', {
        kind: 'suppression_created',
        id: r.body.id,
        by: `user:${rogue.userId}`,
        detector: 'off_hours',
        namesSubject: false,
        expiresAt: r.body.expiresAt,
      }),
    );
    expect(told.to).toEqual(expect.arrayContaining([emailOf(officer), emailOf(colleague)]));
    expect(told.to).not.toContain(emailOf(rogue));
    expect((await as(officer)('DELETE', `/v1/privacy/suppressions/${r.body.id}`)).status).toBe(204);
  });

  it('closing an alert as a false positive is told to the other officers; the same person snooping again that day raises a new open alert, notified', async () => {
    const closed = await as(officer)('POST', `/v1/privacy/alerts/${rogueAlert.id}/close`, {
      outcome: 'false_positive',
      note: 'Front-desk clean-up of duplicate registrations.',
    });
    expect(closed.status).toBe(200);
    const mail = await mailFor(`privacy-closed-${rogueAlert.id}-${colleague.userId}`);
    expect(mail.body).toContain(rogueAlert.id);
    expect(mail.body).toContain(`user:${officer.userId}`);
    expect(mail.body).not.toContain(rogue.userId);
    expect(mail.body).not.toContain('duplicate registrations');
    const told = await recipients((m) =>
      m.notifyPrivacyOversight('default', {
        kind: 'alert_closed_false_positive',
        id: rogueAlert.id,
        by: `user:${officer.userId}`,
        subject: `user:${rogue.userId}`,
      }),
    );
    expect(told.to).toContain(emailOf(colleague));
    expect(told.to).not.toContain(emailOf(officer));
    expect(told.to).not.toContain(emailOf(rogue));

    await snoop(rogue, later);
    await h.app.privacyMonitor.runOnce();
    const mine = ((await as(officer)('GET', '/v1/privacy/alerts')).body.items as Alert[]).filter(
      (a) => a.subject === `user:${rogue.userId}`,
    );
    expect(mine.map((a) => a.status).sort()).toEqual(['closed', 'open']);
    const fresh = mine.find((a) => a.status === 'open')!;
    expect(fresh.id).not.toBe(rogueAlert.id);
    expect(fresh.detectors).toContain('distinct_patients');
    expect(Math.min(...fresh.evidence)).toBeGreaterThan(Math.max(...rogueAlert.evidence));
    await mailFor(`privacy-${fresh.id}-${officer.userId}`);
    expect((await as(officer)('GET', `/v1/privacy/alerts/${rogueAlert.id}`)).body).toMatchObject({
      status: 'closed',
      outcome: 'false_positive',
    });
  });

  it('the planted PHI marker is nowhere in the alerts, the audit log or the server log', async () => {
    const rows = query<Record<string, unknown>>(h.dataDir, 'select * from privacy_alerts');
    expect(JSON.stringify(rows)).not.toContain(PHI_MARK);
    for (const e of auditText()) expect(e).not.toContain(PHI_MARK);
    const log = readFileSync(h.logFile, 'utf8');
    expect(log).not.toContain(PHI_MARK);
    for (const id of [...ids, ...later]) expect(log).not.toContain(id);
  });
});
