import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientDataKey, patientRef, tenantDataKey } from './context.js';
import { AppError } from './errors.js';
import type { StoreTx } from '../store/store.js';
import type { AdminAlertRow, BreakGlassRow } from '../store/repositories/access-repository.js';

/** The MFA re-authentication break-glass needs (auth/mfa-service.ts implements it). */
export interface StepUpVerifier {
  /**
   * Runs `run` as one second-factor attempt of the session: the attempt is counted (committed) before
   * anything is checked, so parallel guesses get no more evaluations than the session's limit; a
   * `null` from `run` is a wrong factor (audited, counted toward lockout, `code` thrown).
   */
  attempt<T>(
    c: { ctx: RequestContext; userId: string; sessionId: string },
    method: string,
    code: 'SP_AUTH_MFA_FAILED',
    run: (tx: StoreTx) => Promise<T | null>,
  ): Promise<T>;
  /** True when `proof` is a valid, unused second factor of this user; consumes it (single use). */
  verifyStepUp(
    tx: StoreTx,
    ctx: RequestContext,
    userId: string,
    proof: { totp?: string; recoveryCode?: string },
  ): Promise<boolean>;
}

export interface BreakGlassRequest {
  reason: string;
  totp?: string;
  recoveryCode?: string;
}

export interface GrantView {
  id: string;
  userId: string;
  patientId: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  /** Only for callers allowed to read it (administrators); null after the patient was erased. */
  reason?: string | null;
  reviewedAt: string | null;
  reviewedBy: string | null;
  reviewOutcome: 'justified' | 'unjustified' | null;
  /** As `reason`: administrators only, null when none was written or the patient was erased. */
  reviewNote?: string | null;
}

export interface AlertView {
  id: string;
  kind: string;
  actor: string;
  targetType: string;
  targetId: string;
  createdAt: string;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  closedAt: string | null;
  closedBy: string | null;
  /** Administrators only (it may name a patient); null when none was written. */
  closeNote?: string | null;
}

/** The tenant's data key slot that seals alerts' closing notes (free text, may name a patient). */
const NOTES_KEY = 'security-notes';
const noteRef = (tenantId: string, id: string) => ({ tenantId, table: 'admin_alerts', rowId: id, field: 'close_note' });
const reviewRef = (tenantId: string, id: string) => ({
  tenantId,
  table: 'break_glass_grants',
  rowId: id,
  field: 'review_note',
});

const iso = (ms: number | null) => (ms == null ? null : new Date(Number(ms)).toISOString());
type Cursor = { at: number; id: string } | null;

/**
 * Break-glass: time-limited access to a patient outside the care team, for a stated reason, after a
 * fresh second factor (HIPAA 164.312(a)(2)(ii) emergency access procedure). The grant, its audit
 * entry (ids only, never the reason) and an administrator alert commit together; a failed second
 * factor is audited and grants nothing. The reason is free text that may hold PHI, so it is stored
 * encrypted under the patient's data key (erasing the patient shreds it) and shown to administrators only.
 */
export class BreakGlassService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly mfa: StepUpVerifier,
    /** Tells administrators at once (e-mail); called after the grant committed, never awaited by the caller. */
    private readonly onAlert?: (
      tenantId: string,
      alert: { id: string; kind: string; actor: string; at: Date },
    ) => Promise<unknown>,
  ) {}

  /** Grants access, or throws 404 SP_PATIENT_NOT_FOUND / 401 SP_AUTH_MFA_FAILED (audited, nothing granted). */
  async request(
    ctx: RequestContext,
    user: { id: string; sessionId: string },
    patientId: string,
    req: BreakGlassRequest,
  ): Promise<{ grant: GrantView; alertId: string }> {
    const { store, clock, newId, cipher, config } = this.deps;
    const refused = (tx: StoreTx, ref: string) =>
      audit(tx, ctx, clock(), {
        action: 'access.break_glass',
        outcome: 'failure',
        targetType: 'patient',
        targetId: ref,
        patientRef: ref,
        details: { code: 'SP_AUTH_MFA_FAILED' },
      });
    if (req.totp === undefined && req.recoveryCode === undefined) {
      if (!(await store.read.access.patientExists(ctx.tenantId, patientId))) throw new AppError('SP_PATIENT_NOT_FOUND');
      // No factor offered: refused and on the record, but no guess was made, so nothing is counted.
      await store.transaction((tx) => refused(tx, patientRef(this.deps, ctx.tenantId, patientId)));
      await store.durable();
      throw new AppError('SP_AUTH_MFA_FAILED');
    }
    const result = await this.mfa.attempt(
      { ctx, userId: user.id, sessionId: user.sessionId },
      'break_glass',
      'SP_AUTH_MFA_FAILED',
      async (tx) => {
        const key = (await tx.access.patientExists(ctx.tenantId, patientId))
          ? await patientDataKey(this.deps, tx, ctx.tenantId, patientId)
          : null;
        if (!key) throw new AppError('SP_PATIENT_NOT_FOUND');
        const ref = patientRef(this.deps, ctx.tenantId, patientId);
        const now = clock();
        if (!(await this.mfa.verifyStepUp(tx, ctx, user.id, { totp: req.totp, recoveryCode: req.recoveryCode }))) {
          // Committed (the failure is on the record), then refused: nothing else is written.
          await refused(tx, ref);
          return null;
        }
        const id = newId();
        const row: BreakGlassRow = {
          id,
          tenant_id: ctx.tenantId,
          user_id: user.id,
          patient_id: patientId,
          session_id: user.sessionId,
          reason_ct: cipher.encrypt(
            key,
            { tenantId: ctx.tenantId, table: 'break_glass_grants', rowId: id, field: 'reason' },
            req.reason,
          ),
          created_at: now.getTime(),
          expires_at: now.getTime() + config.identity.breakGlassMinutes * 60_000,
          revoked_at: null,
          reviewed_at: null,
          reviewed_by: null,
          review_outcome: null,
          review_note_ct: null,
        };
        await tx.access.insertGrant(row);
        const alertId = newId();
        await tx.access.insertAlert({
          id: alertId,
          tenant_id: ctx.tenantId,
          kind: 'break_glass',
          actor: ctx.actor,
          target_type: 'break_glass_grant',
          target_id: id,
          created_at: now.getTime(),
        });
        await audit(tx, ctx, now, {
          action: 'access.break_glass',
          targetType: 'break_glass_grant',
          targetId: id,
          patientRef: ref,
          details: { expiresAt: iso(row.expires_at), alert: alertId },
        });
        return { grant: grantView(row), alertId };
      },
    );
    void this.onAlert?.(ctx.tenantId, {
      id: result.alertId,
      kind: 'break_glass',
      actor: ctx.actor,
      at: new Date(result.grant.createdAt),
    }).catch(() => undefined);
    return result;
  }

  /**
   * Grants of the tenant, newest first. With `withReasons` the stated reasons are decrypted, and that
   * disclosure is audited before it is answered.
   */
  async listGrants(
    ctx: RequestContext,
    o: { limit: number; cursor?: string; withReasons: boolean },
  ): Promise<{ items: GrantView[]; nextCursor: string | null }> {
    const { store, cipher, clock } = this.deps;
    const rows = await store.read.access.listGrants(ctx.tenantId, parseCursor(o.cursor), o.limit + 1);
    const page = rows.slice(0, o.limit);
    const items = page.map(grantView);
    if (o.withReasons && page.length) {
      await store.transaction(async (tx) => {
        for (const [i, r] of page.entries()) {
          const key = await patientDataKey(this.deps, tx, ctx.tenantId, r.patient_id);
          items[i]!.reason = key
            ? cipher.decrypt(
                key,
                { tenantId: ctx.tenantId, table: 'break_glass_grants', rowId: r.id, field: 'reason' },
                r.reason_ct,
              )
            : null;
          items[i]!.reviewNote =
            key && r.review_note_ct
              ? cipher.decrypt(key, reviewRef(ctx.tenantId, r.id), Buffer.from(r.review_note_ct))
              : null;
        }
        const shown = page.filter((_, i) => items[i]!.reason != null).map((r) => r.id);
        if (shown.length)
          await audit(tx, ctx, clock(), {
            action: 'break_glass.reasons_read',
            targetType: 'break_glass_grant',
            details: { grants: shown },
          });
      });
      await store.durable();
    }
    return { items, nextCursor: rows.length > o.limit ? cursorOf(page[page.length - 1]!) : null };
  }

  /** Ends a live grant before its time (audited); SP_BREAK_GLASS_NOT_FOUND when unknown, expired or already ended. */
  async revoke(ctx: RequestContext, id: string): Promise<GrantView> {
    const { store, clock } = this.deps;
    const row = await store.transaction(async (tx) => {
      const now = clock();
      if (!(await tx.access.revokeGrant(ctx.tenantId, id, now.getTime())))
        throw new AppError('SP_BREAK_GLASS_NOT_FOUND');
      await audit(tx, ctx, now, { action: 'break_glass.revoked', targetType: 'break_glass_grant', targetId: id });
      return (await tx.access.getGrant(ctx.tenantId, id))!;
    });
    await store.durable();
    return grantView(row);
  }

  /**
   * Administrator alerts, newest first (identifiers only). With `withNotes` the closing notes are
   * decrypted, and that read is audited before it is answered.
   */
  async listAlerts(
    ctx: RequestContext,
    o: { limit: number; cursor?: string; openOnly: boolean; withNotes?: boolean },
  ): Promise<{ items: AlertView[]; nextCursor: string | null }> {
    const { store, cipher, clock } = this.deps;
    const rows = await store.read.access.listAlerts(ctx.tenantId, parseCursor(o.cursor), o.limit + 1, o.openOnly);
    const page = rows.slice(0, o.limit);
    const items = page.map(alertView);
    const noted = page.filter((a) => a.close_note_ct);
    if (o.withNotes && noted.length) {
      await store.transaction(async (tx) => {
        const key = await this.notesKey(tx, ctx.tenantId, false);
        for (const [i, a] of page.entries())
          if (key && a.close_note_ct)
            items[i]!.closeNote = cipher.decrypt(key, noteRef(ctx.tenantId, a.id), Buffer.from(a.close_note_ct));
        await audit(tx, ctx, clock(), {
          action: 'alert.notes_read',
          targetType: 'admin_alert',
          details: { alerts: noted.map((a) => a.id) },
        });
      });
      await store.durable();
    }
    return { items, nextCursor: rows.length > o.limit ? cursorOf(page[page.length - 1]!) : null };
  }

  /**
   * The one review of a grant: `justified` or `unjustified` with an optional note (sealed under the
   * patient's data key). An unjustified grant still live ends now; the grant's open alerts close.
   * SP_BREAK_GLASS_NOT_FOUND for an unknown grant, SP_BREAK_GLASS_REVIEWED when it was reviewed.
   */
  async review(
    ctx: RequestContext,
    id: string,
    input: { outcome: 'justified' | 'unjustified'; note?: string },
  ): Promise<GrantView> {
    const { store, clock, cipher } = this.deps;
    const row = await store.transaction(async (tx) => {
      const now = clock().getTime();
      const g = await tx.access.getGrant(ctx.tenantId, id);
      if (!g) throw new AppError('SP_BREAK_GLASS_NOT_FOUND');
      if (g.reviewed_at != null) throw new AppError('SP_BREAK_GLASS_REVIEWED');
      const note = input.note?.trim();
      const key = note ? await patientDataKey(this.deps, tx, ctx.tenantId, g.patient_id) : null;
      const noteCt = key && note ? cipher.encrypt(key, reviewRef(ctx.tenantId, id), note) : null;
      if (!(await tx.access.reviewGrant(ctx.tenantId, id, { at: now, by: ctx.actor, outcome: input.outcome, noteCt })))
        throw new AppError('SP_BREAK_GLASS_REVIEWED');
      const ended =
        input.outcome === 'unjustified' && g.revoked_at == null && Number(g.expires_at) > now
          ? await tx.access.revokeGrant(ctx.tenantId, id, now)
          : false;
      const alertsClosed = await tx.access.closeAlerts(
        ctx.tenantId,
        { targetType: 'break_glass_grant', targetId: id },
        { at: now, by: ctx.actor, noteCt: null },
      );
      // Identifiers and the outcome only: never the note.
      await audit(tx, ctx, new Date(now), {
        action: 'break_glass.reviewed',
        targetType: 'break_glass_grant',
        targetId: id,
        details: { outcome: input.outcome, ended, alertsClosed, note: noteCt != null },
      });
      return (await tx.access.getGrant(ctx.tenantId, id))!;
    });
    await store.durable();
    return grantView(row);
  }

  /** Closes an alert once, with an optional note (sealed); SP_SECURITY_ALERT_NOT_FOUND, SP_SECURITY_ALERT_CLOSED. */
  async close(ctx: RequestContext, id: string, input: { note?: string }): Promise<AlertView> {
    const { store, clock, cipher } = this.deps;
    const row = await store.transaction(async (tx) => {
      const now = clock().getTime();
      const a = await tx.access.getAlert(ctx.tenantId, id);
      if (!a) throw new AppError('SP_SECURITY_ALERT_NOT_FOUND');
      if (a.closed_at != null) throw new AppError('SP_SECURITY_ALERT_CLOSED');
      const note = input.note?.trim();
      const noteCt = note
        ? cipher.encrypt((await this.notesKey(tx, ctx.tenantId, true))!, noteRef(ctx.tenantId, id), note)
        : null;
      if (!(await tx.access.closeAlerts(ctx.tenantId, { id }, { at: now, by: ctx.actor, noteCt })))
        throw new AppError('SP_SECURITY_ALERT_CLOSED');
      await audit(tx, ctx, new Date(now), {
        action: 'alert.closed',
        targetType: 'admin_alert',
        targetId: id,
        details: { note: noteCt != null },
      });
      return (await tx.access.getAlert(ctx.tenantId, id))!;
    });
    await store.durable();
    return alertView(row);
  }

  /** The tenant's key for these notes (context.ts `tenantDataKey`). */
  private notesKey(tx: StoreTx, tenantId: string, create: boolean): Promise<Buffer | null> {
    return tenantDataKey(this.deps, tx, tenantId, NOTES_KEY, create);
  }

  /** Acknowledges an alert (audited once; acknowledging again changes nothing); 404 SP_SECURITY_ALERT_NOT_FOUND. */
  async acknowledge(ctx: RequestContext, id: string): Promise<AlertView> {
    const { store, clock } = this.deps;
    const row = await store.transaction(async (tx) => {
      const now = clock();
      if (await tx.access.acknowledgeAlert(ctx.tenantId, id, now.getTime(), ctx.actor)) {
        await audit(tx, ctx, now, { action: 'alert.acknowledged', targetType: 'admin_alert', targetId: id });
      }
      const a = await tx.access.getAlert(ctx.tenantId, id);
      if (!a) throw new AppError('SP_SECURITY_ALERT_NOT_FOUND');
      return a;
    });
    await store.durable();
    return alertView(row);
  }
}

function grantView(r: BreakGlassRow): GrantView {
  return {
    id: r.id,
    userId: r.user_id,
    patientId: r.patient_id,
    createdAt: iso(r.created_at)!,
    expiresAt: iso(r.expires_at)!,
    revokedAt: iso(r.revoked_at),
    reviewedAt: iso(r.reviewed_at),
    reviewedBy: r.reviewed_by,
    reviewOutcome: r.review_outcome as GrantView['reviewOutcome'],
  };
}

function alertView(a: AdminAlertRow): AlertView {
  return {
    id: a.id,
    kind: a.kind,
    actor: a.actor,
    targetType: a.target_type,
    targetId: a.target_id,
    createdAt: iso(a.created_at)!,
    acknowledgedAt: iso(a.acknowledged_at),
    acknowledgedBy: a.acknowledged_by,
    closedAt: iso(a.closed_at),
    closedBy: a.closed_by,
  };
}

/** Cursors are `<created_at ms>.<id>` of the last item of the previous page. */
function cursorOf(r: { created_at: number; id: string }): string {
  return `${Number(r.created_at)}.${r.id}`;
}

function parseCursor(c: string | undefined): Cursor {
  if (!c) return null;
  const m = /^(\d{1,15})\.([A-Za-z0-9-]{1,64})$/.exec(c);
  if (!m) throw new AppError('SP_REQ_VALIDATION', 'cursor');
  return { at: Number(m[1]), id: m[2]! };
}
