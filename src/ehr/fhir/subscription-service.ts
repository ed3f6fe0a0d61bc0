import { isIP } from 'node:net';
import type { CoreDeps, RequestContext } from '../../core/context.js';
import { audit, patientDataKey, patientRef } from '../../core/context.js';
import { AppError } from '../../core/errors.js';
import type { StoreTx } from '../../store/store.js';
import type { FhirSubscriptionRow } from '../../store/repositories/fhir-subscription-repository.js';
import type { FieldRef } from '../../crypto/envelope-cipher.js';
import { OutboundAddressRefused, type OutboundAddressPolicy } from '../../channels/outbound-address.js';
import {
  mergeHeaders,
  toFhirSubscription,
  type SealedSubscription,
  type SubscriptionSpec,
  type SubscriptionView,
} from './subscription.js';
import { subscriptionStatus } from './subscription-notifications.js';
import { topicByUrl } from './subscription-topics.js';
import type { Principal } from '../../auth/principal.js';
import { apiKeyPermissions, rolePermissions, smartScopesPermissions, type Permission } from '../../auth/permissions.js';
import { assertNotificationType, assertPatientAccess, needsRelationship } from '../../auth/patient-access.js';

/** The data key of one subscription (`data_keys.patient_id`), re-wrapped by KEK rotation like any other. */
export const subscriptionKeyName = (id: string) => `subscription:${id}`;
export const sealedRef = (tenantId: string, id: string): FieldRef => ({
  tenantId,
  table: 'fhir_subscriptions',
  rowId: id,
  field: 'data',
});

/** Opens a subscription's sealed part; null when its key is gone. */
export async function unseal(
  deps: CoreDeps,
  tx: StoreTx,
  row: FhirSubscriptionRow,
): Promise<SealedSubscription | null> {
  const key = await patientDataKey(deps, tx, row.tenant_id, subscriptionKeyName(row.id));
  if (!key) return null;
  return JSON.parse(deps.cipher.decrypt(key, sealedRef(row.tenant_id, row.id), row.data_ct)) as SealedSubscription;
}

/** The read permission a full-resource payload of a topic needs (its focus reads, as the REST reads need). */
export function focusReadPermission(resource: string): Permission {
  return resource === 'Communication' ? 'notification.read' : 'appointment.read';
}

/**
 * A subscription acts with the authority of its owner (`created_by`: the API key, SMART client or
 * user that created it or last replaced it). The rest-hook worker asks this before every send:
 * the owner still exists in the tenant, is not revoked, expired or disabled, and still holds
 * `subscription.manage`, the focus read permission of a full-resource payload, and for a filter on
 * a patient or a notification what reading that patient or notification needs (patient.read or
 * notification.read, the notification type, and for a person with a clinical role the care team:
 * a break-glass grant belongs to a session and does not carry over). A SMART client is judged by
 * the scopes it is registered with now. Null when it may; otherwise why not (for the audit entry;
 * no PHI). A locked user keeps their subscriptions (a lock after failed sign-ins is temporary and
 * anyone who knows the address can provoke one); a disabled one does not.
 */
export async function ownerRefusal(
  deps: CoreDeps,
  tx: StoreTx,
  row: FhirSubscriptionRow,
  sealed: SealedSubscription,
): Promise<string | null> {
  const now = deps.clock().getTime();
  const m = /^(api-key|client|user):(.+)$/.exec(row.created_by);
  if (!m) return 'owner-unknown';
  const [, kind, id] = m as unknown as [string, 'api-key' | 'client' | 'user', string];
  let principal: Principal;
  if (kind === 'api-key') {
    const k = await tx.apiKeys.get(id);
    if (!k || k.tenant_id !== row.tenant_id) return 'owner-gone';
    if (k.revoked_at != null) return 'owner-revoked';
    if (k.expires_at != null && Number(k.expires_at) <= now) return 'owner-expired';
    const scopes = k.scopes.split(' ').filter(Boolean);
    principal = {
      kind,
      id,
      tenantId: row.tenant_id,
      actor: row.created_by,
      roles: [],
      scopes,
      permissions: apiKeyPermissions(scopes),
    };
  } else if (kind === 'client') {
    const c = await tx.oauth.clientOf(row.tenant_id, id);
    if (!c) return 'owner-gone';
    if (c.revoked_at != null) return 'owner-revoked';
    const scopes = c.scopes.split(' ').filter(Boolean);
    principal = {
      kind,
      id,
      tenantId: row.tenant_id,
      actor: row.created_by,
      roles: [],
      scopes,
      permissions: smartScopesPermissions(scopes),
    };
  } else {
    const u = await tx.sessions.user(row.tenant_id, id);
    if (!u) return 'owner-gone';
    if (u.status !== 'active' && u.status !== 'locked') return 'owner-disabled';
    const roles = u.roles.split(' ').filter(Boolean) as Principal['roles'];
    principal = {
      kind,
      id,
      tenantId: row.tenant_id,
      actor: row.created_by,
      roles,
      scopes: [],
      permissions: rolePermissions(roles),
    };
  }
  const has = (p: Permission) => principal.permissions.has(p);
  if (!has('subscription.manage')) return 'permission:subscription.manage';
  const topic = topicByUrl(row.topic);
  if (row.payload_content === 'full-resource') {
    const read = focusReadPermission(topic?.resource ?? '');
    if (!has(read)) return `permission:${read}`;
    if (needsRelationship(principal) && sealed.patient === undefined && row.based_on == null) return 'relationship';
  }
  try {
    if (sealed.patient !== undefined) {
      if (!has('patient.read')) return 'permission:patient.read';
      await assertPatientAccess(tx, principal, sealed.patient, now);
    }
    if (row.based_on != null) {
      if (!has('notification.read')) return 'permission:notification.read';
      const n = await tx.access.notificationSubject(row.tenant_id, row.based_on);
      if (n && !(principal.kind === 'api-key' || principal.kind === 'client')) {
        assertNotificationType(principal, n.type);
        await assertPatientAccess(tx, principal, n.patient_id, now);
      }
    }
  } catch (e) {
    if (e instanceof AppError && e.code === 'SP_AUTH_NO_RELATIONSHIP') return 'relationship';
    if (e instanceof AppError && e.code === 'SP_AUTH_FORBIDDEN') return 'permission:notification-type';
    throw e;
  }
  return null;
}

/**
 * FHIR Subscriptions of a tenant: create (status `requested`: the rest-hook worker sends the
 * handshake, then `active`, or `error`), read, list, update (`off` stops it; `requested` again
 * restarts it with a new handshake), delete, `$status`. The endpoint must pass the same outbound
 * address policy as webhooks, now and at every send. Every change is audited (ids and codes).
 */
export class SubscriptionService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly policy: OutboundAddressPolicy,
    /** Tells the local rest-hook worker there is something to send now. */
    private readonly wake: () => void,
    /** The FHIR base URL (`<public URL>/fhir/R4`), for references. */
    readonly base: string,
  ) {}

  async create(ctx: RequestContext, spec: SubscriptionSpec): Promise<Record<string, unknown>> {
    const { store, cipher, clock, newId } = this.deps;
    await this.checkEndpoint(spec.endpoint);
    const id = newId();
    const view = await store.transaction(async (tx) => {
      await this.checkFilters(tx, ctx, spec);
      const now = clock().getTime();
      const dk = await cipher.newDataKey(ctx.tenantId, subscriptionKeyName(id));
      await tx.dataKeys.insert({
        tenant_id: ctx.tenantId,
        patient_id: subscriptionKeyName(id),
        key_id: dk.wrapped.keyId,
        wrapped: dk.wrapped.wrapped,
        created_at: now,
      });
      const sealed = sealedOf(spec, spec.headers);
      await tx.fhirSubscriptions.insert({
        id,
        tenant_id: ctx.tenantId,
        topic: spec.topic.url,
        status: spec.status,
        ...this.columns(ctx, spec),
        data_ct: cipher.encryptJson(dk.key, sealedRef(ctx.tenantId, id), sealed),
        events_since_start: 0,
        events_sent: 0,
        failures: 0,
        error_code: null,
        next_attempt_at: now,
        last_sent_at: null,
        lease_owner: null,
        lease_until: null,
        created_by: ctx.actor,
        created_at: now,
        updated_at: now,
      });
      await this.audit(tx, ctx, 'subscription.created', id, spec, { status: spec.status });
      return this.viewOf(tx, (await tx.fhirSubscriptions.get(ctx.tenantId, id))!);
    });
    await store.durable();
    this.wake();
    return toFhirSubscription(view);
  }

  async read(ctx: RequestContext, id: string): Promise<Record<string, unknown>> {
    const tx = this.deps.store.read;
    const row = await tx.fhirSubscriptions.get(ctx.tenantId, id);
    if (!row) throw new AppError('SP_FHIR_SUBSCRIPTION_NOT_FOUND');
    return toFhirSubscription(await this.viewOf(tx, row));
  }

  /** The tenant's subscriptions (newest first), optionally of some statuses. */
  async search(
    ctx: RequestContext,
    o: { status?: string[]; criteria?: string[]; limit: number },
  ): Promise<Record<string, unknown>[]> {
    const tx = this.deps.store.read;
    const rows = (await tx.fhirSubscriptions.list(ctx.tenantId, 1000)).filter(
      (r) => (!o.status || o.status.includes(r.status)) && (!o.criteria || o.criteria.includes(r.topic)),
    );
    const out = [];
    for (const r of rows.slice(0, o.limit)) out.push(toFhirSubscription(await this.viewOf(tx, r)));
    return out;
  }

  /**
   * Replaces a subscription (its topic cannot change). `off` stops it; `requested`/`active` on a
   * subscription that is off or in error, or a new endpoint, restarts it with a handshake.
   */
  async update(ctx: RequestContext, id: string, spec: SubscriptionSpec): Promise<Record<string, unknown>> {
    const { store, cipher, clock } = this.deps;
    await this.checkEndpoint(spec.endpoint);
    let restart = false;
    const view = await store.transaction(async (tx) => {
      const row = await tx.fhirSubscriptions.get(ctx.tenantId, id);
      if (!row) throw new AppError('SP_FHIR_SUBSCRIPTION_NOT_FOUND');
      if (row.topic !== spec.topic.url)
        throw new AppError(
          'SP_FHIR_SUBSCRIPTION_INVALID',
          'Subscription.criteria: the topic of a subscription cannot change',
        );
      await this.checkFilters(tx, ctx, spec);
      const old = await unseal(this.deps, tx, row);
      const key = await patientDataKey(this.deps, tx, ctx.tenantId, subscriptionKeyName(id));
      if (!old || !key) throw new AppError('SP_FHIR_SUBSCRIPTION_NOT_FOUND');
      const headers = mergeHeaders(spec.headers, old.headers);
      const now = clock().getTime();
      let status = row.status;
      if (spec.status === 'off') status = 'off';
      else if (row.status === 'off' || row.status === 'error' || old.endpoint !== spec.endpoint) status = 'requested';
      restart = status === 'requested' && row.status !== 'requested';
      await tx.fhirSubscriptions.update(ctx.tenantId, id, {
        status,
        ...this.columns(ctx, spec),
        data_ct: cipher.encryptJson(key, sealedRef(ctx.tenantId, id), sealedOf(spec, headers)),
        // From now on the subscription acts for whoever replaced it (the route checked their authority).
        created_by: ctx.actor,
        ...(restart ? { failures: 0, error_code: null, next_attempt_at: now } : {}),
        updated_at: now,
      });
      await this.audit(tx, ctx, 'subscription.updated', id, spec, { status, from: row.status });
      return this.viewOf(tx, (await tx.fhirSubscriptions.get(ctx.tenantId, id))!);
    });
    await store.durable();
    if (restart) this.wake();
    return toFhirSubscription(view);
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    const { store } = this.deps;
    await store.transaction(async (tx) => {
      const row = await tx.fhirSubscriptions.get(ctx.tenantId, id);
      if (!row) throw new AppError('SP_FHIR_SUBSCRIPTION_NOT_FOUND');
      await tx.fhirSubscriptions.delete(ctx.tenantId, id);
      await audit(tx, ctx, this.deps.clock(), {
        action: 'subscription.deleted',
        targetType: 'subscription',
        targetId: id,
        details: { status: row.status },
      });
    });
    await store.durable();
  }

  /**
   * `$status` (IG OperationDefinition backport-subscription-status): one SubscriptionStatus
   * (type `query-status`) per subscription, in a `searchset` Bundle.
   */
  async status(ctx: RequestContext, o: { ids?: string[]; status?: string[] }): Promise<Record<string, unknown>> {
    const tx = this.deps.store.read;
    let rows: FhirSubscriptionRow[];
    if (o.ids) {
      rows = [];
      for (const id of o.ids) {
        const r = await tx.fhirSubscriptions.get(ctx.tenantId, id);
        if (r) rows.push(r);
      }
    } else rows = await tx.fhirSubscriptions.list(ctx.tenantId, 1000);
    if (o.status) rows = rows.filter((r) => o.status!.includes(r.status));
    const entry = rows.map((r) => ({
      fullUrl: `urn:uuid:${this.deps.newId()}`,
      resource: subscriptionStatus(
        {
          base: this.base,
          subscriptionId: r.id,
          topic: r.topic,
          status: r.status,
          eventsSinceStart: r.events_since_start,
          errorCode: r.error_code,
        },
        'query-status',
        [],
        'empty',
      ),
      search: { mode: 'match' },
    }));
    return { resourceType: 'Bundle', type: 'searchset', total: entry.length, ...(entry.length ? { entry } : {}) };
  }

  /** Patient filter: a patient of this tenant; based-on: a notification of this tenant. */
  private async checkFilters(tx: StoreTx, ctx: RequestContext, spec: SubscriptionSpec): Promise<void> {
    if (spec.filters.patient !== undefined && !(await tx.patients.get(ctx.tenantId, spec.filters.patient)))
      throw new AppError('SP_PATIENT_NOT_FOUND', 'filter criteria: patient');
    if (spec.filters.basedOn !== undefined && !(await tx.notifications.get(ctx.tenantId, spec.filters.basedOn)))
      throw new AppError('SP_NOTIFICATION_NOT_FOUND', 'filter criteria: based-on');
  }

  /**
   * The webhook address policy, now: https (plain http only to an allowed loopback host), an
   * IP-literal host checked, a host name resolved and every address checked. A name that does not
   * resolve now is accepted (each send resolves and checks again); a refused one is not.
   */
  private async checkEndpoint(endpoint: string): Promise<void> {
    const url = new URL(endpoint);
    try {
      this.policy.assertUrl(url);
    } catch (e) {
      if (e instanceof OutboundAddressRefused)
        throw new AppError(
          'SP_FHIR_SUBSCRIPTION_ENDPOINT_REFUSED',
          'Subscription.channel.endpoint: not allowed by the outbound address policy',
        );
      throw e;
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host)) return;
    const refused = await new Promise<boolean>((resolve) =>
      this.policy.lookup(host, { all: true }, (err) => resolve(err instanceof OutboundAddressRefused)),
    );
    if (refused)
      throw new AppError(
        'SP_FHIR_SUBSCRIPTION_ENDPOINT_REFUSED',
        'Subscription.channel.endpoint: not allowed by the outbound address policy',
      );
  }

  private columns(ctx: RequestContext, spec: SubscriptionSpec) {
    return {
      patient_ref: spec.filters.patient ? patientRef(this.deps, ctx.tenantId, spec.filters.patient) : null,
      status_filter: spec.filters.status ? spec.filters.status.join(',') : null,
      based_on: spec.filters.basedOn ?? null,
      payload_content: spec.payloadContent,
      heartbeat_seconds: spec.heartbeatSeconds ?? null,
      timeout_seconds: spec.timeoutSeconds ?? null,
      max_count: spec.maxCount,
      end_at: spec.end ?? null,
    };
  }

  private async viewOf(tx: StoreTx, row: FhirSubscriptionRow): Promise<SubscriptionView> {
    const sealed = await unseal(this.deps, tx, row);
    if (!sealed) throw new AppError('SP_FHIR_SUBSCRIPTION_NOT_FOUND');
    return {
      id: row.id,
      status: row.status,
      topic: row.topic,
      errorCode: row.error_code,
      end: row.end_at,
      payloadContent: row.payload_content,
      heartbeatSeconds: row.heartbeat_seconds,
      timeoutSeconds: row.timeout_seconds,
      maxCount: row.max_count,
      updatedAt: row.updated_at,
      sealed,
    };
  }

  private audit(
    tx: StoreTx,
    ctx: RequestContext,
    action: string,
    id: string,
    spec: SubscriptionSpec,
    details: Record<string, string>,
  ): Promise<void> {
    return audit(tx, ctx, this.deps.clock(), {
      action,
      targetType: 'subscription',
      targetId: id,
      ...(spec.filters.patient ? { patientRef: patientRef(this.deps, ctx.tenantId, spec.filters.patient) } : {}),
      details: { topic: spec.topic.key, payload: spec.payloadContent, ...details },
    });
  }
}

function sealedOf(spec: SubscriptionSpec, headers: string[]): SealedSubscription {
  return {
    endpoint: spec.endpoint,
    headers,
    reason: spec.reason,
    filterCriteria: spec.filterCriteria,
    ...(spec.filters.patient ? { patient: spec.filters.patient } : {}),
  };
}
