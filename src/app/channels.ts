import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Channel, OutboundChannelKind } from '../channels/channel.js';
import type { Store } from '../store/store.js';
import type { OutboxSealer } from '../channels/dev-outbox/dev-outbox-channel.js';
import { DevOutboxChannel, type OutboxRecord } from '../channels/dev-outbox/dev-outbox-channel.js';
import { SmtpEmailChannel } from '../channels/email/smtp-email-channel.js';
import { TwilioSmsChannel } from '../channels/sms/twilio-sms-channel.js';
import { HttpWebhookChannel } from '../channels/webhook/http-webhook-channel.js';
import { SnppPagingChannel } from '../channels/paging/snpp-paging-channel.js';
import { INSECURE_TLS_WARNING } from '../channels/outbound-tls.js';
import { PushChannel } from '../channels/push/push-channel.js';
import { WebPushSender } from '../channels/push/web-push-sender.js';
import { FcmSender } from '../channels/push/fcm-sender.js';
import { ApnsSender } from '../channels/push/apns-sender.js';
import type { VapidKeys } from '../channels/push/vapid-keys.js';
import { describeTarget } from '../channels/push/push-target.js';

/**
 * One adapter per channel, as configured: the provider's, or the sealed development outbox. `paging`
 * (staff alerting only, not a patient contact-point kind) is the SNPP gateway when one is configured.
 */
export function buildChannels(
  config: Config,
  store: Store,
  sealer: OutboxSealer,
  derivedWebhookSecret: string,
  logger: Logger,
  vapidKeys?: () => Promise<VapidKeys>,
): Record<OutboundChannelKind, Channel> {
  // A message is recorded when its transaction commits, with those of concurrent sends (batchable).
  const sink = {
    record: (row: OutboxRecord) => store.transaction(async (tx) => tx.atCommit.outbox([row]), { batchable: true }),
  };
  const outbox = (kind: OutboundChannelKind) => new DevOutboxChannel(kind, sink, sealer);
  const { channels: c, twilio, smtp } = config;
  // Logged here, once at start, for the OIDC provider and JWKS fetches too (app/services.ts).
  if (c.insecureSkipTlsVerify) logger.warn(INSECURE_TLS_WARNING);
  return {
    sms:
      c.sms === 'twilio'
        ? new TwilioSmsChannel({
            baseUrl: twilio.baseUrl,
            accountSid: twilio.accountSid!,
            authToken: twilio.authToken!,
            from: twilio.from!,
            statusCallbackUrl: `${config.publicUrl}/v1/providers/twilio/status`,
            timeoutMs: c.timeoutMs,
            insecureSkipTlsVerify: c.insecureSkipTlsVerify,
            ca: c.outboundCa,
          })
        : outbox('sms'),
    email:
      c.email === 'smtp'
        ? new SmtpEmailChannel({
            ...smtp,
            timeoutMs: c.timeoutMs,
            rejectUnauthorized: !c.insecureSkipTlsVerify,
            ca: [smtp.ca, c.outboundCa].filter((x): x is string => x !== undefined),
          })
        : outbox('email'),
    // Public https addresses only, plus the operator's SEALPOST_WEBHOOK_ALLOWED_HOSTS (outbound-address.ts).
    webhook:
      c.webhook === 'http'
        ? new HttpWebhookChannel({
            secret: config.webhook.secret ?? derivedWebhookSecret,
            timeoutMs: c.timeoutMs,
            allowedHosts: config.webhook.allowedHosts,
            insecureSkipTlsVerify: c.insecureSkipTlsVerify,
            ca: c.outboundCa,
          })
        : outbox('webhook'),
    // Patients' registered devices (docs/push.md): Web Push with the installation's VAPID keys; FCM and
    // APNs when configured. A Web Push endpoint obeys the webhook address policy.
    push:
      c.push === 'live' && vapidKeys
        ? new PushChannel({
            webpush: new WebPushSender({
              vapidSubject: config.push.vapidSubject,
              vapidKeys,
              allowedHosts: config.webhook.allowedHosts,
              timeoutMs: c.timeoutMs,
              insecureSkipTlsVerify: c.insecureSkipTlsVerify,
              ca: c.outboundCa,
            }),
            ...(config.push.fcm
              ? {
                  fcm: new FcmSender({
                    ...config.push.fcm,
                    timeoutMs: c.timeoutMs,
                    insecureSkipTlsVerify: c.insecureSkipTlsVerify,
                    ca: c.outboundCa,
                  }),
                }
              : {}),
            ...(config.push.apns
              ? {
                  apns: new ApnsSender({
                    ...config.push.apns,
                    timeoutMs: c.timeoutMs,
                    insecureSkipTlsVerify: c.insecureSkipTlsVerify,
                    ca: c.outboundCa,
                  }),
                }
              : {}),
          })
        : pushOutbox(outbox('push')),
    // SEALPOST_INSECURE_SKIP_TLS_VERIFY does not apply: a private gateway CA goes in SEALPOST_OUTBOUND_CA_FILE.
    paging: config.paging.snpp
      ? new SnppPagingChannel({
          ...config.paging.snpp,
          login: config.paging.login,
          maxChars: config.paging.maxChars,
          timeoutMs: c.timeoutMs,
          ca: c.outboundCa,
        })
      : outbox('paging'),
  };
}

/** The dev outbox for pushes: it records the title and notification id, and the device without its secrets. */
function pushOutbox(outbox: Channel): Channel {
  return {
    kind: 'push',
    provider: outbox.provider,
    send: (m, signal) => outbox.send({ ...m, to: describeTarget(m.to), link: undefined }, signal),
  };
}
