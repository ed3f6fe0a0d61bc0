import type { CoreDeps, RequestContext } from './context.js';
import { announce, deliveryEvents } from './events.js';
import { audit, patientDataKey, patientRef } from './context.js';
import { AppError } from './errors.js';
import { organisationNameOf } from './branding-service.js';
import type { ChannelKind, Language, NotificationType } from './domain.js';
import type { Channel } from '../channels/channel.js';
import { hashToken, numericCode, randomToken, safeEqualHex, sha256Hex } from '../crypto/tokens.js';
import type { AccessLinkRow } from '../store/rows.js';
import type { StoreTx } from '../store/store.js';

export interface LinkInfo {
  /** The link's tenant (not secret): whose branding the page shows. */
  tenantId: string;
  language: Language;
  organisation: string;
  attemptsLeft: number;
}

export interface SecureMessage {
  /** The link's tenant: whose branding the page shows. */
  tenantId: string;
  title: string;
  body: string;
  language: Language;
  acknowledged: boolean;
  /** The other notifications a digest nudge carried (delivery-policy.ts), each rendered: oldest first. */
  digest?: { title: string; body: string }[];
}

/**
 * The reader's side of a one-time link: the link alone reveals nothing; the reader must prove who
 * they are (date of birth, or a one-time code sent to a contact point on file). Wrong answers are
 * counted and the link is burned after `maxAttempts`. Every success and failure is audited.
 */
export class PortalService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly channels: Record<ChannelKind, Channel>,
  ) {}

  async open(token: string): Promise<LinkInfo> {
    const { link, language } = await this.usableLink(this.deps.store.read, token);
    return {
      tenantId: link.tenant_id,
      language,
      organisation: this.deps.config.organisationName,
      attemptsLeft: this.deps.config.portal.maxAttempts - link.failed_attempts,
    };
  }

  /**
   * Checks an answer. On success returns a short-lived portal session token and marks the delivery
   * `read`; on failure counts the attempt (committed even though the call then rejects).
   */
  async verify(
    token: string,
    answer: { birthDate?: string; code?: string },
    meta: Pick<RequestContext, 'requestId' | 'sourceIp'>,
  ): Promise<string> {
    const { store, cipher, clock, config } = this.deps;
    // An empty form is a mistake, not a guess: it is refused without costing an attempt.
    if (!answer.code?.trim() && !answer.birthDate?.trim())
      throw new AppError('SP_REQ_VALIDATION', 'birthDate or code is required');
    const outcome = await store.transaction(async (tx) => {
      const { link } = await this.usableLink(tx, token);
      const now = clock();
      const ctx = this.ctx(link, meta);
      let ok = false;
      let method = 'none';
      if (answer.code) {
        method = 'otp';
        ok =
          link.otp_hash != null &&
          Number(link.otp_expires_at) > now.getTime() &&
          safeEqualHex(link.otp_hash, this.otpHash(link, answer.code.trim()));
      } else if (answer.birthDate) {
        method = 'birth_date';
        const p = await tx.patients.get(link.tenant_id, link.patient_id);
        const key = await patientDataKey(this.deps, tx, link.tenant_id, link.patient_id);
        if (p && key) {
          const dob = cipher.decrypt(
            key,
            { tenantId: link.tenant_id, table: 'patients', rowId: link.patient_id, field: 'birth_date' },
            p.birth_date_ct,
          );
          ok = safeEqualHex(sha256Hex(dob), sha256Hex(answer.birthDate.trim()));
        }
      }
      const target = {
        targetType: 'notification',
        targetId: link.notification_id,
        patientRef: patientRef(this.deps, link.tenant_id, link.patient_id),
      };
      if (!ok) {
        const failures = await tx.accessLinks.countFailedAttempt(link.token_hash);
        const burned = failures >= config.portal.maxAttempts;
        if (burned) await tx.accessLinks.update(link.token_hash, { burned_at: now.getTime() });
        await audit(tx, ctx, now, {
          ...target,
          action: 'portal.verification_failed',
          outcome: 'failure',
          details: { method, failures, burned },
        });
        return { ok: false as const, burned };
      }
      const session = randomToken(32);
      await tx.accessLinks.insertPortalSession({
        token_hash: hashToken(session),
        link_hash: link.token_hash,
        tenant_id: link.tenant_id,
        notification_id: link.notification_id,
        expires_at: now.getTime() + config.portal.sessionTtlMinutes * 60_000,
        created_at: now.getTime(),
      });
      // The link is single-use: this verification consumes it (the session it opens stays valid for
      // its short lifetime), and the one-time code may not be replayed.
      await tx.accessLinks.update(link.token_hash, { used_at: now.getTime(), otp_hash: null, otp_expires_at: null });
      const d = await tx.deliveries.get(link.delivery_id);
      if (d && d.read_at == null) {
        const read = ['sent', 'delivered', 'sending'].includes(d.status);
        await tx.deliveries.update(d.id, {
          status: read ? 'read' : d.status,
          read_at: now.getTime(),
          updated_at: now.getTime(),
        });
        if (read)
          await announce(
            this.deps,
            tx,
            deliveryEvents(
              { tenant_id: d.tenant_id, patient_id: d.patient_id, id: d.notification_id },
              [d.id],
              'read',
              now.getTime(),
            ),
          );
      }
      await audit(tx, ctx, now, {
        ...target,
        action: 'portal.verified',
        details: { method, delivery: link.delivery_id },
      });
      await audit(tx, ctx, now, { ...target, action: 'notification.read', details: { delivery: link.delivery_id } });
      return { ok: true as const, session };
    });
    await store.durable();
    if (!outcome.ok) throw new AppError(outcome.burned ? 'SP_PORTAL_LINK_INVALID' : 'SP_PORTAL_VERIFICATION_FAILED');
    return outcome.session;
  }

  /** Sends a 6-digit code (PHI-free text) to the contact point this link was delivered to. */
  async requestCode(token: string, meta: Pick<RequestContext, 'requestId' | 'sourceIp'>): Promise<void> {
    const { store, cipher, clock, config, newId } = this.deps;
    const now = clock();
    const prepared = await store.transaction(async (tx) => {
      const { link } = await this.usableLink(tx, token);
      // At most one code a minute per link, so the link cannot be used to flood a phone.
      if (
        link.otp_expires_at != null &&
        Number(link.otp_expires_at) - config.portal.otpTtlMinutes * 60_000 + 60_000 > now.getTime()
      )
        return null;
      const d = await tx.deliveries.get(link.delivery_id);
      const contact = d && (await tx.contactPoints.get(d.contact_point_id));
      const key = await patientDataKey(this.deps, tx, link.tenant_id, link.patient_id);
      if (!d || !contact || !key) return null;
      const code = numericCode(6);
      await tx.accessLinks.update(link.token_hash, {
        otp_hash: this.otpHash(link, code),
        otp_expires_at: now.getTime() + config.portal.otpTtlMinutes * 60_000,
      });
      await audit(tx, this.ctx(link, meta), now, {
        action: 'portal.code_sent',
        targetType: 'notification',
        targetId: link.notification_id,
        patientRef: patientRef(this.deps, link.tenant_id, link.patient_id),
        details: { channel: contact.system },
      });
      const to = cipher.decrypt(
        key,
        { tenantId: link.tenant_id, table: 'contact_points', rowId: contact.id, field: 'value' },
        contact.value_ct,
      );
      return {
        code,
        to,
        channel: contact.system as ChannelKind,
        tenantId: link.tenant_id,
        notificationId: link.notification_id,
        deliveryId: d.id,
      };
    });
    await store.durable();
    if (!prepared) return;
    const text = `${config.organisationName}: your verification code is ${prepared.code}. It expires in ${config.portal.otpTtlMinutes} minutes.`;
    await this.channels[prepared.channel].send(
      // Named after the delivery whose link asked for it, so an erasure finds its outbox copy by id.
      {
        deliveryId: `otp-${prepared.deliveryId}-${newId()}`,
        notificationId: prepared.notificationId,
        tenantId: prepared.tenantId,
        channel: prepared.channel,
        to: prepared.to,
        subject: 'Verification code',
        text,
      },
      AbortSignal.timeout(config.channels.timeoutMs),
    );
  }

  /** Decrypts and renders the secure message for a verified reader. Each view is audited. */
  async view(
    token: string,
    session: string | undefined,
    meta: Pick<RequestContext, 'requestId' | 'sourceIp'>,
  ): Promise<SecureMessage> {
    const { store, cipher, templates, clock, config } = this.deps;
    const result = await store.transaction(async (tx) => {
      const { link, language } = await this.verifiedLink(tx, token, session);
      const n = await tx.notifications.get(link.tenant_id, link.notification_id);
      const p = await tx.patients.get(link.tenant_id, link.patient_id);
      const key = await patientDataKey(this.deps, tx, link.tenant_id, link.patient_id);
      if (!n || !p || !key) throw new AppError('SP_PORTAL_LINK_INVALID');
      // The message names the organisation as its pages do (its branding, else the configured name).
      const organisation = organisationNameOf(
        await tx.branding.get(link.tenant_id),
        link.tenant_id,
        config.organisationName,
      );
      const data = cipher.decryptJson(
        key,
        { tenantId: link.tenant_id, table: 'notifications', rowId: n.id, field: 'data' },
        n.data_ct,
      );
      const rendered = templates.renderSecure(n.type as NotificationType, data, {
        organisation,
        link: `${config.publicUrl}/m/${token}`,
        language,
        timeZone: p.time_zone,
        expiresHours: config.portal.linkTtlHours,
      });
      await audit(tx, this.ctx(link, meta), clock(), {
        action: 'notification.accessed',
        targetType: 'notification',
        targetId: n.id,
        patientRef: patientRef(this.deps, link.tenant_id, link.patient_id),
      });
      // A digest nudge's link opens every notification it carried (same patient, same verification).
      const digest: { title: string; body: string }[] = [];
      if (link.delivery_id)
        for (const id of await tx.sendLedger.digestMembers(link.tenant_id, link.delivery_id)) {
          const m = await tx.notifications.get(link.tenant_id, id);
          if (!m || m.patient_id !== link.patient_id || m.cancelled_at != null || m.data_ct.length === 0) continue;
          const md = cipher.decryptJson(
            key,
            { tenantId: link.tenant_id, table: 'notifications', rowId: m.id, field: 'data' },
            m.data_ct,
          );
          const r = templates.renderSecure(m.type as NotificationType, md, {
            organisation,
            link: `${config.publicUrl}/m/${token}`,
            language,
            timeZone: p.time_zone,
            expiresHours: config.portal.linkTtlHours,
          });
          digest.push({ title: r.title, body: r.body });
          await audit(tx, this.ctx(link, meta), clock(), {
            action: 'notification.accessed',
            targetType: 'notification',
            targetId: m.id,
            patientRef: patientRef(this.deps, link.tenant_id, link.patient_id),
            details: { digestOf: link.delivery_id },
          });
        }
      return {
        tenantId: link.tenant_id,
        ...rendered,
        language,
        acknowledged: n.acknowledged_at != null,
        ...(digest.length ? { digest } : {}),
      };
    });
    await store.durable();
    return result;
  }

  async acknowledge(
    token: string,
    session: string | undefined,
    meta: Pick<RequestContext, 'requestId' | 'sourceIp'>,
  ): Promise<void> {
    const { store, clock } = this.deps;
    await store.transaction(async (tx) => {
      const { link } = await this.verifiedLink(tx, token, session);
      const n = await tx.notifications.get(link.tenant_id, link.notification_id);
      if (!n || n.acknowledged_at != null) return;
      const now = clock();
      await tx.notifications.update(n.id, { acknowledged_at: now.getTime() });
      await audit(tx, this.ctx(link, meta), now, {
        action: 'notification.acknowledged',
        targetType: 'notification',
        targetId: n.id,
        patientRef: patientRef(this.deps, link.tenant_id, link.patient_id),
        details: { delivery: link.delivery_id },
      });
      await this.deps.inbox?.changedInTx(tx, link.tenant_id, [link.patient_id]);
    });
    await store.durable();
  }

  private async verifiedLink(tx: StoreTx, token: string, session: string | undefined) {
    const l = await this.linkRow(tx, token);
    if (l.link.burned_at != null) throw new AppError('SP_PORTAL_LINK_INVALID');
    const s = session ? await tx.accessLinks.getPortalSession(hashToken(session)) : undefined;
    if (!s || s.link_hash !== l.link.token_hash || Number(s.expires_at) <= this.deps.clock().getTime()) {
      throw new AppError('SP_PORTAL_SESSION_REQUIRED');
    }
    return l;
  }

  /** A link that exists, has not expired, is not burned or used; otherwise one indistinguishable error. */
  private async usableLink(tx: StoreTx, token: string) {
    const l = await this.linkRow(tx, token);
    if (l.link.burned_at != null || l.link.used_at != null) throw new AppError('SP_PORTAL_LINK_INVALID');
    return l;
  }

  private async linkRow(tx: StoreTx, token: string): Promise<{ link: AccessLinkRow; language: Language }> {
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) throw new AppError('SP_PORTAL_LINK_INVALID');
    const link = await tx.accessLinks.get(hashToken(token));
    // Erasure burns its links and empties the notification; only then is the link "gone" (checked
    // for burned links only, so the common path costs no extra query).
    if (
      link?.burned_at != null &&
      (await tx.notifications.get(link.tenant_id, link.notification_id))?.data_ct.length === 0
    ) {
      throw new AppError('SP_PORTAL_LINK_GONE');
    }
    if (!link || Number(link.expires_at) <= this.deps.clock().getTime()) throw new AppError('SP_PORTAL_LINK_INVALID');
    const p = await tx.patients.get(link.tenant_id, link.patient_id);
    if (!p) throw new AppError('SP_PORTAL_LINK_INVALID');
    // The patient's preferred language (patient-preferences.ts), else their record's.
    const preferred = (await tx.preferences.get(link.tenant_id, link.patient_id))?.language;
    return { link, language: (preferred ?? p.language) as Language };
  }

  /** Keyed, so a copy of the database does not reveal a live code by trying all 10^6. */
  private otpHash(link: AccessLinkRow, code: string): string {
    return this.deps.cipher.blindIndex(link.tenant_id, 'portal.otp', `${link.token_hash}:${code}`);
  }

  private ctx(link: AccessLinkRow, meta: Pick<RequestContext, 'requestId' | 'sourceIp'>): RequestContext {
    return { tenantId: link.tenant_id, actor: `patient-link:${link.token_hash.slice(0, 12)}`, ...meta };
  }
}
