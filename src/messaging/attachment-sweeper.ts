/** What the sweeper runs (AttachmentService.sweepOrphans). */
export interface OrphanSweep {
  sweepOrphans(): Promise<number>;
}

/**
 * Runs the orphan sweep of attachments (unlinked after 24 hours → deleted) every `intervalMs` on
 * this node, first soon after start. Every node may run it: its deletes are conditional, so two
 * nodes sweeping at once delete each attachment once. A failed round is reported and retried at
 * the next interval.
 */
export class AttachmentSweeper {
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;

  constructor(
    private readonly sweep: OrphanSweep,
    private readonly o: { intervalMs: number; firstDelayMs?: number },
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {}

  start(): void {
    if (this.timer) return;
    this.schedule(this.o.firstDelayMs ?? 60_000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.round;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.round = this.sweep
        .sweepOrphans()
        .then(() => undefined, this.onError)
        .finally(() => {
          this.round = null;
          if (this.timer) this.schedule(this.o.intervalMs);
        });
    }, delayMs);
    this.timer.unref();
  }
}
