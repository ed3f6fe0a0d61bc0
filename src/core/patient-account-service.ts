import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientDataKey, patientRef } from './context.js';
import { AppError, isAppError } from './errors.js';
import { normaliseContact } from './contact-validation.js';
import { removePushRegistrationsInTx } from './push-registration-service.js';
import { PATIENT_ID_PATTERN } from './patient-service.js';
import type { Language, NotificationType } from './domain.js';
import type { Channel } from '../channels/channel.js';
import { numericCode, safeEqualHex } from '../crypto/tokens.js';
import type { PatientNotificationRow } from '../store/repositories/patient-account-repository.js';
import type { StoreTx } from '../store/store.js';

/**
 * What patient sign-in needs of sessions (auth/session-service.ts's SessionService provides it,
 * wired by the composition root): core declares the port, auth implements it.
 */
export interface PatientSessions {
  /** Creates a session in `tx`; the token is returned once and never stored. */
  issue(
    tx: StoreTx,
    s: {
      tenantId: string;
      subjectType: 'patient';
      subjectId: string;
      transport: 'cookie' | 'bearer';
      stage: 'active';
      /** RFC 8176 authentication methods (`otp`). */
      amr: string[];
    },
  ): Promise<{ id: string; token: string; expiresAt: Date }>;
  /** Ends every session of the patient account and revokes its devices; the counts are audited. */
  revokeAll(
    tx: StoreTx,
    tenantId: string,
    subjectType: 'patient',
    subjectId: string,
    reason: string,
  ): Promise<{ sessions: number; devices: number }>;
}

/** The contact a patient signs in with: one of their e-mail addresses or phone numbers. */
export interface SignInContact {
  system: 'email' | 'sms';
  value: string;
}

export interface PatientAccountView {
  id: string;
  patientId: string;
  contact: { system: 'email' | 'sms' };
  status: 'active';
  createdAt: string;
}

export interface PatientNotificationView {
  id: string;
  type: string;
  createdAt: string;
  /** `unread` until the patient (or a portal reader of one of its links) read it. */
  status: 'unread' | 'read' | 'acknowledged';
  title: string;
  body: string;
}

/** Who reads: a signed-in patient account. */
export interface PatientReader {
  tenantId: string;
  accountId: string;
  patientId: string;
  requestId?: string;
  sourceIp?: string;
}

export interface PatientAccountPolicy {
  codeTtlMs: number;
  /** Wrong codes before a challenge is burned. */
  maxAttempts: number;
  /** Codes sent to one contact per window; further starts answer the same and send nothing. */
  codesPerContact: number;
  /** Sign-in starts accepted from one address per window. */
  startsPerIp: number;
  windowMs: number;
}

export const DEFAULT_PATIENT_ACCOUNT_POLICY: PatientAccountPolicy = {
  codeTtlMs: 10 * 60_000,
  maxAttempts: 5,
  codesPerContact: 3,
  startsPerIp: 30,
  windowMs: 15 * 60_000,
};

const PURPOSE = 'patient_otp';
const iso = (ms: number | null) => (ms == null ? null : new Date(Number(ms)).toISOString());

/**
 * Optional patient accounts: staff open one on a contact point already on the patient's record; the
 * patient signs in with that contact and a one-time code sent to it (ASVS 6.6 out-of-band
 * authenticators) and then reads all their own notifications. Start answers never reveal whether an
 * account exists (ASVS 6.3.8); codes are 6 digits, stored as keyed hashes, single use, short-lived,
 * burned after `maxAttempts` wrong answers, and rate-limited per contact and per address.
 */
export class PatientAccountService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly channels: Record<'email' | 'sms', Channel>,
    private readonly sessions: PatientSessions,
    private readonly onSendError: (code: string) => void = () => {},
    private readonly policy: PatientAccountPolicy = DEFAULT_PATIENT_ACCOUNT_POLICY,
  ) {}

  /** Opens an account for a patient on one of their contact points; audited. */
  async open(ctx: RequestContext, patientId: string, contact: SignInContact): Promise<PatientAccountView> {
    const { store, cipher, clock, newId } = this.deps;
    if (!PATIENT_ID_PATTERN.test(patientId)) throw new AppError('SP_PATIENT_INVALID_ID');
    const value = normalise(contact);
    const now = clock();
    const view = await store
      .transaction(async (tx) => {
        const repo = tx.patientAccounts;
        const key =
          (await tx.patients.get(ctx.tenantId, patientId)) &&
          (await patientDataKey(this.deps, tx, ctx.tenantId, patientId));
        if (!key) throw new AppError('SP_PATIENT_NOT_FOUND');
        const bidxs = cipher.blindIndexCandidates(ctx.tenantId, `contact.${contact.system}`, value);
        const onRecord = (await tx.contactPoints.list(ctx.tenantId, patientId)).some(
          (c) => c.system === contact.system && bidxs.includes(c.value_bidx),
        );
        if (!onRecord) throw new AppError('SP_PATIENT_ACCOUNT_CONTACT_UNKNOWN');
        const existing = await repo.byContact(ctx.tenantId, contact.system, bidxs);
        if (
          existing?.status === 'active' ||
          (await repo.ofPatient(ctx.tenantId, patientId)).some((a) => a.status === 'active')
        )
          throw new AppError('SP_PATIENT_ACCOUNT_EXISTS');
        // A disabled account on this contact gives way (its sessions and devices died when it was disabled).
        if (existing) await repo.delete(ctx.tenantId, existing.id);
        const id = newId();
        await repo.insert({
          id,
          tenant_id: ctx.tenantId,
          patient_id: patientId,
          contact_system: contact.system,
          contact_bidx: bidxs[0]!,
          contact_ct: cipher.encrypt(
            key,
            { tenantId: ctx.tenantId, table: 'patient_accounts', rowId: id, field: 'contact' },
            value,
          ),
          status: 'active',
          created_at: now.getTime(),
        });
        const pref = patientRef(this.deps, ctx.tenantId, patientId);
        await audit(tx, ctx, now, {
          action: 'patient_account.opened',
          targetType: 'patient_account',
          targetId: id,
          patientRef: pref,
          details: { channel: contact.system, replaced: existing?.id ?? null },
        });
        return {
          id,
          patientId,
          contact: { system: contact.system },
          status: 'active' as const,
          createdAt: now.toISOString(),
        };
      })
      .catch((e: unknown) => {
        // Two concurrent opens on one contact (PostgreSQL): the unique index decides.
        if (isUniqueViolation(e)) throw new AppError('SP_PATIENT_ACCOUNT_EXISTS');
        throw e;
      });
    await store.durable();
    return view;
  }

  /** Disables the patient's account(s) and ends their sessions and devices at once; audited. */
  async disable(ctx: RequestContext, patientId: string): Promise<{ sessions: number; devices: number }> {
    const { store, clock } = this.deps;
    const now = clock();
    const total = await store.transaction(async (tx) => {
      const active = (await tx.patientAccounts.ofPatient(ctx.tenantId, patientId)).filter((a) => a.status === 'active');
      if (!active.length) throw new AppError('SP_PATIENT_ACCOUNT_NOT_FOUND');
      const sum = { sessions: 0, devices: 0 };
      for (const a of active) {
        await tx.patientAccounts.update(ctx.tenantId, a.id, { status: 'disabled' });
        await tx.challenges.retire(ctx.tenantId, PURPOSE, a.id, now.getTime());
        const r = await this.sessions.revokeAll(tx, ctx.tenantId, 'patient', a.id, 'account_disabled');
        sum.sessions += r.sessions;
        sum.devices += r.devices;
        await audit(tx, ctx, now, {
          action: 'patient_account.disabled',
          targetType: 'patient_account',
          targetId: a.id,
          patientRef: patientRef(this.deps, ctx.tenantId, patientId),
          details: { ...r },
        });
      }
      // A remote wipe: the patient's push registrations (their devices) go with the sessions.
      await removePushRegistrationsInTx(this.deps, tx, ctx, patientId, 'account_disabled');
      return sum;
    });
    await store.durable();
    return total;
  }

  /**
   * Sends a sign-in code when `contact` belongs to an active account and no throttle says otherwise.
   * Resolves the same way in every case. The route answers before calling this, and the message is
   * not awaited either: neither the database work nor a provider's latency may tell a caller that
   * the contact has an account.
   */
  /** Throws the 400 a malformed contact value gets (checked before answering; it tells nothing about accounts). */
  checkContact(contact: SignInContact): void {
    normalise(contact);
  }

  async startSignIn(
    tenantId: string,
    contact: SignInContact,
    meta: { requestId?: string; sourceIp?: string },
  ): Promise<void> {
    const { store, cipher, clock, newId, config } = this.deps;
    const value = normalise(contact);
    const now = clock();
    const p = this.policy;
    const send = await store.transaction(async (tx) => {
      const repo = tx.patientAccounts;
      if (!(await tx.tenants.exists(tenantId))) return null;
      // Per address first, counted for every start alike (so both answers cost one write).
      if (
        (await repo.throttleHit(`patient-otp:ip:${meta.sourceIp ?? 'unknown'}`, now.getTime(), p.windowMs)) >
        p.startsPerIp
      )
        return null;
      const bidxs = cipher.blindIndexCandidates(tenantId, `contact.${contact.system}`, value);
      const account = await repo.byContact(tenantId, contact.system, bidxs);
      if (!account || account.status !== 'active') return null;
      const ctx: RequestContext = { tenantId, actor: `patient-account:${account.id}`, ...meta };
      const pref = patientRef(this.deps, tenantId, account.patient_id);
      const target = { targetType: 'patient_account', targetId: account.id, patientRef: pref };
      // An index left in a retired blind-index form moves to the current one on use.
      if (account.contact_bidx !== bidxs[0]) await repo.update(tenantId, account.id, { contact_bidx: bidxs[0]! });
      const sent = await repo.throttleHit(`patient-otp:contact:${account.id}`, now.getTime(), p.windowMs);
      if (sent > p.codesPerContact) {
        await audit(tx, ctx, now, {
          ...target,
          action: 'patient_auth.code_throttled',
          outcome: 'failure',
          details: { channel: contact.system, requests: sent },
        });
        return null;
      }
      const key = await patientDataKey(this.deps, tx, tenantId, account.patient_id);
      if (!key) return null;
      // One live code per account: a new one supersedes the others, so guesses do not multiply.
      await tx.challenges.retire(tenantId, PURPOSE, account.id, now.getTime());
      const id = newId();
      const code = numericCode(6);
      await tx.challenges.insert({
        id,
        tenant_id: tenantId,
        purpose: PURPOSE,
        subject: account.id,
        challenge: this.codeHash(tenantId, id, code),
        attempts: 0,
        created_at: now.getTime(),
        expires_at: now.getTime() + p.codeTtlMs,
        used_at: null,
      });
      await audit(tx, ctx, now, {
        ...target,
        action: 'patient_auth.code_sent',
        details: { channel: contact.system, challenge: id },
      });
      const to = cipher.decrypt(
        key,
        { tenantId, table: 'patient_accounts', rowId: account.id, field: 'contact' },
        account.contact_ct,
      );
      // Named after the account, so an erasure of the patient can find the outbox copy.
      return { to, code, channel: contact.system, tenantId, deliveryId: `potp-${account.id}-${id}` };
    });
    await store.durable();
    if (!send) return;
    // PHI-free by construction: the organisation, the code and its lifetime; no name, no content.
    const minutes = Math.round(p.codeTtlMs / 60_000);
    const text = `${config.organisationName}: your sign-in code is ${send.code}. It expires in ${minutes} minutes. Do not share it.`;
    void this.channels[send.channel]
      .send(
        {
          deliveryId: send.deliveryId,
          notificationId: send.deliveryId,
          tenantId: send.tenantId,
          channel: send.channel,
          to: send.to,
          subject: 'Sign-in code',
          text,
        },
        AbortSignal.timeout(config.channels.timeoutMs),
      )
      .catch((e: unknown) => this.onSendError((e as { code?: string })?.code ?? 'SP_CHANNEL_SEND_FAILED'));
  }

  /**
   * Checks a code and opens a session. Every failure (no account, no live code, wrong code) is the
   * same SP_AUTH_CODE_INVALID and is audited; a wrong answer is counted in a committed transaction.
   */
  async verifySignIn(
    tenantId: string,
    contact: SignInContact,
    code: string,
    transport: 'cookie' | 'bearer',
    meta: { requestId?: string; sourceIp?: string },
  ): Promise<{ token: string; expiresAt: Date }> {
    const { store, cipher, clock } = this.deps;
    const value = normalise(contact);
    const now = clock();
    const outcome = await store.transaction(async (tx) => {
      const repo = tx.patientAccounts;
      if (!(await tx.tenants.exists(tenantId))) return null;
      const account = await repo.byContact(
        tenantId,
        contact.system,
        cipher.blindIndexCandidates(tenantId, `contact.${contact.system}`, value),
      );
      const ctx: RequestContext = {
        tenantId,
        actor: account ? `patient-account:${account.id}` : 'patient-account:unknown',
        ...meta,
      };
      const target = account
        ? {
            targetType: 'patient_account',
            targetId: account.id,
            patientRef: patientRef(this.deps, tenantId, account.patient_id),
          }
        : {};
      const fail = async (details: Record<string, string | number | boolean>) => {
        await audit(tx, ctx, now, { ...target, action: 'patient_auth.sign_in_failed', outcome: 'failure', details });
        return null;
      };
      if (!account || account.status !== 'active')
        return fail({ reason: account ? 'account_disabled' : 'unknown_contact' });
      const ch = await tx.challenges.live(tenantId, PURPOSE, account.id, now.getTime(), this.policy.maxAttempts);
      if (!ch) return fail({ reason: 'no_live_code' });
      if (!safeEqualHex(ch.challenge, this.codeHash(tenantId, ch.id, code))) {
        const failures = await tx.challenges.countAttempt(ch.id);
        const burned = failures >= this.policy.maxAttempts;
        if (burned) await tx.challenges.use(ch.id, now.getTime());
        return fail({ reason: 'wrong_code', challenge: ch.id, failures, burned });
      }
      if (!(await tx.challenges.use(ch.id, now.getTime()))) return fail({ reason: 'no_live_code' });
      const s = await this.sessions.issue(tx, {
        tenantId,
        subjectType: 'patient',
        subjectId: account.id,
        transport,
        stage: 'active',
        amr: ['otp'],
      });
      await audit(tx, ctx, now, {
        ...target,
        action: 'patient_auth.signed_in',
        details: { session: s.id, challenge: ch.id, transport },
      });
      return s;
    });
    await store.durable();
    if (!outcome) throw new AppError('SP_AUTH_CODE_INVALID');
    return outcome;
  }

  /** The reader's notifications, newest first, decrypted; each one shown is audited as accessed. */
  async listNotifications(
    r: PatientReader,
    page: { limit: number; cursor?: string },
  ): Promise<{ items: PatientNotificationView[]; nextCursor: string | null }> {
    const { store, clock } = this.deps;
    const result = await store.transaction(async (tx) => {
      const now = clock();
      const rows = await tx.patientAccounts.patientNotifications(r.tenantId, r.patientId, now.getTime(), {
        beforeId: page.cursor,
        limit: page.limit + 1,
      });
      const shown = rows.slice(0, page.limit);
      const items = await this.render(tx, r, shown);
      if (!items) return { items: [], nextCursor: null };
      for (const n of items) await this.accessed(tx, r, now, n.id);
      return { items, nextCursor: rows.length > page.limit ? shown[shown.length - 1]!.id : null };
    });
    await store.durable();
    return result;
  }

  /** One of the reader's notifications; the first view marks it read. Another patient's id is "not found". */
  async readNotification(r: PatientReader, id: string): Promise<PatientNotificationView> {
    const { store, clock } = this.deps;
    const view = await store.transaction(async (tx) => {
      const now = clock();
      const { row, item } = await this.openOwn(tx, r, now, id);
      await this.accessed(tx, r, now, id);
      if (!row.read) await this.deps.inbox?.changedInTx(tx, r.tenantId, [r.patientId]);
      return { ...item, status: item.status === 'acknowledged' ? item.status : ('read' as const) };
    });
    await store.durable();
    return view;
  }

  /**
   * The reader acknowledges one of their notifications (read first, if it was not): audited once;
   * acknowledging again changes nothing. Another patient's id is "not found".
   */
  async acknowledgeNotification(r: PatientReader, id: string): Promise<PatientNotificationView> {
    const { store, clock } = this.deps;
    const view = await store.transaction(async (tx) => {
      const now = clock();
      const { row, item, pref } = await this.openOwn(tx, r, now, id);
      if (row.acknowledged_at == null) {
        await tx.notifications.update(id, { acknowledged_at: now.getTime() });
        await audit(tx, ctxOf(r), now, {
          action: 'notification.acknowledged',
          targetType: 'notification',
          targetId: id,
          patientRef: pref,
          details: { via: 'patient_account' },
        });
        await this.deps.inbox?.changedInTx(tx, r.tenantId, [r.patientId]);
      }
      return { ...item, status: 'acknowledged' as const };
    });
    await store.durable();
    return view;
  }

  /**
   * What an open inbox shows without content: how many notifications are unread, the newest one's
   * id, how many are acknowledged, and the patient's language. Not an access of any notification.
   */
  async inboxState(
    r: PatientReader,
  ): Promise<{ total: number; unread: number; newest: string | null; acknowledged: number; language: Language }> {
    const { store, clock } = this.deps;
    const patient = await store.read.patients.get(r.tenantId, r.patientId);
    if (!patient) throw new AppError('SP_PATIENT_NOT_FOUND');
    const state = await store.read.patientAccounts.patientInboxState(r.tenantId, r.patientId, clock().getTime());
    return { ...state, language: patient.language === 'es' ? 'es' : 'en' };
  }

  /** Decrypts and renders as the portal does; null when the patient is gone (erased). */
  /**
   * One of the reader's notifications, decrypted (another patient's id is "not found"), marked read
   * and audited as read if it was not yet. `row.read` is its state before this call.
   */
  private async openOwn(tx: StoreTx, r: PatientReader, now: Date, id: string) {
    const [row] = await tx.patientAccounts.patientNotifications(r.tenantId, r.patientId, now.getTime(), {
      id,
      limit: 1,
    });
    const [item] = (row && (await this.render(tx, r, [row]))) || [];
    if (!row || !item) throw new AppError('SP_NOTIFICATION_NOT_FOUND');
    const pref = patientRef(this.deps, r.tenantId, r.patientId);
    if (!row.read) {
      const deliveries = await tx.patientAccounts.markNotificationRead(id, now.getTime());
      await audit(tx, ctxOf(r), now, {
        action: 'notification.read',
        targetType: 'notification',
        targetId: id,
        patientRef: pref,
        details: { via: 'patient_account', deliveries },
      });
    }
    return { row, item, pref };
  }

  private async render(
    tx: StoreTx,
    r: PatientReader,
    rows: PatientNotificationRow[],
  ): Promise<PatientNotificationView[] | null> {
    const { cipher, templates, config } = this.deps;
    const patient = await tx.patients.get(r.tenantId, r.patientId);
    const key = patient && (await patientDataKey(this.deps, tx, r.tenantId, r.patientId));
    if (!patient || !key) return null;
    return rows.map((n) => {
      const data = cipher.decryptJson(
        key,
        { tenantId: r.tenantId, table: 'notifications', rowId: n.id, field: 'data' },
        n.data_ct,
      );
      const { title, body } = templates.renderSecure(n.type as NotificationType, data, {
        organisation: config.organisationName,
        link: `${config.publicUrl}/v1/me/notifications/${n.id}`,
        language: patient.language as Language,
        timeZone: patient.time_zone,
        expiresHours: config.portal.linkTtlHours,
      });
      const status = n.acknowledged_at != null ? 'acknowledged' : n.read ? 'read' : 'unread';
      return { id: n.id, type: n.type, createdAt: iso(n.created_at)!, status, title, body };
    });
  }

  private accessed(tx: StoreTx, r: PatientReader, now: Date, id: string): Promise<void> {
    return audit(tx, ctxOf(r), now, {
      action: 'notification.accessed',
      targetType: 'notification',
      targetId: id,
      patientRef: patientRef(this.deps, r.tenantId, r.patientId),
      details: { via: 'patient_account' },
    });
  }

  /** Keyed and bound to the challenge id, so a copy of the database does not reveal a code by trying all 10^6. */
  private codeHash(tenantId: string, challengeId: string, code: string): string {
    return this.deps.cipher.blindIndex(tenantId, 'patient.otp', `${challengeId}:${code}`);
  }
}

const ctxOf = (r: PatientReader): RequestContext => ({
  tenantId: r.tenantId,
  actor: `patient-account:${r.accountId}`,
  requestId: r.requestId,
  sourceIp: r.sourceIp,
});

/** The normalised contact, or a validation error naming the field (never the value). */
function normalise(c: SignInContact): string {
  try {
    return normaliseContact(c.system, c.value, 0);
  } catch (e) {
    if (isAppError(e)) throw new AppError(e.code, 'contact.value');
    throw e;
  }
}

function isUniqueViolation(e: unknown): boolean {
  for (let x = e as { code?: unknown; cause?: unknown } | undefined, i = 0; x && i < 5; x = x.cause as typeof x, i++) {
    if (x.code === '23505' || x.code === 'SQLITE_CONSTRAINT_UNIQUE' || x.code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
      return true;
  }
  return false;
}
