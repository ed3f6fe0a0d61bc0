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
