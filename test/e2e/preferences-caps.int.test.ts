import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  form,
  httpsJson,
  page,
  samplePatient,
  startSealpost,
  type Harness,
} from '../helpers/sealpost-harness.js';
import { query } from '../helpers/db-snapshot.js';

const PHI = 'Zqxphimarker';

describe('preferences, frequency caps, deduplication and digests over HTTPS (dev outbox)', () => {
  let h: Harness;
  const anon = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    httpsJson(h.url, h.cert, method, path, body, { authorization: '', ...headers });

  async function outbox(): Promise<any[]> {
    const items: any[] = [];
    for (let cursor = ''; ;) {
      const r = await h.request('GET', `/v1/dev/outbox?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
      items.push(...r.body.items);
      if (!r.body.nextCursor) return items;
      cursor = r.body.nextCursor;
    }
  }
  const followUp = (patientId: string, reason: string, over: Record<string, unknown> = {}) =>
    h.request('POST', '/v1/notifications', {
      type: 'follow_up',
      patientId,
      data: { reason: `${reason} ${PHI}`, dueDate: '2030-02-01', clinicianName: 'Dr. Rivera' },
      ...over,
    });
  /**
   * The notification once its (first) delivery has `status` (polling; fails after the harness's
   * wait). `sent`: sent or delivered (the dev outbox is a final hop: it answers delivered).
   */
  const when = (id: string, status: string) =>
    eventually(async () => {
      const r = await h.request('GET', `/v1/notifications/${id}`);
      const got = r.body.deliveries[0].status;
      return (got === status || (status === 'sent' && got === 'delivered')) && r.body;
    }, `notification ${id} ${status}`);
  /** `n` hours from now in New York (the sample patient's zone), as HH:00. */
  const nyHourFromNow = (n: number) => {
    const fmt = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: 'numeric', hourCycle: 'h23' });
    return `${String((Number(fmt.format(new Date())) + n) % 24).padStart(2, '0')}:00`;
  };

  beforeAll(async () => {
    h = await startSealpost({
      SEALPOST_FREQUENCY_CAPS: 'sms:1/3',
      SEALPOST_DEDUP_WINDOW: '24h',
      SEALPOST_DIGEST_WINDOW: '30m',
    });
    for (const n of [1, 2, 3, 4]) {
      const body = samplePatient({
        name: { given: [PHI], family: `Family${n}` },
        telecom: [
          { system: 'sms', value: `+1415555260${n}`, rank: 1 },
          { system: 'email', value: `pref${n}@example.com`, rank: 2 },
        ],
      });
      expect((await h.request('PUT', `/v1/patients/p${n}`, body)).status).toBe(201);
    }
  }, 120_000);
  afterAll(() => h?.close());

  it('lets staff read and replace preferences, refuses bad ones with a clear code and changes nothing', async () => {
    const empty = await h.request('GET', '/v1/patients/p1/preferences');
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({
      patientId: 'p1',
      channels: {},
      language: null,
      quietHours: null,
      noTextAfter: null,
      updatedAt: null,
    });
    const bad: [unknown, string][] = [
      [{ channels: { not_a_type: ['sms'] } }, 'SP_PREFERENCE_UNKNOWN_TYPE'],
      [{ channels: { follow_up: ['fax'] } }, 'SP_PREFERENCE_UNKNOWN_CHANNEL'],
      [{ language: 'de' }, 'SP_PREFERENCE_INVALID_LANGUAGE'],
      [{ quietHours: { start: '22:00', end: '7:00' } }, 'SP_PREFERENCE_INVALID_TIME'],
      [{ noTextAfter: '24:00' }, 'SP_PREFERENCE_INVALID_TIME'],
      [{ colour: 'blue' }, 'SP_REQ_VALIDATION'],
    ];
    for (const [body, code] of bad) {
      const r = await h.request('PUT', '/v1/patients/p1/preferences', body);
      expect([r.status, r.body.code]).toEqual([400, code]);
    }
    expect((await h.request('PUT', '/v1/patients/nobody/preferences', {})).body.code).toBe('SP_PATIENT_NOT_FOUND');
    expect((await h.request('GET', '/v1/patients/p1/preferences')).body.updatedAt).toBeNull();
    expect(query(h.dataDir, 'select * from patient_preferences')).toEqual([]);

    // Quiet hours that have not begun yet: the e-mail below is not held by them.
    const put = await h.request('PUT', '/v1/patients/p1/preferences', {
      channels: { follow_up: ['email', 'sms'] },
      language: 'es',
      quietHours: { start: nyHourFromNow(2), end: nyHourFromNow(3) },
      noTextAfter: '20:00',
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      channels: { follow_up: ['email', 'sms'] },
      language: 'es',
      quietHours: { start: nyHourFromNow(2), end: nyHourFromNow(3) },
      noTextAfter: '20:00',
    });
    expect((await h.request('GET', '/v1/patients/p1/preferences')).body).toEqual(put.body);
    // Audited in the same transaction, without PHI.
    const audit = query(h.dataDir, `select entry from audit_entries where action = 'patient.preferences_updated'`);
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit)).not.toContain(PHI);

    // Applied at creation: no channel named, the follow-up goes by e-mail (the patient's first choice).
    const n = await followUp('p1', 'knee');
    expect(n.body.deliveries.map((d: any) => d.channel)).toEqual(['email']);
    // A nudge in Spanish (the preferred language), and no PHI in it.
    const msg = await eventually(
      async () => (await outbox()).find((i) => i.deliveryId === n.body.deliveries[0].id),
      'e-mail nudge',
    );
    expect(`${msg.subject} ${msg.body}`).toMatch(/mensaje seguro/i);
    expect(JSON.stringify(msg)).not.toContain(PHI);
    // The portal page behind its link speaks Spanish too.
    const path = new URL(/(https:\/\/\S+\/m\/[\w-]+)/.exec(msg.body)![1]).pathname;
    const ok = await form(h, `${path}/verify`, { birthDate: '1980-04-02' });
    const cookie = String(ok.headers['set-cookie']).split(';')[0];
    expect(String((await page(h, `${path}/message`, cookie)).body)).toContain('<html lang="es"');
  });

  it('lets the signed-in patient read and change their own preferences at /v1/me/preferences', async () => {
    const contact = { system: 'email', value: 'pref3@example.com' };
    const account = await h.request('POST', '/v1/patients/p3/account', { contact });
    expect(account.status).toBe(201);
    expect((await anon('POST', '/v1/patient-auth/start', { contact })).status).toBe(202);
    const code = await eventually(async () => {
      const m = (await outbox()).filter((i) => i.deliveryId.startsWith(`potp-${account.body.id}-`));
      return m.length > 0 && /code is (\d{6})/.exec(m[m.length - 1].body)![1];
    }, 'sign-in code');
    const session = await anon('POST', '/v1/patient-auth/verify', { contact, code, transport: 'bearer' });
    const me = (method: string, body?: unknown) =>
      anon(method, '/v1/me/preferences', body, { authorization: `Bearer ${session.body.token}` });

    expect((await me('GET')).body).toMatchObject({ patientId: 'p3', updatedAt: null });
    const bad = await me('PUT', { quietHours: { start: '08:00', end: '08:00' } });
    expect([bad.status, bad.body.code]).toEqual([400, 'SP_PREFERENCE_INVALID_TIME']);
    const ok = await me('PUT', { noTextAfter: '21:00', channels: { appointment_reminder: ['sms'] } });
    expect(ok.status).toBe(200);
    expect((await me('GET')).body).toMatchObject({ noTextAfter: '21:00', channels: { appointment_reminder: ['sms'] } });
    // A patient has no staff route, and no key reads /v1/me.
    const staffRoute = await anon('GET', '/v1/patients/p3/preferences', undefined, {
      authorization: `Bearer ${session.body.token}`,
    });
    expect(staffRoute.status).toBe(403);
    expect((await h.request('GET', '/v1/me/preferences')).status).toBe(403);
    const audit = query(h.dataDir, `select actor from audit_entries where action = 'patient.preferences_updated'`);
    expect(audit.map((a: any) => a.actor)).toContain(`patient-account:${account.body.id}`);
  });

  it('sends one routine SMS a day, suppresses an identical one, defers the next with its reason, lets urgent through', async () => {
    const first = await followUp('p2', 'hip');
    expect((await when(first.body.id, 'sent')).deliveries[0]).toMatchObject({ lastErrorCode: null });

    const same = await followUp('p2', 'hip');
    const dup = await when(same.body.id, 'suppressed');
    expect(dup.deliveries[0]).toMatchObject({ status: 'suppressed', lastErrorCode: 'SP_DELIVERY_DUPLICATE' });

    const other = await followUp('p2', 'shoulder');
    const capped = await eventually(async () => {
      const v = (await h.request('GET', `/v1/notifications/${other.body.id}`)).body;
      return v.deliveries[0].lastErrorCode && v;
    }, 'capped');
    expect(capped.deliveries[0]).toMatchObject({ status: 'scheduled', lastErrorCode: 'SP_DELIVERY_CAPPED' });
    const sentAt = Date.parse(dup.deliveries[0].updatedAt);
    // The slot frees a day after the first send: runAt moved there, the delivery still scheduled.
    expect(Date.parse(capped.deliveries[0].runAt)).toBeGreaterThan(sentAt + 23 * 3_600_000);

    const urgent = await followUp('p2', 'shoulder', { priority: 'urgent' });
    await when(urgent.body.id, 'sent');

    const toP2 = (await outbox()).filter((i) => i.recipient === '+14155552602');
    expect(toP2.map((i) => i.deliveryId).sort()).toEqual(
      [first.body.deliveries[0].id, urgent.body.deliveries[0].id].sort(),
    );
    expect(JSON.stringify(toP2)).not.toContain(PHI);
    expect(JSON.stringify(query(h.dataDir, 'select * from delivery_sends'))).not.toContain(PHI);
  });

  it('sends routine notifications due together as one nudge whose link opens all of them', async () => {
    // Both due at the same moment: one claim takes them together.
    const at = new Date(Date.now() + 1500).toISOString();
    const a = await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'p4',
      data: { testName: `Ferritin ${PHI}` },
      sendAt: at,
    });
    const b = await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'p4',
      data: { testName: `Lipid panel ${PHI}` },
      sendAt: at,
    });
    const [va, vb] = [await when(a.body.id, 'sent'), await when(b.body.id, 'sent')];
    const member = [va, vb].find((v) => v.deliveries[0].lastErrorCode === 'SP_DELIVERY_DIGESTED')!;
    const lead = [va, vb].find((v) => v !== member)!;
    expect(member.deliveries[0]).toMatchObject({ status: 'sent' });
    expect(lead.deliveries[0]).toMatchObject({ status: 'delivered', lastErrorCode: null });
    const nudges = (await outbox()).filter((i) => i.recipient === '+14155552604');
    expect(nudges.map((i) => i.deliveryId)).toEqual([lead.deliveries[0].id]);

    // The one link, once the reader proved who they are, shows both results.
    const path = new URL(/View it at (\S+)\./.exec(nudges[0].body)![1]).pathname;
    const ok = await form(h, `${path}/verify`, { birthDate: '1980-04-02' });
    expect(ok.status).toBe(303);
    const cookie = String(ok.headers['set-cookie']).split(';')[0];
    const msg = await page(h, `${path}/message`, cookie);
    expect(msg.status).toBe(200);
    expect(String(msg.body)).toContain('Ferritin');
    expect(String(msg.body)).toContain('Lipid panel');
    expect(String(msg.body)).toContain('class="digest-item"');
  });

  it('writes no planted PHI, notification data or contact point to the server log', () => {
    const log = readFileSync(h.logFile, 'utf8');
    expect(log.length).toBeGreaterThan(0);
    for (const s of [PHI, 'Ferritin', 'Lipid panel', 'Dr. Rivera', '@example.com', '41555526'])
      expect(log).not.toContain(s);
  });
});
