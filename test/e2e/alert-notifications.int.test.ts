import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpsJson, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { query } from '../helpers/db-snapshot.js';
import { startTwilioEmulator, type TwilioEmulator } from '../helpers/twilio-emulator.js';
import { generateTestCertificate, startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { computeTwilioSignature } from '../../src/channels/sms/twilio-signature.js';
import { PHI_MARKER } from '../../src/core/templates/template-test-fixtures.js';

const SID = 'AC00000000000000000000000000000003';
const TOKEN = 'twilio-alert-token';
const PHONE = '+14155550171';

/**
 * A clinical alert reaches a nurse over SMS, e-mail and a webhook through real providers, PHI-free;
 * the provider's receipt marks the SMS delivered, and the nurse acknowledges by replying "1".
 */
describe('alert nudges end to end: SMS, e-mail, webhook, receipts and acknowledgement by reply', () => {
  let twilio: TwilioEmulator;
  let smtp: SmtpSink;
  let hook: WebhookReceiver;
  let h: Harness;
  let nurse: TestPerson;

  beforeAll(async () => {
    twilio = await startTwilioEmulator({ accountSid: SID, authToken: TOKEN });
    smtp = await startSmtpSink({ tls: 'starttls' });
    const certificate = await generateTestCertificate();
    hook = await startWebhookReceiver({ secret: 'alert-hook-secret', tls: true, certificate });
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-alert-ca-'));
    writeFileSync(join(dir, 'smtp.pem'), smtp.cert);
    writeFileSync(join(dir, 'hook.pem'), certificate.cert);
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
      SEALPOST_SMTP_CA_FILE: join(dir, 'smtp.pem'),
      SEALPOST_SMTP_FROM: 'alerts@example.org',
      SEALPOST_WEBHOOK_PROVIDER: 'http',
      SEALPOST_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      SEALPOST_WEBHOOK_SECRET: 'alert-hook-secret',
      SEALPOST_OUTBOUND_CA_FILE: join(dir, 'hook.pem'),
    });
    nurse = await staffWithSession(h, ['nurse']);
    const put = await h.request('PUT', `/v1/users/${nurse.userId}/alert-contacts`, {
      contacts: [
        { kind: 'sms', value: PHONE },
        { kind: 'email', value: 'nurse@clinic.test' },
        { kind: 'webhook', value: hook.url.replace(/^http:/, 'https:') },
      ],
      settings: { language: 'en', timeZone: 'UTC', quietHours: null, doNotDisturbUntil: null },
    });
    expect(put.status).toBe(200);
    const policy = await h.request('POST', '/v1/escalation-policies', {
      name: 'nurse on every channel',
      isDefault: true,
      steps: [{ targets: ['target'], channels: ['sms', 'email', 'webhook'], waitSeconds: 600 }],
    });
    expect(policy.status).toBe(201);
    const patient = samplePatient({ name: { given: [PHI_MARKER], family: PHI_MARKER } });
    expect((await h.request('PUT', '/v1/patients/alert-p1', patient)).status).toBe(201);
  });
  afterAll(async () => {
    await h?.close();
    await Promise.all([twilio?.close(), smtp?.close(), hook?.close()]);
  });

  const inbound = (params: Record<string, string>) =>
    httpsJson(h.url, h.cert, 'POST', '/v1/providers/twilio/inbound', new URLSearchParams(params).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': computeTwilioSignature(TOKEN, `${h.url}/v1/providers/twilio/inbound`, params),
    });

  it('tells the nurse on every channel without PHI, records the receipt, and takes "1" as acknowledgement', async () => {
    const raised = await h.request('POST', '/v1/alerts', {
      priority: 'medium',
      target: `user:${nurse.userId}`,
      patientId: 'alert-p1',
      summary: 'Critical lab result',
      details: `Potassium 6.9 mmol/L for ${PHI_MARKER}`,
    });
    expect(raised.status).toBe(201);
    const id = raised.body.alertId as string;
    const sms = await eventually(async () => twilio.messages.find((m) => m.to === PHONE) ?? null, 'sms nudge');
    expect(sms.body).toContain('Critical lab result');
    expect(sms.body).toContain(`${h.url}/alerts/${id}`);
    expect(sms.body).toContain('Reply 1 to acknowledge, 1D to pass it on');
    await eventually(async () => (smtp.messages.length && hook.records.length ? true : null), 'e-mail and webhook');
    expect(smtp.messages[0]!.envelope.rcptTo).toEqual(['nurse@clinic.test']);
    expect(JSON.parse((hook.records[0]!.body as { text: string }).text)).toMatchObject({ alertId: id });

    // Twilio's receipt (signed callback to the public URL) marks the SMS nudge delivered.
    const rows = () =>
      query<{ channel: string; status: string }>(
        h.dataDir,
        'select channel, status from alert_notifications where alert_id = ? order by channel',
        id,
      );
    await eventually(async () => (rows().find((r) => r.channel === 'sms')?.status === 'sent' ? true : null), 'sent');
    expect((await twilio.sendStatusCallback(sms.sid, 'delivered')).status).toBe(204);
    expect(rows()).toEqual([
      { channel: 'email', status: 'sent' },
      { channel: 'sms', status: 'delivered' },
      { channel: 'webhook', status: 'delivered' },
    ]);

    // A text that is not a reply code goes to the consent keywords as before; "1" acknowledges.
    const base = { From: PHONE, To: '+14155550000', AccountSid: SID, MessageSid: 'SMin1' };
    expect((await inbound({ ...base, Body: 'hello' })).status).toBe(200);
    expect((await h.request('GET', `/v1/alerts/${id}`)).body.state).toBe('notified');
    const ack = await inbound({ ...base, Body: '1', MessageSid: 'SMin2' });
    expect(ack.status).toBe(200);
    expect(ack.text).toContain('<Response>');
    const after = (await h.request('GET', `/v1/alerts/${id}`)).body;
    expect(after.state).toBe('acknowledged');
    expect(after.acknowledgedBy).toContain(nurse.userId);
    await eventually(
      async () => twilio.messages.find((m) => m.to === PHONE && m.body.includes('acknowledged')) ?? null,
      'confirmation',
    );

    // Nothing of the patient or the details left Sealpost or reached its log.
    const outbound = [
      ...twilio.messages.map((m) => m.body),
      ...smtp.messages.map((m) => m.raw),
      ...hook.records.map((r) => r.rawBody),
    ].join('\n');
    expect(outbound).not.toContain(PHI_MARKER);
    expect(outbound).not.toContain('6.9');
    expect(readFileSync(h.logFile, 'utf8')).not.toContain(PHI_MARKER);
  });
});
