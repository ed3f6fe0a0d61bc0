import type { Config } from '../config/config.js';
import { LANGUAGES, type Language, type NotificationType } from './domain.js';
import type { NudgePart, TemplateRegistry } from './templates/template-registry.js';
import { SAMPLE_DATA, SAMPLE_TIME_ZONE, sampleLink } from './templates/sample-data.js';

/** Where an installation setting comes from: the SEALPOST_* variable that sets it. */
export interface DeliverySettings {
  reminderOffsetsMinutes: number[];
  quietHours: { start: string; end: string } | null;
  /** Installation-wide (every tenant), set in the server's environment and read at start. */
  scope: 'installation';
  sources: { reminderOffsets: string; quietHours: string };
}

export interface ChannelStatus {
  channel: 'sms' | 'email' | 'webhook' | 'push' | 'paging';
  /** The adapter in use; `dev-outbox` records messages locally instead of sending them. */
  provider: string;
  /** A live provider with everything it needs set (dev-outbox: false, nothing leaves the server). */
  live: boolean;
  /** What is set, as yes/no or non-secret values (never a token, password or key). */
  facts: Record<string, string | number | boolean>;
  /** The SEALPOST_* variables that configure it. */
  variables: string[];
}

export interface TemplatePreview {
  type: NotificationType;
  /** The sample data rendered (invented; never a patient's). */
  sample: Record<string, string | number>;
  organisation: string;
  languages: Record<
    Language,
    { secure: { title: string; body: string }; nudge: Record<NudgePart, string> & { emailSubject: string } }
  >;
}

const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

/**
 * The Settings screen's read side: the installation's delivery settings with where they are set, the
 * channels' configuration status without secrets, and previews of the notification templates with
 * sample data in every language, the secure text beside the PHI-free nudge actually sent.
 */
export class SettingsOverview {
  constructor(private readonly deps: { config: Config; templates: TemplateRegistry }) {}

  delivery(): DeliverySettings {
    const p = this.deps.config.policy;
    return {
      reminderOffsetsMinutes: [...p.reminderOffsetsMinutes].sort((a, b) => b - a),
      quietHours: p.quietHours ? { start: hhmm(p.quietHours.startMinute), end: hhmm(p.quietHours.endMinute) } : null,
      scope: 'installation',
      sources: { reminderOffsets: 'SEALPOST_REMINDER_OFFSETS', quietHours: 'SEALPOST_QUIET_HOURS' },
    };
  }

  channels(): ChannelStatus[] {
    const c = this.deps.config;
    const ch = c.channels;
    return [
      {
        channel: 'sms',
        provider: ch.sms,
        live: ch.sms === 'twilio' && !!(c.twilio.accountSid && c.twilio.authToken && c.twilio.from),
        facts: {
          accountSet: !!c.twilio.accountSid,
          authTokenSet: !!c.twilio.authToken,
          senderSet: !!c.twilio.from,
        },
        variables: [
          'SEALPOST_SMS_PROVIDER',
          'SEALPOST_TWILIO_ACCOUNT_SID',
          'SEALPOST_TWILIO_AUTH_TOKEN',
          'SEALPOST_TWILIO_FROM',
        ],
      },
      {
        channel: 'email',
        provider: ch.email,
        live: ch.email === 'smtp',
        facts: {
          host: c.smtp.host,
          port: c.smtp.port,
          security: c.smtp.security,
          from: c.smtp.from,
          authenticationSet: !!c.smtp.user,
        },
        variables: [
          'SEALPOST_EMAIL_PROVIDER',
          'SEALPOST_SMTP_HOST',
          'SEALPOST_SMTP_PORT',
          'SEALPOST_SMTP_SECURITY',
          'SEALPOST_SMTP_FROM',
        ],
      },
      {
        channel: 'webhook',
        provider: ch.webhook,
        live: ch.webhook === 'http',
        facts: {
          signingSecretSet: !!c.webhook.secret,
          allowedInternalHosts: c.webhook.allowedHosts.length,
          eventWebhookSet: !!c.webhook.events,
        },
        variables: ['SEALPOST_WEBHOOK_PROVIDER', 'SEALPOST_WEBHOOK_SECRET', 'SEALPOST_EVENT_WEBHOOK_URL'],
      },
      {
        channel: 'push',
        provider: ch.push,
        live: ch.push === 'live',
        facts: { webPush: true, fcmSet: !!c.push.fcm, apnsSet: !!c.push.apns },
        variables: [
          'SEALPOST_PUSH_PROVIDER',
          'SEALPOST_VAPID_SUBJECT',
          'SEALPOST_FCM_SERVICE_ACCOUNT',
          'SEALPOST_APNS_KEY',
        ],
      },
      {
        channel: 'paging',
        provider: c.paging.snpp ? 'snpp' : 'dev-outbox',
        live: !!c.paging.snpp,
        facts: { tls: !!c.paging.snpp?.tls, loginSet: !!c.paging.login },
        variables: ['SEALPOST_PAGING_SNPP_URL', 'SEALPOST_PAGING_SNPP_LOGIN'],
      },
    ];
  }

  preview(type: NotificationType): TemplatePreview {
    const { config, templates } = this.deps;
    const sample = SAMPLE_DATA[type];
    const languages = {} as TemplatePreview['languages'];
    for (const language of LANGUAGES) {
      const ctx = {
        organisation: config.organisationName,
        link: sampleLink(config.publicUrl),
        language,
        timeZone: SAMPLE_TIME_ZONE,
        expiresHours: config.portal.linkTtlHours,
      };
      const email = templates.renderNudge(type, 'email', ctx);
      languages[language] = {
        secure: templates.renderSecure(type, sample, ctx),
        nudge: {
          sms: templates.renderNudge(type, 'sms', ctx).text,
          emailSubject: email.subject ?? '',
          email: email.text,
          webhook: templates.renderNudge(type, 'webhook', ctx).text,
          push: templates.renderNudge(type, 'push', ctx).text,
        },
      };
    }
    return { type, sample, organisation: config.organisationName, languages };
  }
}
