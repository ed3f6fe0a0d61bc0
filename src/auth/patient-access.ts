import type { Store, StoreTx } from '../store/store.js';
import type { RequestContext } from '../core/context.js';
import { AppError } from '../core/errors.js';
import { mayReadNotificationType, notificationCreatePermission } from './permissions.js';
import { CLINICAL_ROLES } from '../core/domain.js';
import type { Principal } from './principal.js';

/**
 * The patient relationship (attribute-based access on top of the permission table): a physician or
 * nurse reads or changes a patient's content only while on the patient's care team, or while a live
 * break-glass grant of theirs for that patient exists. Systems (API keys, SMART clients) are
 * tenant-wide integrations bounded by their scopes; receptionists and billing staff are bounded by
 * their permissions and by notification type; auditors never reach content routes.
 */
export function needsRelationship(p: Principal): boolean {
  return p.kind === 'user' && p.roles.some((r) => CLINICAL_ROLES.includes(r));
}

/** API keys and SMART clients: tenant-wide integrations, bounded by their scopes only. */
function isSystem(p: Principal): boolean {
  return p.kind === 'api-key' || p.kind === 'client';
}

/**
 * Throws 403 SP_AUTH_NO_RELATIONSHIP unless `principal` may touch this patient's content; returns
 * the id of the break-glass grant that allowed it (null when the care team, or no rule, did).
 * With `whenUnknown: 'pass'` a patient id with no registered patient passes (the caller answers 404
 * or 410: there is no content to protect); with `'deny'` (registering a patient) it does not, so a
 * clinician cannot create a record outside their care team. Reads no ciphertext.
 */
export async function assertPatientAccess(
  tx: StoreTx,
  principal: Principal,
  patientId: string,
  now: number,
  whenUnknown: 'pass' | 'deny' = 'pass',
): Promise<string | null> {
  if (!needsRelationship(principal)) return null;
  const access = tx.access;
  if (await access.isCareTeamMember(principal.tenantId, patientId, principal.id)) return null;
  const grant = principal.session
    ? await access.liveGrant(principal.tenantId, principal.id, principal.session.id, patientId, now)
    : undefined;
  if (grant) return grant.id;
  if (whenUnknown === 'pass' && !(await access.patientExists(principal.tenantId, patientId))) return null;
  // Stable code, no detail: whether the patient exists is not the caller's business here.
  throw new AppError('SP_AUTH_NO_RELATIONSHIP');
}

/** 403 SP_AUTH_FORBIDDEN unless the principal may create (and so read or cancel) notifications of this type. */
export function assertNotificationType(
  principal: Principal,
  type: string,
  use: 'create' | 'existing' = 'existing',
): void {
  // Systems are tenant-wide integrations: `notification.read`/`.cancel` cover every type for them
  // (SMART `system/Communication.rs` / `.u`). People read and cancel only the types they may send.
  if (use === 'existing' && isSystem(principal)) return;
  if (!mayReadNotificationType(principal.permissions, type))
    throw new AppError('SP_AUTH_FORBIDDEN', `needs ${notificationCreatePermission(type)}`);
}

export interface PatientAccessDeps {
  store: Store;
  clock: () => Date;
  /** Pseudonymous patient reference for audit entries (core/context.ts patientRef). */
  patientRef: (tenantId: string, patientId: string) => string;
}

/**
 * The checks as routes use them: each resolves the patient behind the request (a patient id, a
 * notification id, an appointment id) without decrypting anything, applies the rules above and
 * returns the request context to hand to the service. An access that only a break-glass grant
 * allowed is put on the record before it happens (`access.break_glass_used`, durable), and the
 * grant id rides in the context so the service's own audit entries name it too.
 */
export class PatientAccess {
  constructor(private readonly deps: PatientAccessDeps) {}

  /** GET/PUT /v1/patients/:id; `register` denies a clinician an id not yet registered. */
  async patient(p: Principal, ctx: RequestContext, patientId: string, register = false): Promise<RequestContext> {
    const grant = await this.check(p, patientId, register ? 'deny' : 'pass');
    return this.withGrants(ctx, grant ? [[grant, patientId]] : []);
  }

  /** New notifications (single or batch): the type of each against the caller's create permissions, then its patient. */
  async newNotifications(
    p: Principal,
    ctx: RequestContext,
    items: readonly { patientId: string; type: string }[],
  ): Promise<RequestContext> {
    for (const i of items) assertNotificationType(p, i.type, 'create');
    if (!needsRelationship(p)) return ctx;
    const grants: [string, string][] = [];
    for (const patientId of new Set(items.map((i) => i.patientId))) {
      const grant = await this.check(p, patientId);
      if (grant) grants.push([grant, patientId]);
    }
    return this.withGrants(ctx, grants);
  }

  /**
   * An existing notification (status, cancel, proof). `checkType` is false only for proofs without
   * content, which hold identifiers, hashes and signatures (auditors read those).
   */
  async notification(p: Principal, ctx: RequestContext, id: string, checkType = true): Promise<RequestContext> {
    // Integrations read every notification of their tenant: no lookup on their (busiest) path.
    if (isSystem(p)) return ctx;
    const n = await this.deps.store.read.access.notificationSubject(p.tenantId, id);
    if (!n) return ctx; // the service answers 404
    if (checkType) assertNotificationType(p, n.type);
    const grant = await this.check(p, n.patient_id);
    return this.withGrants(ctx, grant ? [[grant, n.patient_id]] : []);
  }

  /** An appointment by its external id, and (booking or moving) the patient named in the body. */
  async appointment(
    p: Principal,
    ctx: RequestContext,
    externalId: string,
    bodyPatientId?: string,
  ): Promise<RequestContext> {
    if (!needsRelationship(p)) return ctx;
    const grants: [string, string][] = [];
    const existing = await this.deps.store.read.access.appointmentPatient(p.tenantId, externalId);
    for (const patientId of new Set([existing, bodyPatientId].filter((x): x is string => x !== undefined))) {
      const grant = await this.check(p, patientId);
      if (grant) grants.push([grant, patientId]);
    }
    return this.withGrants(ctx, grants);
  }

  /**
   * assertPatientAccess, with the refused patient's pseudonymous reference on the error: the
   * `access.denied` audit entry names whose record was refused (privacy monitoring), the answer does not.
   */
  private async check(p: Principal, patientId: string, whenUnknown: 'pass' | 'deny' = 'pass'): Promise<string | null> {
    try {
      return await assertPatientAccess(this.deps.store.read, p, patientId, this.now(), whenUnknown);
    } catch (e) {
      if (e instanceof AppError && e.code === 'SP_AUTH_NO_RELATIONSHIP' && !e.patientRef)
        throw new AppError(e.code, e.detail, { patientRef: this.deps.patientRef(p.tenantId, patientId) });
      throw e;
    }
  }

  private now(): number {
    return this.deps.clock().getTime();
  }

  private async withGrants(
    ctx: RequestContext,
    grants: [grantId: string, patientId: string][],
  ): Promise<RequestContext> {
    if (!grants.length) return ctx;
    const { store, clock, patientRef } = this.deps;
    const byPatient: Record<string, string> = {};
    await store.transaction(async (tx) => {
      for (const [grantId, patientId] of grants) {
        const ref = patientRef(ctx.tenantId, patientId);
        byPatient[ref] = grantId;
        await tx.audit.append({
          tenantId: ctx.tenantId,
          at: clock(),
          actor: ctx.actor,
          action: 'access.break_glass_used',
          outcome: 'success',
          targetType: 'break_glass_grant',
          targetId: grantId,
          patientRef: ref,
          requestId: ctx.requestId,
          sourceIp: ctx.sourceIp,
          details: { breakGlass: grantId },
        });
      }
    });
    await store.durable();
    return { ...ctx, breakGlassGrants: byPatient };
  }
}
