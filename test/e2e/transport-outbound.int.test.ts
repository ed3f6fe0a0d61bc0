import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { eventually, samplePatient, startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { startTwilioEmulator, type TwilioEmulator } from '../helpers/twilio-emulator.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { serverCert, testCa } from '../helpers/transport-pki.js';

const SID = 'AC00000000000000000000000000000002';
const TOKEN = 'twilio-test-auth-token';
const SECRET = 'webhook-test-secret';
const WARNING =
  "SEALPOST_INSECURE_SKIP_TLS_VERIFY is on: certificates are NOT verified for SMTP, Twilio, webhooks, the OIDC provider and SMART clients' JWKS URLs";
type Delivery = { channel: string; status: string; lastErrorCode: string | null };

/**
 * Every provider here presents a certificate no trust store knows: one issued by a test CA for
 * Twilio's API (a real TLS endpoint in front of the emulator) and for the webhook receiver, and the
 * SMTP sink's own self-signed one (STARTTLS). No SMTP CA file is configured.
 */
describe('outbound provider calls verify certificates unless SEALPOST_INSECURE_SKIP_TLS_VERIFY is set', () => {
  let twilio: TwilioEmulator;
  let twilioTls: TlsServer;
  let smtp: SmtpSink;
  let hook: WebhookReceiver;
  let env: Record<string, string>;
  /** A PEM bundle: the test CA, and the SMTP sink's self-signed certificate. */
  let caBundle: string;
  const started: Harness[] = [];

  beforeAll(async () => {
    twilio = await startTwilioEmulator({ accountSid: SID, authToken: TOKEN });
    const ca = await testCa('Sealpost test provider CA');
    const untrusted = await serverCert('api.twilio.test', { ca });
    const emulatorPort = Number(new URL(twilio.baseUrl).port);
    twilioTls = createTlsServer({ cert: untrusted.cert, key: untrusted.key }, (s) => {
      const upstream = netConnect(emulatorPort, '127.0.0.1');
      s.pipe(upstream).pipe(s);
      s.on('error', () => upstream.destroy());
      upstream.on('error', () => s.destroy());
    });
    await new Promise<void>((r) => twilioTls.listen(0, '127.0.0.1', r));
    smtp = await startSmtpSink({ tls: 'starttls' });
    hook = await startWebhookReceiver({
      secret: SECRET,
      tls: true,
      certificate: await serverCert('hook.test', { ca }),
    });
    caBundle = join(mkdtempSync(join(tmpdir(), 'sealpost-outbound-ca-')), 'bundle.pem');
    writeFileSync(caBundle, `${ca.cert}\n${smtp.cert}`);
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
      SEALPOST_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
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

  it('with SEALPOST_OUTBOUND_CA_FILE (a PEM bundle) verifies every provider against it and delivers through each, without the warning', async () => {
    const h = await start({ SEALPOST_OUTBOUND_CA_FILE: caBundle });
    const before = { sms: twilio.messages.length, email: smtp.messages.length, hook: hook.records.length };
    for (const channel of ['sms', 'email', 'webhook']) {
      const id = await send(h, [channel]);
      const [d] = await deliveriesWhen(
        h,
        id,
        (ds) => ['sent', 'delivered'].includes(ds[0]!.status),
        `${channel} accepted`,
      );
      expect(d!.lastErrorCode).toBeNull();
    }
    expect(twilio.messages.length - before.sms).toBe(1);
    expect(smtp.messages.length - before.email).toBe(1);
    expect(hook.records.slice(before.hook).filter((r) => r.validSignature)).toHaveLength(1);
    expect(readFileSync(h.logFile, 'utf8')).not.toContain('SEALPOST_INSECURE_SKIP_TLS_VERIFY');
  }, 60_000);

  it('refuses to start with an SEALPOST_OUTBOUND_CA_FILE that holds no certificate', async () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'sealpost-outbound-ca-')), 'bad.pem');
    writeFileSync(bad, 'not a certificate');
    await expect(start({ SEALPOST_OUTBOUND_CA_FILE: bad })).rejects.toMatchObject({ code: 'SP_CONFIG_INVALID' });
    await expect(start({ SEALPOST_OUTBOUND_CA_FILE: `${bad}.missing` })).rejects.toThrow(/SEALPOST_OUTBOUND_CA_FILE/);
  });
});
