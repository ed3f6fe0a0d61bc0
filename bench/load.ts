import { fork, type ChildProcess } from 'node:child_process';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { LoadResult, LoadSpec } from './load-client.js';

export type { LoadResult, LoadSpec };

export interface PhaseResult extends LoadResult {
  /** CPU time of the server process (this process) over the run, in % of one core. */
  serverCpuPct: number;
  /** Event-loop utilization of the server's main thread (1 = never idle). */
  serverElu: number;
}

const runTs = fileURLToPath(new URL('../bin/run-ts.js', import.meta.url));
const clientTs = fileURLToPath(new URL('./load-client.ts', import.meta.url));

/** A load-generator child process; the server under test stays in this process. */
export class LoadGenerator {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (r: LoadResult) => void; reject: (e: Error) => void }>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: { id?: number; result?: LoadResult; error?: string }) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error) p?.reject(new Error(`load generator failed: ${m.error}`));
      else p?.resolve(m.result!);
    });
    child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`load generator exited (${code})`));
      this.pending.clear();
    });
  }

  static async start(): Promise<LoadGenerator> {
    const child = fork(runTs, [clientTs], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`load generator exited early (${code})`)));
    });
    return new LoadGenerator(child);
  }

  /** Runs one load phase and measures this (server) process alongside. */
  async run(spec: LoadSpec): Promise<PhaseResult> {
    const id = ++this.seq;
    const cpu0 = process.cpuUsage();
    const elu0: EventLoopUtilization = performance.eventLoopUtilization();
    const t0 = performance.now();
    const result = await new Promise<LoadResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, spec });
    });
    const wallSec = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const elu = performance.eventLoopUtilization(elu0);
    return { ...result, serverCpuPct: ((cpu.user + cpu.system) / 1e6 / wallSec) * 100, serverElu: elu.utilization };
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    await exited;
  }
}
