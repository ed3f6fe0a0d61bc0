/**
 * Catching up on conversations: pages through a conversation's events after what this device
 * processed, applies them in seq order, records the delivery cursor, then commits the server's
 * pending proposals (a removal becomes effective only once a member commits it).
 */
import type { ClientContext } from './context.js';
import type { Committer } from './committer.js';
import type { EventProcessor } from './event-processor.js';
import { seg } from './http.js';
import type { ConversationEvent } from './wire-types.js';

const PAGE = 100;

export class ConversationSync {
  committer!: Committer;

  constructor(
    private readonly ctx: ClientContext,
    private readonly processor: EventProcessor,
    /** Reports a delivery cursor (over the live socket when open, else POST …/cursor). */
    private readonly ack: (conversationId: string, seq: number) => Promise<void>,
  ) {}

  /** Applies every event after this device's cursor (the caller holds the conversation lock). */
  async catchUp(conversationId: string): Promise<void> {
    const deviceId = this.ctx.keys.device.deviceId;
    const start = (await this.ctx.groups.meta(conversationId))?.processedSeq ?? 0;
    let after = start;
    for (;;) {
      const page = await this.ctx.http.get<{ items: ConversationEvent[]; nextCursor: string | number | null }>(
        `/v1/conversations/${seg(conversationId)}/events?deviceId=${seg(deviceId)}&after=${after}&limit=${PAGE}`,
      );
      for (const ev of page.items) {
        if (ev.seq <= after) continue;
        try {
          await this.processor.process(ev);
        } catch (error) {
          this.ctx.emitter.emit('error', { conversationId, error: error as Error });
        }
        after = ev.seq;
        await this.ctx.groups.updateMeta(conversationId, { processedSeq: after });
      }
      if (page.items.length < PAGE || page.nextCursor === null || page.nextCursor === undefined) break;
    }
    if (after > start) await this.ack(conversationId, after);
  }

  /** Catches up, then commits what the server proposed. Runs under the conversation lock. */
  sync(conversationId: string): Promise<void> {
    return this.ctx.groups.exclusive(conversationId, async () => {
      await this.catchUp(conversationId);
      await this.committer.reconcile(conversationId, false);
    });
  }

  private readonly queued = new Set<string>();

  /**
   * A sync on behalf of a live frame: frames arriving while one is already queued for the
   * conversation add nothing (the queued sync fetches everything new once it runs).
   */
  syncSoon(conversationId: string): Promise<void> {
    if (this.queued.has(conversationId)) return Promise.resolve();
    this.queued.add(conversationId);
    return this.ctx.groups.exclusive(conversationId, async () => {
      this.queued.delete(conversationId);
      await this.catchUp(conversationId);
      await this.committer.reconcile(conversationId, false);
    });
  }

  /** Syncs every conversation of this device that has something new. */
  async syncAll(): Promise<void> {
    const deviceId = this.ctx.keys.device.deviceId;
    const { items } = await this.ctx.http.get<{ items: { conversationId: string; latestSeq: number }[] }>(
      `/v1/messaging/devices/${seg(deviceId)}/conversations`,
    );
    for (const c of items) {
      const meta = await this.ctx.groups.meta(c.conversationId);
      if (!meta || c.latestSeq > meta.processedSeq) await this.sync(c.conversationId);
    }
  }
}
