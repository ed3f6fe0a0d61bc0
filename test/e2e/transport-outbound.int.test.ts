import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { startTwilioEmulator, type TwilioEmulator } from '../helpers/twilio-emulator.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { serverCert } from '../helpers/transport-pki.js';

const SID = 'AC00000000000000000000000000000002';
const TOKEN = 'twilio-test-auth-token';
const SECRET = 'webhook-test-secret';
const WARNING = 'SEALPOST_INSECURE_SKIP_TLS_VERIFY is on: provider certificates are NOT verified';
type Delivery = { channel: string; status: string; lastErrorCode: string | null };

/**
 * Every provider here presents a certificate no trust store knows: a self-signed one for Twilio's
 * API (a real TLS endpoint in front of the emulator), the SMTP sink's own (STARTTLS) and the
 * webhook receiver's own. No SMTP CA file is configured.
 */
describe('outbound provider calls verify certificates unless SEALPOST_INSECURE_SKIP_TLS_VERIFY is set', () => {
  let twilio: TwilioEmulator;
  let twilioTls: TlsServer;
  let smtp: SmtpSink;
  let hook: WebhookReceiver;
  let env: Record<string, string>;
  const started: Harness[] = [];

  beforeAll(async () => {
    twilio = await startTwilioEmulator({ accountSid: SID, authToken: TOKEN });
    const untrusted = await serverCert('api.twilio.test');
    const emulatorPort = Number(new URL(twilio.baseUrl).port);
    twilioTls = createTlsServer({ cert: untrusted.cert, key: untrusted.key }, (s) => {
      const upstream = netConnect(emulatorPort, '127.0.0.1');
      s.pipe(upstream).pipe(s);
      s.on('error', () => upstream.destroy());
      upstream.on('error', () => s.destroy());
    });
    await new Promise<void>((r) => twilioTls.listen(0, '127.0.0.1', r));
    smtp = await startSmtpSink({ tls: 'starttls' });
    hook = await startWebhookReceiver({ secret: SECRET, tls: true });
    env = {
      SEALPOST_SMS_PROVIDER: 'twilio',
      SEALPOST_TWILIO_BASE_URL: `https://127.0.0.1:${(twilioTls.address() as { port: number }).port}`,
      SEALPOST_TWILIO_ACCOUNT_SID: SID,
      SEALPOST_TWILIO_AUTH_TOKEN: TOKEN,
      SEALPOST_TWILIO_FROM: '+14155550000',
      SEALPOST_EMAIL_PROVIDER: 'smtp',
      SEALPOST_SMTP_HOST: '127.0.0.1',
      SEALPOST_SMTP_PORT: String(smtp.port),
      SEALPOST_SMTP_SECURITY: 'starttls',
      SEALPOST_SMTP_FROM: 'clinic@example.org',
      SEALPOST_WEBHOOK_PROVIDER: 'http',
      SEALPOST_WEBHOOK_SECRET: SECRET,
      SEALPOST_MAX_ATTEMPTS: '3',
      SEALPOST_BACKOFF_BASE_MS: '10',
      SEALPOST_BACKOFF_CAP_MS: '40',
      SEALPOST_CHANNEL_TIMEOUT_MS: '5000',
    };
  }, 60_000);

  afterAll(async () => {
    for (const h of started) await h.close();
    await twilio?.close();
    twilioTls?.close();
    await smtp?.close();
    await hook?.close();
  });

  const start = async (extra: Record<string, string> = {}) => {
    const h = await startSealpost({ ...env, ...extra });
    started.push(h);
    const patient = samplePatient({
      telecom: [
        { system: 'sms', value: '+14155552671', rank: 1 },
        { system: 'email', value: 'ana@example.com', rank: 2 },
        { system: 'webhook', value: hook.url, rank: 3 },
      ],
    });
    expect((await h.request('PUT', '/v1/patients/p1', patient)).status).toBe(201);
    return h;
  };
  const send = async (h: Harness, channels: string[]) => {
    const r = await h.request('POST', '/v1/notifications', {
      type: 'test_result_ready',
      patientId: 'p1',
      data: { testName: 'Lipid panel' },
      channels,
    });
    expect(r.status).toBe(202);
    return r.body.id as string;
  };
  const deliveriesWhen = (h: Harness, id: string, done: (ds: Delivery[]) => boolean, what: string) =>
    eventually(
      async () => {
        const ds = (await h.request('GET', `/v1/notifications/${id}`)).body.deliveries as Delivery[];
        return done(ds) ? ds : null;
      },
      what,
      30_000,
    );

  it('by default refuses every untrusted provider with SP_CHANNEL_TLS_REJECTED, without retrying, and sends nothing', async () => {
    const h = await start();
    const id = await send(h, ['sms']);
    // SMS fails over to e-mail, e-mail to the webhook, the webhook is the last contact point.
    const ds = await deliveriesWhen(
      h,
      id,
      (d) => d.length === 3 && d.every((x) => x.status === 'failed' || x.status === 'dead'),
      'all three channels given up',
    );
    expect(ds.map((d) => [d.channel, d.lastErrorCode])).toEqual([
      ['sms', 'SP_CHANNEL_TLS_REJECTED'],
      ['email', 'SP_CHANNEL_TLS_REJECTED'],
      ['webhook', 'SP_CHANNEL_TLS_REJECTED'],
    ]);
    expect(twilio.requests).toHaveLength(0);
    expect(smtp.messages).toHaveLength(0);
    expect(hook.records).toHaveLength(0);
    const audit = await h.request('GET', '/v1/audit/events?action=delivery.*&limit=100');
    const attempts = (audit.body.items as { action: string }[]).filter((e) => e.action === 'delivery.attempt_failed');
    expect(attempts).toHaveLength(0);
    expect(readFileSync(h.logFile, 'utf8')).not.toContain(WARNING);
  }, 60_000);

  it('with the explicit setting logs a warning at start and delivers through each of the three providers', async () => {
    const h = await start({ SEALPOST_INSECURE_SKIP_TLS_VERIFY: 'true' });
    const log = readFileSync(h.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes(WARNING));
    expect(log).toHaveLength(1);
    expect(JSON.parse(log[0]!).level).toBe(40);
    for (const channel of ['sms', 'email', 'webhook']) {
      const id = await send(h, [channel]);
      const [d] = await deliveriesWhen(
        h,
        id,
        (ds) => ['sent', 'delivered'].includes(ds[0]!.status),
        `${channel} accepted`,
      );
      expect(d!.channel).toBe(channel);
      expect(d!.lastErrorCode).toBeNull();
    }
    expect(twilio.messages).toHaveLength(1);
    expect(smtp.messages).toHaveLength(1);
    expect(hook.records.filter((r) => r.validSignature)).toHaveLength(1);
  }, 60_000);
});
