import { audit, type RequestContext } from '../core/context.js';
import type { Store, StoreTx } from '../store/store.js';
import { archiveOn, setArchive } from './archive-policy.js';

/** A tenant's messaging policy. */
export interface MessagingPolicy {
  /** New conversations must use the post-quantum hybrid suite (X-Wing). */
  requirePostQuantum: boolean;
  /** Lifespan of conversations that set none (null: kept until recalled or deleted). */
  defaultLifespanSeconds: number | null;
  /** The tenant's archive member joins every new conversation (docs/archiver.md); absent in a PUT: unchanged. */
  archive?: boolean;
}

export const DEFAULT_POLICY: MessagingPolicy = { requirePostQuantum: false, defaultLifespanSeconds: null };

export async function readPolicy(tx: StoreTx, tenantId: string): Promise<MessagingPolicy> {
  const row = await tx.messagingPolicies.policy(tenantId);
  const archive = await archiveOn(tx, tenantId);
  return row
    ? {
        requirePostQuantum: row.require_post_quantum === 1,
        defaultLifespanSeconds: row.default_lifespan_seconds,
        archive,
      }
    : { ...DEFAULT_POLICY, archive };
}

/** Reads and changes the tenant's messaging policy (changes audited `messaging.policy.changed`). */
export class MessagingPolicyService {
  constructor(private readonly deps: { store: Store; clock: () => Date }) {}

  get(tenantId: string): Promise<MessagingPolicy> {
    return readPolicy(this.deps.store.read, tenantId);
  }

  async put(ctx: RequestContext, p: MessagingPolicy): Promise<MessagingPolicy> {
    const { store, clock } = this.deps;
    const now = clock();
    await store.transaction(async (tx) => {
      await tx.messagingPolicies.putPolicy({
        tenant_id: ctx.tenantId,
        require_post_quantum: p.requirePostQuantum ? 1 : 0,
        default_lifespan_seconds: p.defaultLifespanSeconds,
        updated_at: now.getTime(),
      });
      if (p.archive !== undefined) await setArchive(tx, ctx.tenantId, p.archive);
      await audit(tx, ctx, now, {
        action: 'messaging.policy.changed',
        targetType: 'tenant',
        targetId: ctx.tenantId,
        details: {
          requirePostQuantum: p.requirePostQuantum,
          defaultLifespanSeconds: p.defaultLifespanSeconds,
          archive: p.archive ?? null,
        },
      });
    });
    await store.durable();
    return this.get(ctx.tenantId);
  }
}
