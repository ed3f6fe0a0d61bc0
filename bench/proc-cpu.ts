import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/**
 * CPU time per group of processes over one phase, from /proc/<pid>/stat (utime + stime of all
 * threads), sampled every `intervalMs` so that processes born during the phase (new pool connections,
 * PostgreSQL backends) are counted from their start. Linux only; elsewhere every figure is NaN.
 */
export interface CpuShare {
  /** Group name → CPU in % of one core over the phase (100 = one core busy all the time). */
  groups: Record<string, number>;
  /** Everything else that ran on the machine, % of one core (machine busy − the groups). */
  other: number;
  /** Machine-wide busy time, % of one core; the machine's capacity is `cores × 100`. */
  machineBusy: number;
  /** Machine-wide iowait, % of one core (time idle cores waited for disk I/O). */
  machineIowait: number;
  wallSec: number;
  /**
   * PostgreSQL phases: average number of the system's active backends per state over the samples
   * (`running`, `Lock:transactionid (update audit_log_state)`, `IO:WALSync`…), from pg_stat_activity.
   */
  pgWaits?: Record<string, number>;
}

const TICK = 100; // USER_HZ on Linux

function procTicks(pid: number): number | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: fields after the last ')' are fixed.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
  } catch {
    return null;
  }
}

/** The command name of a process (`postgres`, `node`…), or null if it is gone. */
export function procComm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

export function allPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return [];
  }
}

function machine(): { busy: number; iowait: number } | null {
  try {
    const v = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - v[3] - (v[4] ?? 0), iowait: v[4] ?? 0 };
  } catch {
    return null;
  }
}

/** Maps the pids of interest to their group at this moment (called at every sample). */
export type Classifier = () => Promise<Map<number, string>> | Map<number, string>;

export class CpuSampler {
  private base = new Map<number, number>();
  private last = new Map<number, { group: string; ticks: number }>();
  private timer: NodeJS.Timeout | null = null;
  private m0: { busy: number; iowait: number } | null = null;
  private t0 = 0;
  private sampling: Promise<void> = Promise.resolve();

  constructor(
    private readonly classify: Classifier,
    private readonly intervalMs = 500,
  ) {}

  async start(): Promise<void> {
    this.base.clear();
    this.last.clear();
    // Every process's ticks now: a pid seen later that is not here was born during the phase (base 0).
    for (const pid of allPids()) {
      const t = procTicks(pid);
      if (t !== null) this.base.set(pid, t);
    }
    this.m0 = machine();
    this.t0 = performance.now();
    await this.sample();
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sample()).catch(() => {});
    }, this.intervalMs);
  }

  private async sample(): Promise<void> {
    const groups = await this.classify();
    for (const [pid, group] of groups) {
      const t = procTicks(pid);
      if (t !== null) this.last.set(pid, { group, ticks: t });
    }
  }

  async stop(): Promise<CpuShare> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.sampling;
    await this.sample();
    const wallSec = (performance.now() - this.t0) / 1000;
    const m1 = machine();
    const groups: Record<string, number> = {};
    for (const [pid, { group, ticks }] of this.last) {
      const used = (ticks - (this.base.get(pid) ?? 0)) / TICK;
      groups[group] = (groups[group] ?? 0) + (used / wallSec) * 100;
    }
    const ours = Object.values(groups).reduce((a, b) => a + b, 0);
    const busy = this.m0 && m1 ? ((m1.busy - this.m0.busy) / TICK / wallSec) * 100 : NaN;
    const iowait = this.m0 && m1 ? ((m1.iowait - this.m0.iowait) / TICK / wallSec) * 100 : NaN;
    return { groups, other: Math.max(0, busy - ours), machineBusy: busy, machineIowait: iowait, wallSec };
  }
}
