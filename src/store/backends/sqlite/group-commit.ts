/**
 * Coalesces many "make it durable" requests into few fsyncs. A caller's promise resolves only after
 * a sync that *started after* the caller asked, so everything it committed before asking is covered.
 */
export class GroupCommit {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(private readonly sync: () => Promise<void>) {}

  flush(): Promise<void> {
    if (!this.running) return this.start();
    // A sync is in flight but may have started before our commit: queue exactly one follow-up sync
    // that every caller arriving meanwhile shares.
    if (!this.next) {
      this.next = this.running.then(
        () => this.start(),
        () => this.start(),
      );
    }
    return this.next;
  }

  private start(): Promise<void> {
    this.next = null;
    const p = this.sync().finally(() => {
      if (this.running === p) this.running = null;
    });
    this.running = p;
    return p;
  }
}
