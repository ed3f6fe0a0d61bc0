import type { CodeInfo, MachineInfo } from './machine-info.js';
import type { PhaseResult } from './load.js';
import type { CpuShare } from './proc-cpu.js';
import type { PgServerInfo } from './pg-support.js';
import type { PgBenchOptions } from './postgres.js';
import type { QueueComparison, QueuePhase } from './queue-vs-pgboss.js';

export interface NodeCountResult {
  nodes: number;
  database: string;
  accept: { load: PhaseResult; cpu: CpuShare; committed: number };
  /** The accept backlog, delivered after the nodes restarted with workers on; counted from the moment all were ready. */
  drain: { queued: number; afterReady: number; seconds: number; perSec: number; timedOut: boolean; cpu: CpuShare };
  endToEnd: { load: PhaseResult; cpu: CpuShare; accepted: number; delivered: number; seconds: number; perSec: number; tailSeconds: number; timedOut: boolean; tailCpu: CpuShare };
  finalDeliveryStatuses: Record<string, number>;
  auditLog: { appended: number; integrated: number; checkpoints: number };
}

export interface PgBenchResults {
  startedAt: string;
  finishedAt: string;
  options: PgBenchOptions;
  machine: MachineInfo;
  code: CodeInfo;
  postgres: PgServerInfo;
  nodeCounts: NodeCountResult[];
  queue: QueueComparison | null;
}

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '—');
const pct = (n: number) => (Number.isFinite(n) ? `${Math.round(n)}%` : '—');
const ms = (n: number) => (Number.isFinite(n) ? `${n}` : '—');
const x = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '—');
const mark = (ok: boolean) => (ok ? 'met' : '**missed**');

/** "node 1 93%, pg backends 61%, …; machine 190% of 200% (iowait 3%)": largest first, < 2% left out. */
export function cpuLine(c: CpuShare, cores: number): string {
  const parts = Object.entries(c.groups)
    .filter(([, v]) => v >= 2)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${pct(v)}`);
  parts.push(`other processes ${pct(c.other)}`);
  return `${parts.join(', ')}; machine ${pct(c.machineBusy)} of ${cores * 100}% (iowait ${pct(c.machineIowait)})`;
}

/** Average active backends per state: "running 1.4, Lock:transactionid (update audit_log_state) 9.8, …". */
export function waitsLine(c: CpuShare): string {
  const w = Object.entries(c.pgWaits ?? {}).filter(([, v]) => v >= 0.1);
  const total = Math.round(w.reduce((a, [, v]) => a + v, 0) * 10) / 10;
  return w.length ? `${total} busy: ${w.slice(0, 5).map(([k, v]) => `${k} ${v}`).join(', ')}${w.length > 5 ? ', …' : ''}` : 'none busy';
}

/** Machine busy ≥ 90% of all cores: the CPU is the limit; which group used most says whose. */
export function saturation(c: CpuShare, cores: number): string {
  const cap = cores * 100;
  const nodes = Object.entries(c.groups).filter(([k]) => k.startsWith('node ')).reduce((a, [, v]) => a + v, 0);
  const pgAll = (c.groups['pg backends'] ?? 0) + (c.groups['pg server'] ?? 0);
  const client = c.groups['load client'] ?? c.groups['bench (queue client)'] ?? 0;
  const share = (v: number) => `${pct((v / c.machineBusy) * 100)}`;
  const split = `Sealpost ${share(nodes || client)} · PostgreSQL ${share(pgAll)}${nodes ? ` · load client ${share(client)}` : ''} · others ${share(c.other + (c.groups['pg other databases'] ?? 0))} of the busy time`;
  if (c.machineBusy >= 0.9 * cap) return `CPU-bound (machine ${pct(c.machineBusy)} of ${cap}%): ${split}`;
  if (c.machineIowait >= 30) return `not CPU-bound (${pct(c.machineBusy)} of ${cap}%), high iowait ${pct(c.machineIowait)}: waiting on disk (commit fsync); ${split}`;
  return `not CPU-bound (${pct(c.machineBusy)} of ${cap}%): latency-bound (round trips, commits, locks); ${split}`;
}

function disturbed(label: string, c: CpuShare): string | null {
  const others = c.other + (c.groups['pg other databases'] ?? 0);
  return others > 25 ? `${label} (${pct(others)} of a core)` : null;
}

export function renderPostgresMarkdown(r: PgBenchResults): string {
  const m = r.machine;
  const o = r.options;
  const L: string[] = [];
  L.push(`## PostgreSQL run ${r.startedAt} → ${r.finishedAt}`);
  L.push('');
  L.push('| Machine | |');
  L.push('|---|---|');
  L.push(`| CPU | ${m.cpuModel}, ${m.cores} cores (every process below shares them: nodes, PostgreSQL, load client) |`);
  L.push(`| RAM | ${m.ramGiB} GiB |`);
  L.push(`| OS | ${m.os} |`);
  L.push(`| Node | ${m.node} |`);
  L.push(`| PostgreSQL | ${r.postgres.version}, same machine, over TCP loopback |`);
  L.push(`| PostgreSQL settings | ${Object.entries(r.postgres.settings).map(([k, v]) => `${k}=${v}`).join(', ')} |`);
  L.push(`| Disk | ${m.tempDir.device}, ${m.tempDir.fsType} (${m.tempDir.mountOptions}); fdatasync of 4 KiB: p50 ${m.fdatasyncMs.p50} ms, p99 ${m.fdatasyncMs.p99} ms |`);
  const dirty = r.code.uncommittedSrcFiles.length;
  L.push(`| Code | commit ${r.code.commit}${dirty ? ` + ${dirty} uncommitted file(s) under src/ (${r.code.uncommittedSrcFiles.join(', ')})` : ''} |`);
  L.push('');

  const nc = r.nodeCounts;
  if (nc.length) {
    L.push(`HTTP: \`sealpost serve\` processes sharing one fresh database per column, pool ${o.poolMax} connections per node; ${o.connections} TLS connections from one autocannon process, split evenly over the nodes; ${o.durationSec} s per phase after ${o.warmupSec} s of warm-up; one \`POST /v1/notifications\` per request.`);
    L.push('');
    const head = nc.map((n) => `${n.nodes} node${n.nodes > 1 ? 's' : ''}`);
    L.push(`| | ${head.join(' | ')} |`);
    L.push(`|---|${nc.map(() => '---:').join('|')}|`);
    const row = (name: string, f: (n: NodeCountResult) => string) => L.push(`| ${name} | ${nc.map(f).join(' | ')} |`);
    row('**Accepted/s** (workers off)', (n) => `**${int(n.accept.load.okPerSec)}**`);
    row('p50 / p99 latency, ms (worst node)', (n) => `${ms(n.accept.load.latencyMs.p50)} / ${ms(n.accept.load.latencyMs.p99)}`);
    row('per node accepted/s', (n) => (n.accept.load.perTarget ?? [{ okPerSec: n.accept.load.okPerSec }]).map((t) => int(t.okPerSec)).join(' + '));
    row('non-2xx / errors', (n) => `${n.accept.load.non2xx} / ${n.accept.load.errors}`);
    row('committed / answered 202', (n) => `${int(n.accept.committed)} / ${int(n.accept.load.ok2xx)}`);
    row('accept CPU (% of one core)', (n) => cpuLine(n.accept.cpu, m.cores));
    row('accept: what saturates', (n) => saturation(n.accept.cpu, m.cores));
    row('accept: active PostgreSQL backends (avg)', (n) => waitsLine(n.accept.cpu));
    row('**Drain** of that backlog, delivered/s (workers on)', (n) => `**${int(n.drain.perSec)}** (${int(n.drain.afterReady)} of ${int(n.drain.queued)} after all nodes were ready, ${n.drain.seconds.toFixed(1)} s${n.drain.timedOut ? ', TIMED OUT' : ''})`);
    row('drain CPU', (n) => cpuLine(n.drain.cpu, m.cores));
    row('**End to end**, delivered/s (workers on)', (n) => `**${int(n.endToEnd.perSec)}** (${int(n.endToEnd.delivered)} in ${n.endToEnd.seconds.toFixed(1)} s${n.endToEnd.timedOut ? ', TIMED OUT' : ''})`);
    row('e2e: accepted/s while delivering', (n) => int(n.endToEnd.load.okPerSec));
    row('e2e: p50 / p99 latency, ms (worst node)', (n) => `${ms(n.endToEnd.load.latencyMs.p50)} / ${ms(n.endToEnd.load.latencyMs.p99)}`);
    row('e2e: non-2xx / errors', (n) => `${n.endToEnd.load.non2xx} / ${n.endToEnd.load.errors}`);
    row('e2e: outbox tail after the load stopped, s', (n) => n.endToEnd.tailSeconds.toFixed(1));
    row('e2e CPU during the load', (n) => cpuLine(n.endToEnd.cpu, m.cores));
    row('e2e: what saturates', (n) => saturation(n.endToEnd.cpu, m.cores));
    row('e2e: active PostgreSQL backends (avg)', (n) => waitsLine(n.endToEnd.cpu));
    row('final delivery statuses', (n) => Object.entries(n.finalDeliveryStatuses).map(([k, v]) => `${k} ${int(v)}`).join(', '));
    row('audit log: appended / integrated / checkpoints', (n) => `${int(n.auditLog.appended)} / ${int(n.auditLog.integrated)} / ${int(n.auditLog.checkpoints)}`);
    L.push('');
    const one = nc.find((n) => n.nodes === 1);
    const two = nc.find((n) => n.nodes === 2);
    if (one && two) {
      const ra = two.accept.load.okPerSec / one.accept.load.okPerSec;
      const re = two.endToEnd.perSec / one.endToEnd.perSec;
      L.push(`2 nodes ÷ 1 node: accepted ${x(ra)}, end to end ${x(re)} (target ≥ 1.6× where the database is not saturated: ${mark(re >= 1.6)}).`);
      L.push('');
    }
  }

  const q = r.queue;
  if (q) {
    const qo = q.options;
    L.push(`Queue alone vs pg-boss ${q.pgBossVersion}: ${int(qo.jobs)} jobs per phase, batches of ${qo.batch}, ${qo.producers} producers and ${qo.consumers} consumers (concurrent async loops in one Node process), pool ${qo.poolMax} connections each, each queue in its own fresh database on the same server, synchronous_commit=${r.postgres.settings.synchronous_commit ?? '?'}.`);
    L.push('');
    L.push('| jobs/s | Sealpost queue | pg-boss | ratio |');
    L.push('|---|---:|---:|---:|');
    const qrow = (name: string, f: (p: { send: QueuePhase; work: QueuePhase; mixed: QueuePhase }) => QueuePhase) => {
      const a = f(q.sealpost);
      const b = f(q.pgBoss);
      L.push(`| ${name} | ${int(a.perSec)} | ${int(b.perSec)} | ${x(a.perSec / b.perSec)} |`);
    };
    qrow('send (insert batches)', (p) => p.send);
    qrow('fetch + complete', (p) => p.work);
    qrow('**mixed** (send, fetch, complete at once)', (p) => p.mixed);
    L.push('');
    for (const [label, s] of [['Sealpost', q.sealpost], ['pg-boss', q.pgBoss]] as const) {
      L.push(`- ${label} CPU — send: ${cpuLine(s.send.cpu, m.cores)}. Fetch+complete: ${cpuLine(s.work.cpu, m.cores)}. Mixed: ${cpuLine(s.mixed.cpu, m.cores)}; ${saturation(s.mixed.cpu, m.cores)}; active backends (avg): ${waitsLine(s.mixed.cpu)}.`);
    }
    const ratio = q.sealpost.mixed.perSec / q.pgBoss.mixed.perSec;
    L.push('');
    L.push(`Target: Sealpost's queue ≥ 1.5× pg-boss (mixed): ${x(ratio)}, ${mark(ratio >= 1.5)}.`);
    L.push('');
  }

  const warn = [
    ...nc.flatMap((n) => [disturbed(`${n.nodes}-node accept`, n.accept.cpu), disturbed(`${n.nodes}-node drain`, n.drain.cpu), disturbed(`${n.nodes}-node end to end`, n.endToEnd.cpu)]),
    ...(q ? (['send', 'work', 'mixed'] as const).flatMap((k) => [disturbed(`queue Sealpost ${k}`, q.sealpost[k].cpu), disturbed(`queue pg-boss ${k}`, q.pgBoss[k].cpu)]) : []),
  ].filter((s): s is string => !!s);
  if (warn.length) {
    L.push(`**Warning:** other processes (including other databases' PostgreSQL backends) used a large share of the CPU during ${warn.join(', ')}; those numbers are depressed.`);
    L.push('');
  }
  return L.join('\n') + '\n';
}
