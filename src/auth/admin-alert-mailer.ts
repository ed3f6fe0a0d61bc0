import type { Logger } from 'pino';
import type { Channel } from '../channels/channel.js';
import type { Store } from '../store/store.js';
import type { PrivacyOversightNotice } from '../core/privacy-alert-service.js';

/** What an alert says, per kind: identifiers and times only, never a patient or a reason (PHI). */
const WHAT: Record<string, string> = {
  break_glass: 'Emergency (break-glass) access to a patient record was granted',
};

/**
 * E-mails every active administrator of the tenant when an alert is raised, so emergency access is
 * seen when it happens rather than when someone next opens the alert list. The message names the
 * alert, its kind, the acting user's id and the time — no patient, no reason (both may be PHI; the
 * reason is read in Sealpost, where that read is itself audited). Sent after the commit; a failed
 * send is logged (ids only) and the alert stays in `GET /v1/security-alerts`.
 */
export class AdminAlertMailer {
  constructor(
    private readonly store: Store,
    private readonly email: Channel,
    private readonly o: { organisationName: string; publicUrl: string; timeoutMs: number; newId: () => string },
    private readonly log: Logger,
  ) {}

  async notify(tenantId: string, alert: { id: string; kind: string; actor: string; at: Date }): Promise<number> {
    const admins = await this.store.read.users.activeWithRole(tenantId, 'admin');
    const text =
      `${this.o.organisationName}: ${WHAT[alert.kind] ?? `Alert "${alert.kind}" was raised`} at ${alert.at.toISOString()} by ${alert.actor}. ` +
      `Review alert ${alert.id} in Sealpost (GET ${this.o.publicUrl}/v1/security-alerts).`;
    let sent = 0;
    for (const a of admins) {
      try {
        await this.email.send(
          {
            deliveryId: `alert-${alert.id}-${a.id}`,
            notificationId: `alert-${alert.id}`,
            tenantId,
            channel: 'email',
            to: a.email,
            subject: `Sealpost alert: ${alert.kind}`,
            text,
          },
          AbortSignal.timeout(this.o.timeoutMs),
        );
        sent++;
      } catch (e) {
        this.log.warn(
          { alertId: alert.id, adminId: a.id, code: (e as { code?: string })?.code },
          'alert e-mail not sent',
        );
      }
    }
    return sent;
  }

  /**
   * Tells the tenant's privacy officers and administrators that privacy monitoring raised an alert:
   * its id and score only. No subject, no reason, no patient: the reasons are read in Sealpost,
   * where reading them (the alert's detail) is itself on the record. The alert's own subject is
   * never told: a privacy officer or administrator under review learns of it from a colleague.
   */
  async notifyPrivacyAlert(tenantId: string, alert: { id: string; score: number; subject: string }): Promise<number> {
    const text =
      `${this.o.organisationName}: a privacy alert (score ${Math.round(alert.score)}) was raised. ` +
      `Open the console to review it (alert ${alert.id}, GET ${this.o.publicUrl}/v1/privacy/alerts/${alert.id}); ` +
      `opening it is recorded in the audit log.`;
    return this.toPrivacyReviewers(tenantId, [alert.subject], `privacy-${alert.id}`, 'Sealpost privacy alert', text);
  }

  /**
   * Tells the tenant's privacy officers and administrators, except the one who did it (and, for a
   * closed alert, its subject), that the monitor was quieted: a suppression rule created, or an alert
   * closed as a false positive. Ids, a detector id and times only (the suppression's reason, the
   * closing note and the alert's subject stay in Sealpost).
   */
  async notifyPrivacyOversight(tenantId: string, n: PrivacyOversightNotice): Promise<number> {
    const org = this.o.organisationName;
    const base = `${this.o.publicUrl}/v1/privacy`;
    const [subject, text, ref] =
      n.kind === 'suppression_created'
        ? [
            'Sealpost privacy suppression created',
            `${org}: ${n.by} created privacy suppression ${n.id}` +
              `${n.detector ? ` of detector ${n.detector}` : ''}` +
              `${n.namesSubject ? ' for one subject' : ' for every subject'}, in force until ${n.expiresAt}. ` +
              `Findings it matches raise no alert. Review it in the console (GET ${base}/suppressions).`,
            `privacy-suppression-${n.id}`,
          ]
        : [
            'Sealpost privacy alert closed as a false positive',
            `${org}: ${n.by} closed privacy alert ${n.id} as a false positive. ` +
              `Review it in the console (GET ${base}/alerts/${n.id}).`,
            `privacy-closed-${n.id}`,
          ];
    const except = n.kind === 'alert_closed_false_positive' ? [n.by, n.subject] : [n.by];
    return this.toPrivacyReviewers(tenantId, except, ref, subject, text);
  }

  /** E-mails the active privacy officers and administrators of a tenant, except the actors `except`. */
  private async toPrivacyReviewers(
    tenantId: string,
    except: readonly string[],
    ref: string,
    subject: string,
    text: string,
  ): Promise<number> {
    const people = new Map<string, { id: string; email: string }>();
    for (const role of ['privacy_officer', 'admin'])
      for (const u of await this.store.read.users.activeWithRole(tenantId, role))
        if (!except.includes(`user:${u.id}`)) people.set(u.id, u);
    let sent = 0;
    for (const p of people.values()) {
      try {
        await this.email.send(
          {
            deliveryId: `${ref}-${p.id}`,
            notificationId: ref,
            tenantId,
            channel: 'email',
            to: p.email,
            subject,
            text,
          },
          AbortSignal.timeout(this.o.timeoutMs),
        );
        sent++;
      } catch (e) {
        this.log.warn({ ref, userId: p.id, code: (e as { code?: string })?.code }, 'privacy e-mail not sent');
      }
    }
    return sent;
  }
}
