import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/backends.js';
import { eventually, httpsJson, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { startTwilioEmulator, type TwilioEmulator } from '../helpers/twilio-emulator.js';
import { computeTwilioSignature } from '../../src/channels/sms/twilio-signature.js';
import { verifyWebhookSignature } from '../../src/channels/webhook/webhook-signature.js';
import { staffWithSession } from '../helpers/identity.js';

const SID = 'AC' + 'b'.repeat(32);
const TOKEN = 'twilio-replies-token';
const EVENT_SECRET = 'ehr-event-secret-0042';
const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
const RESPONSE_TOPIC = 'https://sealpost.dev/fhir/SubscriptionTopic/appointment-response';
const PHONE = '+14155552671';
const PHONE_2 = '+14155552672';
const PHONE_3 = '+14155552673';
const STRANGER = '+14155550123';
/** PHI planted in the patient and the appointment: none may leave in a text, an event or a notification. */
const MARKERS = ['PHIMARKER-Given', 'PHIMARKER-Family', 'PHIMARKER-Room', 'PHIMARKER-Doctor', 'PHIMARKER-Fast'];

type Json = any;

for (const backend of BACKENDS) {
  describe(`two-way SMS replies end to end on ${backend}: Twilio inbound webhook, EHR event webhook, FHIR Subscription`, () => {
    let db: TestDatabase | null = null;
    let twilio: TwilioEmulator;
    let ehr: WebhookReceiver;
    let fhirHook: WebhookReceiver;
    let h: Harness;

    let sent = 0;
    /** A signed inbound text; each has its own MessageSid unless `sid` repeats one (a replay). */
    const inbound = (from: string, body: string, sid = `SM${Date.now()}x${++sent}`) => {
      const params = { From: from, To: '+14155550000', Body: body, AccountSid: SID, MessageSid: sid };
      return httpsJson(h.url, h.cert, 'POST', '/v1/providers/twilio/inbound', new URLSearchParams(params).toString(), {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': computeTwilioSignature(TOKEN, `${h.url}/v1/providers/twilio/inbound`, params),
      });
    };
    const textsTo = (to: string) => twilio.messages.filter((m) => m.to === to).map((m) => m.body);
    const expectNoPhi = (s: string) => {
      for (const m of MARKERS) expect(s).not.toContain(m);
      expect(s).not.toContain('4155552671');
    };
    /** Audit entries matching `filter` once at least `atLeast` of them are sequenced. */
    const auditEvents = (filter: string, atLeast: number) =>
      eventually(async () => {
        const r = await h.request('GET', `/v1/audit/events?${filter}&limit=500`);
        expect(r.status).toBe(200);
        return r.body.items.length >= atLeast ? (r.body.items as Json[]) : null;
      }, `audit ${filter}`);
    /** Books an appointment whose one reminder (2 h before) is due at once, and waits until its SMS went out. */
    const bookAndRemind = async (id: string, patientId = 'rp1') => {
      const put = await h.request('PUT', `/v1/appointments/${id}`, {
        patientId,
        start: new Date(Date.now() + 2 * 3_600_000 + 1500).toISOString(),
        location: 'PHIMARKER-Room',
        clinicianName: 'PHIMARKER-Doctor',
        instructions: 'PHIMARKER-Fast',
      });
      expect(put.status).toBe(201);
      await eventually(async () => {
        const a = await h.request('GET', `/v1/appointments/${id}`);
        return ['sent', 'delivered'].includes(a.body.reminders[0]?.status) ? a : null;
      }, 'reminder sent');
    };

    beforeAll(async () => {
      twilio = await startTwilioEmulator({ accountSid: SID, authToken: TOKEN });
      ehr = await startWebhookReceiver({ secret: EVENT_SECRET });
      fhirHook = await startWebhookReceiver({ secret: 'unused' });
      if (backend === 'postgres') db = await createTestDatabase('postgres');
      h = await startSealpost({
        ...(db ? { SEALPOST_DATABASE_URL: db.url } : {}),
        SEALPOST_SMS_PROVIDER: 'twilio',
        SEALPOST_TWILIO_BASE_URL: twilio.baseUrl,
        SEALPOST_TWILIO_ACCOUNT_SID: SID,
        SEALPOST_TWILIO_AUTH_TOKEN: TOKEN,
        SEALPOST_TWILIO_FROM: '+14155550000',
        SEALPOST_REMINDER_OFFSETS: '2h',
        SEALPOST_EVENT_WEBHOOK_URL: ehr.url,
        SEALPOST_EVENT_WEBHOOK_SECRET: EVENT_SECRET,
        SEALPOST_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
        SEALPOST_BACKOFF_BASE_MS: '10',
        SEALPOST_BACKOFF_CAP_MS: '20',
      });
      const patient = samplePatient({ name: { given: ['PHIMARKER-Given'], family: 'PHIMARKER-Family' } });
      expect((await h.request('PUT', '/v1/patients/rp1', patient)).status).toBe(201);
      expect(
        (
          await h.request(
            'PUT',
            '/v1/patients/rp2',
            samplePatient({ telecom: [{ system: 'sms', value: PHONE_2, rank: 1 }], language: 'es' }),
          )
        ).status,
      ).toBe(201);
      expect(
        (
          await h.request(
            'PUT',
            '/v1/patients/rp3',
            samplePatient({ telecom: [{ system: 'sms', value: PHONE_3, rank: 1 }] }),
          )
        ).status,
      ).toBe(201);
      const sub = await httpsJson(
        h.url,
        h.cert,
        'POST',
        '/fhir/R4/Subscription',
        {
          resourceType: 'Subscription',
          status: 'requested',
          reason: 'patient answers',
          criteria: RESPONSE_TOPIC,
          channel: {
            type: 'rest-hook',
            endpoint: fhirHook.url,
            payload: 'application/fhir+json',
            _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: 'id-only' }] },
          },
        },
        { authorization: `Bearer ${h.apiKey}`, 'content-type': 'application/fhir+json' },
      );
      expect(sub.status).toBe(201);
      const subId = JSON.parse(sub.text).id;
      await eventually(async () => {
        const r = await httpsJson(h.url, h.cert, 'GET', `/fhir/R4/Subscription/${subId}`, undefined, {
          authorization: `Bearer ${h.apiKey}`,
        });
        return JSON.parse(r.text).status === 'active' ? true : null;
      }, 'subscription active');
    }, 120_000);

    afterAll(async () => {
      await h?.close();
      await Promise.all([twilio?.close(), ehr?.close(), fhirHook?.close()]);
      await db?.drop();
    });

    it('a patient replies C to a reminder: the appointment is confirmed, the patient is answered, the EHR hears it signed and over FHIR', async () => {
      await bookAndRemind('rv1');
      const [nudge] = textsTo(PHONE);
      expect(nudge).toContain('Reply C to confirm, N if you cannot come.');
      expectNoPhi(nudge);

      const r = await inbound(PHONE, ' c ', 'SMrv1confirm');
      expect(r.status).toBe(200);
      // The acknowledgement went out before the inbound webhook was answered.
      expect(textsTo(PHONE).at(-1)).toBe('Thank you. Your appointment is confirmed.');
      const a = await h.request('GET', '/v1/appointments/rv1');
      expect(a.body.patientResponse).toMatchObject({ response: 'confirmed', channel: 'sms' });

      const event = await eventually(
        async () => ehr.records.find((x) => (x.body as Json)?.data?.appointmentId === 'rv1') ?? null,
        'EHR event',
      );
      expect(event.validSignature).toBe(true);
      expect(
        verifyWebhookSignature(
          EVENT_SECRET,
          {
            timestamp: event.headers['sealpost-timestamp'] as string,
            signature: event.headers['sealpost-signature'] as string,
          },
          event.rawBody,
        ),
      ).toBe(true);
      expect(event.body).toMatchObject({
        type: 'appointment.response',
        tenantId: 'default',
        data: { appointmentId: 'rv1', response: 'confirmed', channel: 'sms' },
      });
      expect(event.headers['sealpost-event-id']).toBe((event.body as Json).id);
      expectNoPhi(event.rawBody);

      const note = await eventually(
        async () => fhirHook.records.find((x) => x.rawBody.includes('Appointment/rv1')) ?? null,
        'FHIR notification',
      );
      const status = (note.body as Json).entry[0].resource;
      expect(status.parameter.find((p: Json) => p.name === 'type').valueCode).toBe('event-notification');
      expect(JSON.stringify(status)).toContain(RESPONSE_TOPIC);
      expectNoPhi(note.rawBody);
      const fhir = await httpsJson(h.url, h.cert, 'GET', '/fhir/R4/Appointment/rv1', undefined, {
        authorization: `Bearer ${h.apiKey}`,
      });
      const patientParticipant = JSON.parse(fhir.text).participant.find((p: Json) =>
        p.actor?.reference?.startsWith('Patient/'),
      );
      expect(patientParticipant.status).toBe('accepted');

      // A change of mind: N declines, the FHIR participant says declined.
      expect((await inbound(PHONE, 'N')).status).toBe(200);
      expect(textsTo(PHONE).at(-1)).toContain('cannot come');
      const fhir2 = await httpsJson(h.url, h.cert, 'GET', '/fhir/R4/Appointment/rv1', undefined, {
        authorization: `Bearer ${h.apiKey}`,
      });
      expect(JSON.parse(fhir2.text).participant.find((p: Json) => p.actor?.reference === 'Patient/rp1').status).toBe(
        'declined',
      );
      await eventually(
        async () => ehr.records.find((x) => (x.body as Json)?.data?.response === 'declined') ?? null,
        'EHR decline event',
      );
      for (const t of textsTo(PHONE)) expectNoPhi(t);

      // The captured signed "C" replayed (same MessageSid, same signature): answered 200 with the
      // empty TwiML, and nothing changes: the appointment stays declined, no text, no event.
      const texts = textsTo(PHONE).length;
      const replay = await inbound(PHONE, ' c ', 'SMrv1confirm');
      expect(replay.status).toBe(200);
      expect(replay.text).toBe('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
      const [ignored] = await auditEvents('action=inbound_sms.replay_ignored', 1);
      expect(ignored).toMatchObject({
        target: { type: 'inbound_sms', id: 'SMrv1confirm' },
        details: { provider: 'twilio' },
      });
      expect((await h.request('GET', '/v1/appointments/rv1')).body.patientResponse).toMatchObject({
        response: 'declined',
      });
      expect(textsTo(PHONE)).toHaveLength(texts);
      // A MessageSid no Twilio message has is bad input, refused before anything is handled.
      const long = await inbound(PHONE, 'C', `SM${'0'.repeat(70)}`);
      expect(long.status).toBe(400);
      expect(textsTo(PHONE)).toHaveLength(texts);

      // Both answers are audited, by pseudonymous references and codes only (PostgreSQL numbers
      // audit entries behind the writers: wait until both are in the log).
      const audited = await auditEvents('action=appointment.patient_response&patientId=rp1', 2);
      expect(audited.map((e: Json) => e.details.response)).toEqual(['confirmed', 'declined']);
      for (const e of audited) {
        expect(e).toMatchObject({
          outcome: 'success',
          target: { type: 'appointment' },
          patientRef: expect.any(String),
          details: { channel: 'sms' },
        });
        expect(e.target.id).not.toBe('rv1');
        expectNoPhi(JSON.stringify(e));
      }
    });

    it('retries the EHR event webhook until it answers 2xx, with the same event id', async () => {
      ehr.failNext(2, 503);
      // Another patient: the frequency cap lets one routine SMS a day through per patient.
      await bookAndRemind('rv2', 'rp3');
      expect((await inbound(PHONE_3, 'C')).status).toBe(200);
      const tries = await eventually(async () => {
        const mine = ehr.records.filter((x) => (x.body as Json)?.data?.appointmentId === 'rv2');
        return mine.some((x) => x.status === 204) ? mine : null;
      }, 'event delivered after retries');
      expect(tries.map((x) => x.status)).toEqual([503, 503, 204]);
      expect(new Set(tries.map((x) => x.headers['sealpost-event-id'])).size).toBe(1);
      expect(tries.every((x) => x.validSignature)).toBe(true);
    });

    it('a code after the appointment was cancelled changes nothing and says so; a code from a number nobody asked is unrecognised', async () => {
      await h.request('DELETE', '/v1/appointments/rv2');
      expect((await inbound(PHONE_3, 'N')).status).toBe(200);
      // The answer given before the cancellation stands; no decline reached the EHR.
      expect(
        ehr.records.filter(
          (x) => (x.body as Json)?.data?.appointmentId === 'rv2' && (x.body as Json)?.data?.response === 'declined',
        ),
      ).toEqual([]);
      expect(textsTo(PHONE_3).at(-1)).toMatch(
        /^No appointment is waiting for your answer\. Please contact .+ directly\.$/,
      );
      expect((await h.request('GET', '/v1/appointments/rv2')).body.patientResponse.response).toBe('confirmed');

      // A stranger: nothing kept, the HELP text once a day.
      expect((await inbound(STRANGER, 'C')).status).toBe(200);
      expect(textsTo(STRANGER)).toHaveLength(1);
      expectNoPhi(textsTo(STRANGER)[0]);
      expect((await inbound(STRANGER, 'hello?')).status).toBe(200);
      expect(textsTo(STRANGER)).toHaveLength(1);
    });

    it('keeps unrecognised texts sealed for staff with the patient relationship, answering HELP once a day', async () => {
      expect((await inbound(PHONE_2, 'Tengo fiebre, PHIMARKER-Symptom')).status).toBe(200);
      expect(textsTo(PHONE_2)).toHaveLength(1);
      expect(textsTo(PHONE_2)[0]).not.toContain('PHIMARKER');
      expect((await inbound(PHONE_2, 'hola?')).status).toBe(200);
      expect(textsTo(PHONE_2)).toHaveLength(1);
      // Each stored text is audited without its content; the HELP answer once.
      const received = await auditEvents('action=inbound_message.received&patientId=rp2', 2);
      expect(received).toHaveLength(2);
      for (const e of received) {
        expect(e).toMatchObject({
          outcome: 'success',
          target: { type: 'inbound_message' },
          details: { channel: 'sms', patientsMatched: 1 },
        });
        expect(JSON.stringify(e)).not.toMatch(/PHIMARKER|fiebre|hola|4155552672/i);
      }
      const helps = await auditEvents('action=inbound_message.*', 3);
      expect(helps.some((e: Json) => e.action === 'inbound_message.help_answered')).toBe(true);
      expect(JSON.stringify(helps)).not.toMatch(/PHIMARKER|fiebre|hola|hello|4155552672|4155550123/i);
      const list = await h.request('GET', '/v1/inbound-messages?patientId=rp2');
      expect(list.status).toBe(200);
      expect(list.body.items.map((m: Json) => m.body)).toEqual(['hola?', 'Tengo fiebre, PHIMARKER-Symptom']);
      expect(list.body.items[0]).toMatchObject({ patientId: 'rp2', channel: 'sms', sharedNumber: false });
      // A nurse outside the patient's care team is refused.
      const nurse = await staffWithSession(h, ['nurse']);
      const refused = await h.request('GET', '/v1/inbound-messages?patientId=rp2', undefined, nurse.headers);
      expect(refused.status).toBe(403);
      expect(refused.body.code).toBe('SP_AUTH_NO_RELATIONSHIP');
      expect(refused.text).not.toContain('PHIMARKER');
      // A billing clerk lacks the permission.
      const clerk = await staffWithSession(h, ['billing']);
      expect((await h.request('GET', '/v1/inbound-messages?patientId=rp2', undefined, clerk.headers)).status).toBe(403);
    });

    it('refuses a reply code that is a keyword, changing nothing; a new code is used by the next reminder', async () => {
      const bad = await h.request('PUT', '/v1/reply-codes', { confirm: 'CANCEL', decline: 'N' });
      expect(bad.status).toBe(409);
      expect(bad.body.code).toBe('SP_REPLY_CODE_KEYWORD');
      const digits = await h.request('PUT', '/v1/reply-codes', { confirm: '1', decline: 'N' });
      expect(digits.status).toBe(400);
      expect(digits.body.code).toBe('SP_REPLY_CODE_INVALID');
      expect((await h.request('GET', '/v1/reply-codes')).body).toEqual({ confirm: 'C', decline: 'N' });
      expect((await h.request('PUT', '/v1/reply-codes', { confirm: 'si', decline: 'no' })).body).toEqual({
        confirm: 'SI',
        decline: 'NO',
      });
      await bookAndRemind('rv3', 'rp2');
      expect(textsTo(PHONE_2).at(-1)).toContain('Responda SI para confirmar, NO si no puede venir.');
      expect((await inbound(PHONE_2, 'Si')).status).toBe(200);
      expect(textsTo(PHONE_2).at(-1)).toBe('Gracias. Su cita queda confirmada.');
      expect((await h.request('GET', '/v1/appointments/rv3')).body.patientResponse.response).toBe('confirmed');
      await h.request('PUT', '/v1/reply-codes', { confirm: 'C', decline: 'N' });
    });

    it('writes no planted PHI and no unrecognised text to the server log', () => {
      const log = readFileSync(h.logFile, 'utf8');
      expect(log.length).toBeGreaterThan(0);
      expectNoPhi(log);
      for (const s of ['PHIMARKER', 'Tengo fiebre', 'hola?', 'hello?']) expect(log).not.toContain(s);
    });
  });
}

describe('two-way SMS replies through the dev outbox (development: the outbox stands in for the phone)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_REMINDER_OFFSETS: '2h' });
    expect(
      (await h.request('PUT', '/v1/patients/dp1', samplePatient({ name: { given: ['PHIMARKER-Given'], family: 'X' } })))
        .status,
    ).toBe(201);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('takes C typed on the phone that got the outbox SMS as a confirmation, and anything else as unrecognised', async () => {
    const put = await h.request('PUT', '/v1/appointments/dv1', {
      patientId: 'dp1',
      start: new Date(Date.now() + 2 * 3_600_000 + 1500).toISOString(),
      location: 'PHIMARKER-Room',
    });
    expect(put.status).toBe(201);
    const sms = await eventually(
      async () =>
        (await h.request('GET', '/v1/dev/outbox')).body.items.find(
          (i: Json) => i.channel === 'sms' && i.recipient === PHONE,
        ) ?? null,
      'outbox SMS',
    );
    expect(sms.body).toContain('Reply C to confirm, N if you cannot come.');
    expect(sms.body).not.toContain('PHIMARKER');
    await eventually(async () => {
      const a = await h.request('GET', '/v1/appointments/dv1');
      return ['sent', 'delivered'].includes(a.body.reminders[0]?.status) ? a : null;
    }, 'reminder recorded');
    const reply = await h.request('POST', '/v1/dev/outbox/sms-replies', { from: PHONE, body: 'C' });
    expect(reply.body).toEqual({ handledAs: 'appointment-reply' });
    expect((await h.request('GET', '/v1/appointments/dv1')).body.patientResponse.response).toBe('confirmed');
    const ack = (await h.request('GET', '/v1/dev/outbox')).body.items.filter(
      (i: Json) => i.channel === 'sms' && i.recipient === PHONE,
    );
    expect(ack.at(-1).body).toBe('Thank you. Your appointment is confirmed.');
    expect((await h.request('POST', '/v1/dev/outbox/sms-replies', { from: PHONE, body: 'STOP' })).body).toEqual({
      handledAs: 'consent',
    });
    const smsTo = async () =>
      (await h.request('GET', '/v1/dev/outbox')).body.items.filter(
        (i: Json) => i.channel === 'sms' && i.recipient === PHONE,
      ).length;
    const afterStop = await smsTo();
    expect(
      (await h.request('POST', '/v1/dev/outbox/sms-replies', { from: PHONE, body: 'what time again?' })).body,
    ).toEqual({ handledAs: 'unrecognised' });
    // Opted out: the text is kept for staff, but no HELP text goes to the number.
    expect(await smsTo()).toBe(afterStop);
    const inbox = await h.request('GET', '/v1/inbound-messages?patientId=dp1');
    expect(inbox.body.items.map((m: Json) => m.body)).toEqual(['what time again?']);
    const log = readFileSync(h.logFile, 'utf8');
    for (const s of ['PHIMARKER', 'what time again?']) expect(log).not.toContain(s);
  });
});
