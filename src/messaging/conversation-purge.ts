import type { ConversationDeps } from './conversation-access.js';
import { readPolicy } from './messaging-policy.js';
import { syncPatientConversation } from './conversation-roster.js';

export interface SweepResult {
  /** Events whose ciphertext was dropped. */
  purged: number;
  attachments: number;
}

const BATCH = 500;

/**
 * The lifespan sweep: events older than their conversation's lifespan (or the tenant's default)
 * lose their ciphertext (data → null; the event and its hash stay, so order and replay refusal
 * hold) and their attachments, audited `conversation.purged` with counts. The same pass brings
 * patient conversations in line with care teams changed since. Idempotent, so nodes may overlap.
 */
export class ConversationSweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = true;

  constructor(
    private readonly deps: ConversationDeps,
    private readonly o: { intervalMs: number; onError?: (e: unknown) => void } = { intervalMs: 60_000 },
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass over every tenant. */
  async sweep(): Promise<SweepResult> {
    const { store, clock } = this.deps;
    const total: SweepResult = { purged: 0, attachments: 0 };
    for (const tenantId of await store.read.tenants.listIds()) {
      const policy = await readPolicy(store.read, tenantId);
      for (const conv of await store.read.conversations.listAll(tenantId)) {
        if (conv.kind === 'patient')
          await syncPatientConversation(this.deps, { tenantId, actor: 'system:messaging' }, tenantId, conv.id);
        const lifespan = conv.lifespan_seconds ?? policy.defaultLifespanSeconds;
        if (lifespan === null) continue;
        const now = clock();
        const before = now.getTime() - lifespan * 1000;
        for (;;) {
          const r = await store.transaction(async (tx) => {
            const seqs = await tx.conversationEvents.purgeable(tenantId, conv.id, before, BATCH);
            if (!seqs.length) return null;
            const purged = await tx.conversationEvents.purge(tenantId, conv.id, seqs, now.getTime());
            const attachments = await this.deps.attachments.deleteForMessages(tx, tenantId, conv.id, seqs);
            if (purged)
              await tx.audit.append({
                tenantId,
                at: now,
                actor: 'system:messaging',
                action: 'conversation.purged',
                outcome: 'success',
                targetType: 'conversation',
                targetId: conv.id,
                details: { events: purged, attachments, throughSeq: seqs[seqs.length - 1], lifespanSeconds: lifespan },
              });
            return { purged, attachments, n: seqs.length };
          });
          if (!r) break;
          total.purged += r.purged;
          total.attachments += r.attachments;
          if (r.n < BATCH) break;
        }
      }
    }
    return total;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.sweep()
        .catch((e: unknown) => this.o.onError?.(e))
        .finally(() => {
          this.running = null;
          this.schedule();
        });
    }, this.o.intervalMs);
    this.timer.unref?.();
  }
}
