import type { CoreDeps, RequestContext } from './context.js';
import { audit, patientDataKey, patientRef } from './context.js';
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
}

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

  /** Administrator alerts, newest first (identifiers only). */
  async listAlerts(
    ctx: RequestContext,
    o: { limit: number; cursor?: string; openOnly: boolean },
  ): Promise<{ items: AlertView[]; nextCursor: string | null }> {
    const rows = await this.deps.store.read.access.listAlerts(
      ctx.tenantId,
      parseCursor(o.cursor),
      o.limit + 1,
      o.openOnly,
    );
    const page = rows.slice(0, o.limit);
    return { items: page.map(alertView), nextCursor: rows.length > o.limit ? cursorOf(page[page.length - 1]!) : null };
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
