import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, httpsJson, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { startTwilioEmulator, type TwilioEmulator } from '../helpers/twilio-emulator.js';
import { startSmtpSink, type ReceivedMail, type SmtpSink } from '../helpers/smtp-sink.js';
import { computeTwilioSignature } from '../../src/channels/sms/twilio-signature.js';

const SID = 'AC' + 'e'.repeat(32);
const TOKEN = 'twilio-engagement-smtp-token';
const PHONE = '+14155552671';
const EMAIL = 'engaged.patient@example.com';
/** PHI planted in the patient's record, the notification data and the appointment. */
const MARKERS = [
  'Phimarkgiven',
  'Phimarkfamily',
  'Phimarktestname',
  'Phimarkreason',
  'Phimarkroom',
  'Phimarkdoctor',
  'Phimarkfast',
];

/** The text of a single-part message, its body decoded (7bit, quoted-printable or base64), with its headers. */
function decodedMail(m: ReceivedMail): string {
  const split = m.raw.indexOf('\r\n\r\n');
  const head = m.raw.slice(0, split);
  let body = m.raw.slice(split + 4);
  const cte = (m.headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  if (cte === 'base64') body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (cte === 'quoted-printable')
    body = Buffer.from(
      body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
      'latin1',
    ).toString('utf8');
  // Encoded words in headers (e.g. a subject): decode them too, so a marker cannot hide there.
  const headers = head.replace(/=\?utf-8\?([bq])\?([^?]*)\?=/gi, (_, enc: string, text: string) =>
    enc.toLowerCase() === 'b'
      ? Buffer.from(text, 'base64').toString('utf8')
      : text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (__, h: string) => String.fromCharCode(parseInt(h, 16))),
  );
  return `${headers}\n\n${body}`;
}

/**
 * The promise end to end on real providers: a patient with an SMS number and an e-mail
 * address is texted, replies STOP through the signed Twilio inbound webhook, gets one confirmation,
 * and from then on notifications and reminders arrive as real e-mail at an SMTP server while the SMS
 * provider receives nothing for the number. No planted PHI in any text, e-mail or the server log.
 */
describe('STOP by SMS moves the patient to e-mail: Twilio emulator and a real SMTP server', () => {
  let twilio: TwilioEmulator;
  let smtp: SmtpSink;
  let h: Harness;

  const inbound = (Body: string, From = PHONE) => {
    const params = { From, To: '+14155550000', Body, AccountSid: SID, MessageSid: `SM${Math.random()}` };
    return httpsJson(h.url, h.cert, 'POST', '/v1/providers/twilio/inbound', new URLSearchParams(params).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': computeTwilioSignature(TOKEN, `${h.url}/v1/providers/twilio/inbound`, params),
      authorization: '',
    });
  };
  const textsTo = () => twilio.messages.filter((m) => m.to === PHONE);
  const mailFor = (deliveryId: string) =>
    eventually(
      async () => smtp.messages.find((m) => m.headers['x-sealpost-delivery-id'] === deliveryId) ?? null,
      `e-mail for ${deliveryId}`,
    );
  const expectNoPhi = (s: string) => {
    for (const m of MARKERS) expect(s).not.toContain(m);
  };

  beforeAll(async () => {
    twilio = await startTwilioEmulator({ accountSid: SID, authToken: TOKEN });
    smtp = await startSmtpSink({ tls: 'starttls' });
    const caFile = join(mkdtempSync(join(tmpdir(), 'sealpost-ca-')), 'smtp-ca.pem');
    writeFileSync(caFile, smtp.cert);
    h = await startSealpost({
      SEALPOST_SMS_PROVIDER: 'twilio',
      SEALPOST_TWILIO_BASE_URL: twilio.baseUrl,
      SEALPOST_TWILIO_ACCOUNT_SID: SID,
      SEALPOST_TWILIO_AUTH_TOKEN: TOKEN,
      SEALPOST_TWILIO_FROM: '+14155550000',
      SEALPOST_EMAIL_PROVIDER: 'smtp',
      SEALPOST_SMTP_HOST: '127.0.0.1',
      SEALPOST_SMTP_PORT: String(smtp.port),
      SEALPOST_SMTP_SECURITY: 'starttls',
      SEALPOST_SMTP_CA_FILE: caFile,
      SEALPOST_SMTP_FROM: 'clinic@example.org',
      SEALPOST_ORGANISATION_NAME: 'Harbor Clinic',
      SEALPOST_ORGANISATION_CONTACT: '+1 415 555 0199',
      SEALPOST_REMINDER_OFFSETS: '2h',
    });
    const patient = samplePatient({
      name: { given: ['Phimarkgiven'], family: 'Phimarkfamily' },
      telecom: [
        { system: 'sms', value: PHONE, rank: 1 },
        { system: 'email', value: EMAIL, rank: 2 },
      ],
    });
    expect((await h.request('PUT', '/v1/patients/ep1', patient)).status).toBe(201);
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await Promise.all([twilio?.close(), smtp?.close()]);
  });

  it('texts first; after STOP one confirmation, then notifications and reminders arrive by e-mail and no SMS', async () => {
    // Before STOP: the notification goes by SMS, PHI-free.
    const first = await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'ep1',
      data: { testName: 'Phimarktestname' },
    });
    expect(first.status).toBe(202);
    expect(first.body.deliveries.map((d: any) => d.channel)).toEqual(['sms']);
    const nudge = await eventually(
      async () => twilio.messages.find((m) => m.idempotencyToken === first.body.deliveries[0].id) ?? null,
      'first SMS',
    );
    expect(nudge.to).toBe(PHONE);
    expect(nudge.body).toContain('/m/');
    expect(smtp.messages).toHaveLength(0);

    // STOP through the signed inbound webhook: one PHI-free confirmation.
    const stop = await inbound('STOP');
    expect(stop.status).toBe(200);
    const confirmation = await eventually(
      async () => (textsTo().length === 2 ? textsTo()[1] : null),
      'STOP confirmation',
    );
    expect(confirmation.body).toBe(
      'Harbor Clinic: you are unsubscribed and will get no more text messages from us. Reply START to resume.',
    );
    const textsAfterStop = textsTo().length;

    // The next notification: a real e-mail at the SMTP server, over STARTTLS, PHI-free.
    const next = await h.request('POST', '/v1/notifications', {
      type: 'follow_up',
      patientId: 'ep1',
      data: { reason: 'Phimarkreason', dueDate: '2031-01-01' },
    });
    expect(next.status).toBe(202);
    expect(next.body.deliveries.map((d: any) => d.channel)).toEqual(['email']);
    const mail = await mailFor(next.body.deliveries[0].id);
    expect(mail.secure).toBe(true);
    expect(mail.envelope.rcptTo).toEqual([EMAIL]);
    const text = decodedMail(mail);
    expect(text).toMatch(/https:\/\/127\.0\.0\.1:\d+\/m\/[\w-]{43}/);
    expectNoPhi(text);
    await eventually(async () => {
      const n = await h.request('GET', `/v1/notifications/${next.body.id}`);
      return ['sent', 'delivered'].includes(n.body.deliveries[0].status) && n.body;
    }, 'e-mail delivery recorded');

    // An appointment reminder too goes by e-mail.
    const appt = await h.request('PUT', '/v1/appointments/ea1', {
      patientId: 'ep1',
      start: new Date(Date.now() + 2 * 3_600_000 + 1500).toISOString(),
      location: 'Phimarkroom',
      clinicianName: 'Phimarkdoctor',
      instructions: 'Phimarkfast',
    });
    expect(appt.status).toBe(201);
    const reminder = await eventually(async () => {
      const a = await h.request('GET', '/v1/appointments/ea1');
      return ['sent', 'delivered'].includes(a.body.reminders[0]?.status) ? a.body.reminders[0] : null;
    }, 'reminder sent');
    const reminded = await eventually(async () => {
      const n = await h.request('GET', `/v1/notifications/${reminder.notificationId}`);
      return n.status === 200 && n.body.deliveries.length ? n.body : null;
    }, 'reminder deliveries');
    expect(reminded.deliveries.map((d: any) => d.channel)).toEqual(['email']);
    const reminderMail = await mailFor(reminded.deliveries[0].id);
    expect(reminderMail.envelope.rcptTo).toEqual([EMAIL]);
    expectNoPhi(decodedMail(reminderMail));

    // The SMS provider got nothing for the number after the confirmation.
    expect(textsTo()).toHaveLength(textsAfterStop);
    for (const t of textsTo()) expectNoPhi(t.body);
    for (const m of smtp.messages) expectNoPhi(decodedMail(m));
    const log = readFileSync(h.logFile, 'utf8');
    expectNoPhi(log);
    for (const c of [EMAIL, '4155552671']) expect(log).not.toContain(c);

    // The STOP is audited as a consent decision from the SMS keyword; no audit entry holds PHI or a contact point.
    const audit = (await h.request('GET', '/v1/audit/events?limit=500')).body.items as any[];
    expect(audit.filter((e) => e.action === 'consent.recorded').map((e) => e.details)).toContainEqual({
      channel: 'sms',
      purpose: '*',
      decision: 'deny',
      source: 'sms_keyword',
    });
    const all = JSON.stringify(audit);
    expectNoPhi(all);
    for (const c of [EMAIL, '4155552671']) expect(all).not.toContain(c);
  });
});
