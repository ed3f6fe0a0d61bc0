import type { CoreDeps, RequestContext } from '../core/context.js';
import { audit } from '../core/context.js';
import { parseAlertCursor } from './alert-views.js';
import { AppError } from '../core/errors.js';
import type { StoreTx } from '../store/store.js';
import type { EscalationPolicyRow } from '../store/repositories/alert-repository.js';
import { parseTarget, type TargetResolver } from './alert-types.js';
import { BUILT_IN_POLICY, parsePolicyBody, policyTargets, type PolicyBody } from './escalation-policy.js';

export interface PolicyInput {
  name: string;
  isDefault?: boolean;
  steps: unknown;
  highSteps?: unknown;
  fallbackTargets?: unknown;
}

export interface PolicyView extends PolicyBody {
  id: string;
  name: string;
  isDefault: boolean;
  createdAt: string;
  updatedAt: string;
}

const view = (r: EscalationPolicyRow): PolicyView => ({
  id: r.id,
  name: r.name,
  isDefault: Number(r.is_default) === 1,
  ...(JSON.parse(r.body) as PolicyBody),
  createdAt: new Date(Number(r.created_at)).toISOString(),
  updatedAt: new Date(Number(r.updated_at)).toISOString(),
});

/**
 * Escalation policies of a tenant: validated whole (shape, channels, waits, and every target checked
 * against the directory) before anything is written; at most one default; every change audited.
 */
export class EscalationPolicyService {
  constructor(
    private readonly core: CoreDeps,
    private readonly resolver: TargetResolver,
  ) {}

  /** The built-in policy a tenant without a default uses. */
  builtIn(): PolicyBody {
    return BUILT_IN_POLICY;
  }

  create(ctx: RequestContext, input: PolicyInput): Promise<PolicyView> {
    return this.write(ctx, null, input);
  }

  replace(ctx: RequestContext, id: string, input: PolicyInput): Promise<PolicyView> {
    return this.write(ctx, id, input);
  }

  private async write(ctx: RequestContext, id: string | null, input: PolicyInput): Promise<PolicyView> {
    const body = parsePolicyBody(input);
    const name = input.name.trim();
    if (!name || name.length > 100) throw new AppError('SP_ALERT_POLICY_INVALID', 'name');
    const { store, clock, newId } = this.core;
    const row = await store.transaction(async (tx) => {
      const now = clock().getTime();
      for (const t of policyTargets(body)) await this.resolver.checkInTx(tx, ctx.tenantId, parseTarget(t));
      const prior = id ? await tx.alerts.getPolicy(ctx.tenantId, id) : undefined;
      if (id && !prior) throw new AppError('SP_ALERT_POLICY_NOT_FOUND');
      if (input.isDefault) await tx.alerts.clearDefault(ctx.tenantId);
      const fields = { name, is_default: input.isDefault ? 1 : 0, body: JSON.stringify(body), updated_at: now };
      const rowId = id ?? newId();
      if (prior) await tx.alerts.updatePolicy(ctx.tenantId, rowId, fields);
      else await tx.alerts.insertPolicy({ id: rowId, tenant_id: ctx.tenantId, created_at: now, ...fields });
      await audit(tx, ctx, new Date(now), {
        action: prior ? 'escalation_policy.updated' : 'escalation_policy.created',
        targetType: 'escalation_policy',
        targetId: rowId,
        details: { isDefault: !!input.isDefault, steps: body.steps.length, highSteps: body.highSteps?.length ?? 0 },
      });
      return (await tx.alerts.getPolicy(ctx.tenantId, rowId))!;
    });
    await store.durable();
    return view(row);
  }

  async get(ctx: RequestContext, id: string): Promise<PolicyView> {
    const r = await this.core.store.read.alerts.getPolicy(ctx.tenantId, id);
    if (!r) throw new AppError('SP_ALERT_POLICY_NOT_FOUND');
    return view(r);
  }

  /** Oldest first, `limit` per page; `nextCursor` (`<created_at ms>.<id>`) fetches the next page. */
  async list(
    ctx: RequestContext,
    o: { limit: number; cursor?: string },
  ): Promise<{ items: PolicyView[]; nextCursor: string | null }> {
    const rows = await this.core.store.read.alerts.listPolicies(ctx.tenantId, {
      after: parseAlertCursor(o.cursor),
      limit: o.limit + 1,
    });
    const page = rows.slice(0, o.limit);
    const last = page[page.length - 1];
    return {
      items: page.map(view),
      nextCursor: rows.length > o.limit && last ? `${Number(last.created_at)}.${last.id}` : null,
    };
  }

  /** Deletes a policy; live alerts keep the copy they took at trigger time. */
  async remove(ctx: RequestContext, id: string): Promise<void> {
    const { store, clock } = this.core;
    await store.transaction(async (tx: StoreTx) => {
      if (!(await tx.alerts.deletePolicy(ctx.tenantId, id))) throw new AppError('SP_ALERT_POLICY_NOT_FOUND');
      await audit(tx, ctx, clock(), {
        action: 'escalation_policy.deleted',
        targetType: 'escalation_policy',
        targetId: id,
      });
    });
    await store.durable();
  }
}
