import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { LoadResult, LoadSpec } from './load-client.js';

export type { LoadResult, LoadSpec };

export interface PhaseResult extends LoadResult {
  /** CPU time of the server process (this process) over the run, in % of one core. */
  serverCpuPct: number;
  /**
   * CPU seconds of the server process over the run (all its threads): with the notifications
   * answered 2xx, the server CPU per accepted notification. Absent where the server is not this
   * process (the PostgreSQL bench's `sealpost serve` nodes).
   */
  serverCpuSec?: number;
  /** Event-loop utilization of the server's main thread (1 = never idle). */
  serverElu: number;
  /**
   * CPU used by every other process on the machine meanwhile (other test runs, compilers…), in % of
   * one core. Anything well above zero means the numbers of this phase are depressed by contention.
   */
  otherCpuPct: number;
}

/** Busy and total CPU seconds of the whole machine, from /proc/stat (null where there is none). */
export function machineCpu(): { busySec: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy; guest is in user.
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = v[3] + (v[4] ?? 0);
    return { busySec: (total - idle) / 100 }; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
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

  /** The load generator's process id (for per-process CPU sampling). */
  get pid(): number {
    return this.child.pid!;
  }

  /** Runs one load phase and measures this (server) process alongside. */
  async run(spec: LoadSpec): Promise<PhaseResult> {
    const id = ++this.seq;
    const cpu0 = process.cpuUsage();
    const elu0: EventLoopUtilization = performance.eventLoopUtilization();
    const m0 = machineCpu();
    const t0 = performance.now();
    const result = await new Promise<LoadResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, spec });
    });
    const wallSec = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const elu = performance.eventLoopUtilization(elu0);
    const m1 = machineCpu();
    const serverCpuSec = (cpu.user + cpu.system) / 1e6;
    const serverCpuPct = (serverCpuSec / wallSec) * 100;
    const machinePct = m0 && m1 ? ((m1.busySec - m0.busySec) / wallSec) * 100 : NaN;
    return {
      ...result,
      serverCpuPct,
      serverCpuSec,
      serverElu: elu.utilization,
      otherCpuPct: Math.max(0, machinePct - serverCpuPct - result.clientCpuPct),
    };
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/**
 * Waits (up to `maxSec`) for a second in which other processes use less than `thresholdPct` of one
 * core, so a phase does not start in the middle of someone's test run. Returns what the last sample saw.
 */
export async function waitForQuiet(maxSec: number, thresholdPct = 20): Promise<number> {
  const deadline = performance.now() + maxSec * 1000;
  let other = NaN;
  do {
    const m0 = machineCpu();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const m1 = machineCpu();
    if (!m0 || !m1) return NaN;
    const wall = (performance.now() - t0) / 1000;
    const own = process.cpuUsage(c0);
    other = ((m1.busySec - m0.busySec - (own.user + own.system) / 1e6) / wall) * 100;
    if (other < thresholdPct) return other;
  } while (performance.now() < deadline);
  return other;
}
