import { Session } from 'node:inspector/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  label: string;
  file: string;
  /** Milliseconds of samples in the profile (main thread only). */
  sampledMs: number;
  /** Self time by area (see `area`), % of samples. */
  areas: { area: string; pct: number }[];
  /** Self time by function, % of samples. */
  top: { fn: string; pct: number }[];
}

/**
 * Optional per-phase CPU profiles of the server's main thread (`--cpu-prof-dir`), through the
 * inspector so each phase gets its own profile instead of one for the whole run.
 */
export class PhaseProfiler {
  private session: Session | null = null;

  constructor(private readonly dir: string | null) {
    if (dir) mkdirSync(dir, { recursive: true });
  }

  get enabled(): boolean {
    return this.dir !== null;
  }

  async start(): Promise<void> {
    if (!this.dir) return;
    this.session = new Session();
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.setSamplingInterval', { interval: 200 });
    await this.session.post('Profiler.start');
  }

  async stop(label: string): Promise<ProfileSummary | null> {
    if (!this.dir || !this.session) return null;
    const { profile } = (await this.session.post('Profiler.stop')) as { profile: CpuProfile };
    await this.session.post('Profiler.disable');
    this.session.disconnect();
    this.session = null;
    const file = join(this.dir, `${label}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    return summarize(label, file, profile);
  }
}

/**
 * Which part of the stack a frame belongs to, for the "where does the time go" table. Native frames
 * (no script URL: better-sqlite3's statement methods, OpenSSL calls, socket writes) are charged to the
 * area of the nearest JavaScript caller, because their names alone are ambiguous ("run" is both a
 * SQLite statement and a random-bytes job).
 */
export function area(url: string, fn: string, callerUrl: string | null): string {
  if (!url) {
    if (fn === '(garbage collector)') return 'GC';
    if (fn === '(idle)') return 'idle';
    if (fn === '(program)') return 'V8/native (program)';
    if (callerUrl === null) return `native: ${fn || '(anonymous)'}`;
    if (/node_modules\/kysely\/|better-sqlite3|\/src\/store\//.test(callerUrl))
      return 'SQLite (native, via better-sqlite3)';
    if (/^node:(net|internal\/stream)/.test(callerUrl)) return 'socket writes (native: TLS encryption + syscalls)';
    return `${area(callerUrl, '', null)} (native)`;
  }
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1] === 'better-sqlite3' ? 'SQLite (better-sqlite3 JS)' : m[1];
  const src = /\/(src|bench)\/(?:([^/]+)\/)?/.exec(url);
  if (src) return `${src[1]}/${src[2] ?? ''}`;
  if (url.startsWith('node:')) {
    if (/crypto/.test(url)) return 'node: crypto (hash/cipher/random)';
    if (/tls/.test(url)) return 'node: tls';
    if (/http/.test(url)) return 'node: http';
    if (/net|stream/.test(url)) return 'node: net/streams';
    if (/inspector/.test(url)) return 'profiler itself';
    return `node: ${
      url
        .slice(5)
        .replace(/^internal\//, '')
        .split('/')[0]
    }`;
  }
  return url;
}

export function summarize(label: string, file: string, p: CpuProfile): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const callerUrl = (id: number): string | null => {
    for (let q = parent.get(id); q !== undefined; q = parent.get(q)) {
      const u = byId.get(q)!.callFrame.url;
      if (u) return u;
    }
    return null;
  };
  const self = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dt);
    total += dt;
  }
  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const [id, t] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const caller = url ? null : callerUrl(id);
    const a = area(url, functionName, caller);
    areas.set(a, (areas.get(a) ?? 0) + t);
    const where = (u: string) => u.replace(/^.*\/(node_modules|src|bench)\//, '$1/').replace(/^file:\/\//, '');
    const short = url
      ? `${functionName || '(anonymous)'} ${where(url)}:${lineNumber + 1}`
      : `${functionName}${caller ? ` (native, from ${where(caller)})` : ''}`;
    fns.set(short, (fns.get(short) ?? 0) + t);
  }
  const sorted = (m: Map<string, number>) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => ({ k, pct: Math.round((v / total) * 1000) / 10 }));
  return {
    label,
    file,
    sampledMs: Math.round(total / 1000),
    areas: sorted(areas)
      .slice(0, 15)
      .map(({ k, pct }) => ({ area: k, pct })),
    top: sorted(fns)
      .slice(0, 20)
      .map(({ k, pct }) => ({ fn: k, pct })),
  };
}

export function renderProfiles(ps: ProfileSummary[]): string {
  const out: string[] = ['', "### Where the server's main thread spends its time (self time, % of samples)", ''];
  for (const p of ps) {
    out.push(`**${p.label}** (${p.sampledMs} ms sampled; profile: ${p.file})`, '');
    out.push('| area | % |', '|---|---:|');
    for (const a of p.areas) out.push(`| ${a.area} | ${a.pct} |`);
    out.push('', '| function | % |', '|---|---:|');
    for (const f of p.top) out.push(`| \`${f.fn}\` | ${f.pct} |`);
    out.push('');
  }
  return out.join('\n');
}
