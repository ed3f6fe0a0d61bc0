import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpsJson, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { startTwilioEmulator, type TwilioEmulator } from '../helpers/twilio-emulator.js';
import { computeTwilioSignature } from '../../src/channels/sms/twilio-signature.js';
import { staffWithSession } from '../helpers/identity.js';
import { query } from '../helpers/db-snapshot.js';

const SID = 'AC00000000000000000000000000000000';
const TOKEN = 'twilio-consent-auth-token';
/** PHI planted in the patient's record and notifications: it must never reach an SMS answer. */
const PHI = 'Phimarkerconsent';
const PHONE = '+14155552671';

describe('consent ledger end to end: Twilio inbound keywords, REST, portal, FHIR, erasure', () => {
  let twilio: TwilioEmulator;
  let h: Harness;

  const inbound = (Body: string, From = PHONE) => {
    const params = { From, To: '+14155550000', Body, AccountSid: SID, MessageSid: `SM${Math.random()}` };
    return httpsJson(h.url, h.cert, 'POST', '/v1/providers/twilio/inbound', new URLSearchParams(params).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': computeTwilioSignature(TOKEN, `${h.url}/v1/providers/twilio/inbound`, params),
      authorization: '',
    });
  };
  /** Texts sent to the patient's number that are not nudges (keyword answers). */
  const answers = () => twilio.messages.filter((m) => m.to === PHONE && !m.body.includes('/m/'));
  const consents = async (patient = 'p1') => (await h.request('GET', `/v1/patients/${patient}/consents`)).body;
  const stateOf = (view: any, channel: string, purpose: string) =>
    view.state.find((s: any) => s.channel === channel && s.purpose === purpose);
  const send = (type: string, data: Record<string, unknown>, patientId = 'p1') =>
    h.request('POST', '/v1/notifications', { type, patientId, priority: 'urgent', data });

  beforeAll(async () => {
    twilio = await startTwilioEmulator({ accountSid: SID, authToken: TOKEN });
    h = await startSealpost({
      SEALPOST_SMS_PROVIDER: 'twilio',
      SEALPOST_TWILIO_BASE_URL: twilio.baseUrl,
      SEALPOST_TWILIO_ACCOUNT_SID: SID,
      SEALPOST_TWILIO_AUTH_TOKEN: TOKEN,
      SEALPOST_TWILIO_FROM: '+14155550000',
      SEALPOST_ORGANISATION_NAME: 'Harbor Clinic',
      SEALPOST_ORGANISATION_CONTACT: '+1 415 555 0199',
      SEALPOST_QUIET_HOURS: 'off',
    });
    for (const p of ['p1', 'p2'])
      expect(
        (
          await h.request(
            'PUT',
            `/v1/patients/${p}`,
            samplePatient({
              name: { given: [PHI], family: `${PHI}Family` },
              telecom:
                p === 'p1'
                  ? [
                      { system: 'sms', value: PHONE, rank: 1 },
                      { system: 'email', value: 'ana@example.com', rank: 2 },
                    ]
                  : [{ system: 'sms', value: '+14155552672', rank: 1 }],
            }),
          )
        ).status,
      ).toBe(201);
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await twilio?.close();
  });

  it('STOP in any spelling revokes SMS for every purpose; one PHI-free confirmation; e-mail continues; START re-grants', async () => {
    // Something with PHI went out by SMS first: the answers below must not echo it.
    expect((await send('test_result_ready', { testName: PHI })).status).toBe(202);
    await eventually(async () => twilio.messages.some((m) => m.to === PHONE), 'first nudge');

    const r = await inbound(' Opt-out ');
    expect(r.status).toBe(200);
    expect(r.text).toContain('<Response>');
    expect((await inbound('stop')).status).toBe(200);
    expect((await inbound('S T O P')).status).toBe(200);
    const confirm = await eventually(async () => answers().length === 1 && answers(), 'one confirmation');
    expect(confirm[0]!.body).toBe(
      'Harbor Clinic: you are unsubscribed and will get no more text messages from us. Reply START to resume.',
    );

    const view = await consents();
    for (const s of view.state.filter((x: any) => x.channel === 'sms'))
      expect(s).toMatchObject({ decision: 'deny', source: 'sms_keyword' });
    expect(view.history).toMatchObject([
      { channel: 'sms', purpose: '*', decision: 'deny', source: 'sms_keyword', recordedBy: 'provider:twilio' },
    ]);
    // The other patient (another number) is untouched.
    expect(stateOf(await consents('p2'), 'sms', 'results').decision).toBe('permit');

    // Nothing further by SMS; e-mail carries the patient's notifications.
    const smsBefore = twilio.messages.filter((m) => m.to === PHONE).length;
    const after = await send('test_result_ready', { testName: PHI });
    expect(after.body.deliveries.map((d: any) => d.channel)).toEqual(['email']);
    expect((await send('follow_up', { reason: PHI, dueDate: '2031-01-01' }, 'p1')).body.deliveries[0].channel).toBe(
      'email',
    );
    expect(
      (
        await h.request('POST', '/v1/notifications', {
          type: 'follow_up',
          patientId: 'p1',
          channels: ['sms'],
          data: { reason: 'x', dueDate: '2031-01-01' },
        })
      ).body.code,
    ).toBe('SP_NOTIFICATION_NO_CHANNEL');
    expect(twilio.messages.filter((m) => m.to === PHONE)).toHaveLength(smsBefore);

    expect((await inbound('Start')).status).toBe(200);
    await eventually(async () => answers().length === 2, 'opt-in confirmation');
    expect(answers()[1]!.body).toMatch(/^Harbor Clinic: you will get text messages from us again/);
    expect(stateOf(await consents(), 'sms', 'appointment').decision).toBe('permit');
    expect((await send('test_result_ready', { testName: PHI })).body.deliveries[0].channel).toBe('sms');
    for (const m of answers()) expect(m.body).not.toMatch(new RegExp(`${PHI}|Ana|Lopez|example\\.com`));
  });

  it("keywords are their own layer: a YES from a shared number never lifts a patient's own denial; a STOP outlasts permits made elsewhere", async () => {
    const SHARED = '+14155552681';
    for (const p of ['p3', 'p4'])
      expect(
        (
          await h.request(
            'PUT',
            `/v1/patients/${p}`,
            samplePatient({ telecom: [{ system: 'sms', value: SHARED, rank: 1 }] }),
          )
        ).status,
      ).toBe(201);
    const sms = (view: any, purpose: string) => {
      const s = stateOf(view, 'sms', purpose);
      return { decision: s.decision, source: s.source };
    };
    const smsOnly = (
      patientId: string,
      type = 'test_result_ready',
      data: Record<string, unknown> = { testName: 'x' },
    ) => h.request('POST', '/v1/notifications', { type, patientId, channels: ['sms'], data });
    // p4's record says: no results by SMS (recorded by a system; no STOP involved).
    expect(
      (
        await h.request('PUT', '/v1/patients/p4/consents', {
          consents: [{ channel: 'sms', purpose: 'results', decision: 'deny' }],
        })
      ).status,
    ).toBe(200);

    // Someone on the shared phone texts "yes": nothing was stopped, so nothing changes (and no answer is sent).
    expect((await inbound('yes', SHARED)).status).toBe(200);
    let p4 = await consents('p4');
    expect(sms(p4, 'results')).toEqual({ decision: 'deny', source: 'api' });
    expect(p4.history).toHaveLength(1);
    expect((await smsOnly('p4')).body.code).toBe('SP_NOTIFICATION_NO_CHANNEL');

    // STOP denies SMS for every purpose of both patients; a later permit from elsewhere does not lift it.
    expect((await inbound('STOP', SHARED)).status).toBe(200);
    for (const p of ['p3', 'p4'])
      expect(sms(await consents(p), 'appointment')).toEqual({ decision: 'deny', source: 'sms_keyword' });
    const permit = await h.request('PUT', '/v1/patients/p3/consents', {
      consents: [{ channel: 'sms', decision: 'permit' }],
    });
    expect(sms(permit.body, 'results')).toEqual({ decision: 'deny', source: 'sms_keyword' });
    // Both records stay in force, each in its own layer.
    expect(permit.body.history.map((r: any) => [r.source, r.active])).toEqual([
      ['api', true],
      ['sms_keyword', true],
    ]);
    expect((await smsOnly('p3', 'follow_up', { reason: 'x', dueDate: '2031-01-01' })).body.code).toBe(
      'SP_NOTIFICATION_NO_CHANNEL',
    );

    // START lifts only what the STOP set: p3 may be texted again; p4's own "no results by SMS" stands.
    expect((await inbound('START', SHARED)).status).toBe(200);
    expect(sms(await consents('p3'), 'results')).toEqual({ decision: 'permit', source: 'sms_keyword' });
    p4 = await consents('p4');
    expect(sms(p4, 'results')).toEqual({ decision: 'deny', source: 'api' });
    expect(sms(p4, 'appointment')).toEqual({ decision: 'permit', source: 'sms_keyword' });
    expect(p4.history.map((r: any) => [r.source, r.decision, r.active])).toEqual([
      ['sms_keyword', 'permit', true],
      ['sms_keyword', 'deny', false],
      ['api', 'deny', true],
    ]);
    expect((await smsOnly('p4')).body.code).toBe('SP_NOTIFICATION_NO_CHANNEL');
    expect((await smsOnly('p3')).status).toBe(202);
    expect((await smsOnly('p4', 'follow_up', { reason: 'x', dueDate: '2031-01-01' })).status).toBe(202);
  });

  it('HELP and AYUDA answer with the organisation, its contact and how to stop, in the keyword’s language', async () => {
    const before = answers().length;
    await inbound('help');
    await inbound('Ayuda');
    const got = await eventually(async () => answers().length === before + 2 && answers().slice(before), 'help');
    expect(got.map((m) => m.body)).toEqual([
      'Harbor Clinic: secure message alerts. For help contact +1 415 555 0199. Reply STOP to stop texts.',
      'Harbor Clinic: avisos de mensajes seguros. Para ayuda contacte +1 415 555 0199. Responda ALTO para no recibir más.',
    ]);
    // HELP changes nothing in the ledger.
    expect(stateOf(await consents(), 'sms', 'results').decision).toBe('permit');
    // The Spanish opt-out word answers in Spanish.
    await inbound('PARAR');
    await eventually(async () => answers().length === before + 3, 'spanish confirmation');
    expect(answers()[before + 2]!.body).toMatch(/^Harbor Clinic: se ha dado de baja/);
    await inbound('alta');
    await eventually(async () => answers().length === before + 4, 'spanish opt-in');
  });

  it('administrators set keywords and answers per tenant; bad settings are refused and change nothing', async () => {
    const nurse = await staffWithSession(h, ['nurse']);
    const admin = await staffWithSession(h, ['admin']);
    const as = (p: { headers: Record<string, string> }) => (m: string, path: string, body?: unknown) =>
      httpsJson(h.url, h.cert, m, path, body, p.headers);
    expect((await as(nurse)('GET', '/v1/consent/keywords')).status).toBe(403);
    const defaults = (await as(admin)('GET', '/v1/consent/keywords')).body;
    expect(defaults.keywords.opt_out.en).toEqual(
      expect.arrayContaining(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'END', 'QUIT', 'REVOKE', 'OPTOUT', 'CANCEL']),
    );
    const bad = [
      { ...defaults, keywords: { ...defaults.keywords, opt_out: { ...defaults.keywords.opt_out, en: ['QUIT'] } } },
      { ...defaults, keywords: { ...defaults.keywords, opt_in: { ...defaults.keywords.opt_in, es: ['STOP'] } } },
      { ...defaults, answers: { ...defaults.answers, help: { ...defaults.answers.help, en: 'Call us.' } } },
      { ...defaults, answers: { ...defaults.answers, opt_in: { ...defaults.answers.opt_in, en: 'Hi {patient}' } } },
      { ...defaults, keywords: { ...defaults.keywords, help: { ...defaults.keywords.help, en: ['HELP', 'X'] } } },
    ];
    for (const b of bad) {
      const r = await as(admin)('PUT', '/v1/consent/keywords', b);
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('SP_CONSENT_KEYWORDS_INVALID');
    }
    expect((await as(admin)('PUT', '/v1/consent/keywords', { ...defaults, extra: 1 })).status).toBe(400);
    expect((await as(admin)('GET', '/v1/consent/keywords')).body).toEqual(defaults);

    const custom = {
      ...defaults,
      contact: 'harbor.example/help',
      keywords: {
        ...defaults.keywords,
        opt_out: { ...defaults.keywords.opt_out, en: [...defaults.keywords.opt_out.en, 'pause'] },
      },
      answers: {
        ...defaults.answers,
        opt_out: { ...defaults.answers.opt_out, en: '{organisation}: paused. Text START to resume.' },
      },
    };
    const put = await as(admin)('PUT', '/v1/consent/keywords', custom);
    expect(put.status).toBe(200);
    expect(put.body.keywords.opt_out.en).toContain('PAUSE');
    const before = answers().length;
    await inbound('Pause.');
    await eventually(async () => answers().length === before + 1, 'custom confirmation');
    expect(answers()[before]!.body).toBe('Harbor Clinic: paused. Text START to resume.');
    await inbound('start');
    await eventually(async () => answers().length === before + 2, 'opt-in');
    await inbound('HELP');
    await eventually(async () => answers().length === before + 3, 'help');
    expect(answers()[before + 2]!.body).toContain('harbor.example/help');
    expect((await as(admin)('PUT', '/v1/consent/keywords', defaults)).status).toBe(200);
  });

  it('staff and systems read and append per channel and purpose (relationship checked); creation skips a denied channel', async () => {
    const nurse = await staffWithSession(h, ['nurse']);
    const asNurse = (m: string, path: string, body?: unknown) => httpsJson(h.url, h.cert, m, path, body, nurse.headers);
    expect((await asNurse('GET', '/v1/patients/p1/consents')).status).toBe(403);
    expect(
      (await asNurse('PUT', '/v1/patients/p1/consents', { consents: [{ channel: 'sms', decision: 'deny' }] })).status,
    ).toBe(403);
    expect((await h.request('PUT', `/v1/patients/p1/care-team/${nurse.userId}`)).status).toBe(201);

    const before = await consents();
    for (const body of [
      { consents: [] },
      { consents: [{ channel: 'fax', decision: 'deny' }] },
      { consents: [{ channel: 'sms', purpose: 'marketing', decision: 'deny' }] },
      { consents: [{ channel: 'sms', decision: 'maybe' }] },
      { consents: [{ channel: 'sms', decision: 'deny', source: 'portal' }] },
    ]) {
      const r = await asNurse('PUT', '/v1/patients/p1/consents', body);
      expect(r.status).toBe(400);
    }
    expect(
      (await h.request('PUT', '/v1/patients/nobody/consents', { consents: [{ channel: 'sms', decision: 'deny' }] }))
        .status,
    ).toBe(404);
    expect(await consents()).toEqual(before);

    const put = await asNurse('PUT', '/v1/patients/p1/consents', {
      consents: [{ channel: 'sms', purpose: 'results', decision: 'deny' }],
    });
    expect(put.status).toBe(200);
    expect(put.body.history[0]).toMatchObject({
      channel: 'sms',
      purpose: 'results',
      decision: 'deny',
      source: 'staff',
      recordedBy: `user:${nurse.userId}`,
    });
    expect(stateOf(put.body, 'sms', 'results').decision).toBe('deny');
    expect(stateOf(put.body, 'sms', 'appointment').decision).toBe('permit');
    // Results now go by e-mail, care messages still by SMS.
    expect((await send('test_result_ready', { testName: PHI })).body.deliveries[0].channel).toBe('email');
    expect((await send('follow_up', { reason: PHI, dueDate: '2031-01-01' })).body.deliveries[0].channel).toBe('sms');
    // A system's change is recorded with source api.
    const api = await h.request('PUT', '/v1/patients/p1/consents', {
      consents: [{ channel: 'sms', purpose: 'results', decision: 'permit' }],
    });
    expect(api.body.history[0]).toMatchObject({ source: 'api', active: true });
    expect(api.body.history[1]).toMatchObject({ source: 'staff', active: false });
  });

  it('FHIR Consent with a purpose writes the same ledger; GET shows it', async () => {
    const r = await h.request(
      'POST',
      '/fhir/R4/Consent',
      {
        resourceType: 'Consent',
        status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
        category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
        patient: { reference: 'Patient/p2' },
        provision: {
          type: 'deny',
          purpose: [{ system: 'https://sealpost.dev/fhir/CodeSystem/sealpost-consent-purpose', code: 'billing' }],
        },
      },
      { 'content-type': 'application/fhir+json' },
    );
    expect(r.status).toBe(201);
    const view = await consents('p2');
    expect(view.history[0]).toMatchObject({ channel: '*', purpose: 'billing', source: 'fhir' });
    expect(stateOf(view, 'sms', 'billing').decision).toBe('deny');
    expect(stateOf(view, 'sms', 'appointment').decision).toBe('permit');
    const billing = await send(
      'billing_statement',
      { amount: '12.00', dueDate: '2031-01-01', statementId: 'S1' },
      'p2',
    );
    expect(billing.status).toBe(422);
    expect(billing.body.code).toBe('SP_NOTIFICATION_NO_CHANNEL');
    const search = await h.request('GET', '/fhir/R4/Consent?patient=Patient/p2');
    expect(JSON.stringify(search.body)).toContain('sealpost-consent-purpose');
  });

  it('the signed-in patient reads and changes their own consents (source portal); erasure removes the ledger', async () => {
    const account = await h.request('POST', '/v1/patients/p1/account', {
      contact: { system: 'email', value: 'ana@example.com' },
    });
    expect(account.status).toBe(201);
    const anon = (m: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      httpsJson(h.url, h.cert, m, path, body, { authorization: '', ...headers });
    expect((await anon('GET', '/v1/me/consents')).status).toBe(401);
    expect((await h.request('GET', '/v1/me/consents')).status).toBe(403);
    const contact = { system: 'email', value: 'ana@example.com' };
    expect((await anon('POST', '/v1/patient-auth/start', { contact })).status).toBe(202);
    const code = await eventually(async () => {
      const items = (await h.request('GET', '/v1/dev/outbox?limit=500')).body.items as any[];
      const m = items.filter((i) => i.deliveryId.startsWith(`potp-${account.body.id}-`)).pop();
      return m && /code is (\d{6})/.exec(m.body)?.[1];
    }, 'sign-in code');
    const token = (await anon('POST', '/v1/patient-auth/verify', { contact, code, transport: 'bearer' })).body.token;
    const me = (m: string, body?: unknown) => anon(m, '/v1/me/consents', body, { authorization: `Bearer ${token}` });

    const mine = await me('GET');
    expect(mine.status).toBe(200);
    expect(mine.body.patientId).toBe('p1');
    expect((await me('PUT', { consents: [{ channel: 'email', purpose: 'nope', decision: 'deny' }] })).status).toBe(400);
    const put = await me('PUT', { consents: [{ channel: 'email', purpose: 'billing', decision: 'deny' }] });
    expect(put.status).toBe(200);
    expect(put.body.history[0]).toMatchObject({
      channel: 'email',
      purpose: 'billing',
      source: 'portal',
      recordedBy: `patient-account:${account.body.id}`,
    });
    expect(stateOf(await consents(), 'email', 'billing').decision).toBe('deny');

    expect(query(h.dataDir, 'select count(*) as n from consents where patient_id = ?', 'p1')[0].n).toBeGreaterThan(0);
    expect((await h.request('DELETE', '/v1/patients/p1?erase=true')).status).toBeLessThan(300);
    expect(query(h.dataDir, 'select count(*) as n from consents where patient_id = ?', 'p1')[0].n).toBe(0);
    expect(query(h.dataDir, 'select count(*) as n from consents where patient_id = ?', 'p2')[0].n).toBeGreaterThan(0);
  });

  it('writes no planted PHI, unrecognised inbound text, contact or keyword answer to the server log', async () => {
    // An unrecognised text (kept sealed for staff) with a marker of its own.
    expect((await inbound('Rash is worse Phimarkerinbound', '+14155552672')).status).toBe(200);
    expect((await h.request('GET', '/v1/inbound-messages?patientId=p2')).body.items.map((m: any) => m.body)).toEqual([
      'Rash is worse Phimarkerinbound',
    ]);
    const log = readFileSync(h.logFile, 'utf8');
    expect(log.length).toBeGreaterThan(0);
    for (const s of [
      PHI,
      'Phimarkerinbound',
      'Rash is worse',
      'ana@example.com',
      '4155552671',
      '4155552672',
      'unsubscribed',
    ])
      expect(log).not.toContain(s);
  });
});
