import type { CodeInfo, MachineInfo } from './machine-info.js';
import type { PhaseResult } from './load.js';
import type { CpuShare } from './proc-cpu.js';
import { contention, type PgServerInfo } from './pg-support.js';
import type { PgBenchOptions } from './postgres.js';
import type { QueueComparison, QueuePhase } from './queue-vs-pgboss.js';

export interface NodeCountResult {
  nodes: number;
  database: string;
  accept: { load: PhaseResult; cpu: CpuShare; committed: number };
  /** The accept backlog, delivered after the nodes restarted with workers on; counted from the moment all were ready. */
  drain: { queued: number; afterReady: number; seconds: number; perSec: number; timedOut: boolean; cpu: CpuShare };
  endToEnd: {
    load: PhaseResult;
    cpu: CpuShare;
    accepted: number;
    delivered: number;
    seconds: number;
    perSec: number;
    tailSeconds: number;
    timedOut: boolean;
    tailCpu: CpuShare;
  };
  finalDeliveryStatuses: Record<string, number>;
  auditLog: { appended: number; integrated: number; checkpoints: number };
}

/** The no-database ceiling under the nodes' load shape (see runCeiling in bench/postgres.ts). */
export interface PgCeilingResult {
  load: PhaseResult;
  /** CPU seconds of the ceiling's process (the bench itself) over the load. */
  cpuSec: number;
  cpuUsPerNotification: number;
}

export interface PgBenchResults {
  startedAt: string;
  finishedAt: string;
  options: PgBenchOptions;
  machine: MachineInfo;
  code: CodeInfo;
  postgres: PgServerInfo;
  ceiling: PgCeilingResult | null;
  nodeCounts: NodeCountResult[];
  queue: QueueComparison | null;
}

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '—');
const pct = (n: number) => (Number.isFinite(n) ? `${Math.round(n)}%` : '—');
const ms = (n: number) => (Number.isFinite(n) ? `${n}` : '—');
const x = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '—');
const plural = (n: number) => `${n} node${n > 1 ? 's' : ''}`;

/** CPU per item, in µs, of the processes that serve it (nodes, PostgreSQL) and of the load client. */
export interface CpuPerItem {
  nodes: number;
  pgBackends: number;
  /** PostgreSQL's own processes (WAL writer, checkpointer, autovacuum of the bench database…). */
  pgServer: number;
  client: number;
  /** Nodes + PostgreSQL backends + PostgreSQL server processes: what the system spends per item. */
  system: number;
}

/** CPU seconds of the groups `pick` selects, summed over phases. */
function cpuSec(cpus: CpuShare[], pick: (group: string) => boolean): number {
  return cpus.reduce(
    (a, c) => a + Object.entries(c.groups).reduce((b, [k, v]) => (pick(k) ? b + (v / 100) * c.wallSec : b), 0),
    0,
  );
}

export function cpuPerItem(cpus: CpuShare[], items: number): CpuPerItem {
  const us = (pick: (g: string) => boolean) => (cpuSec(cpus, pick) * 1e6) / items;
  const nodes = us((g) => g.startsWith('node '));
  const pgBackends = us((g) => g === 'pg backends');
  const pgServer = us((g) => g === 'pg server');
  return {
    nodes,
    pgBackends,
    pgServer,
    client: us((g) => g === 'load client' || g === 'bench (queue client)'),
    system: nodes + pgBackends + pgServer,
  };
}

/** Accept phase: CPU per notification answered 202. */
export const acceptCost = (n: NodeCountResult) => cpuPerItem([n.accept.cpu], n.accept.load.ok2xx);
/** End to end: CPU of the load and of the outbox tail after it, per notification accepted meanwhile (each is delivered once). */
export const e2eCost = (n: NodeCountResult) => cpuPerItem([n.endToEnd.cpu, n.endToEnd.tailCpu], n.endToEnd.accepted);

/** "190% of 200% busy (iowait 3%), other processes 4%". */
function machineLine(c: CpuShare, cores: number): string {
  return `${pct(c.machineBusy)} of ${cores * 100}% busy (iowait ${pct(c.machineIowait)}), other processes ${pct(c.other + (c.groups['pg other databases'] ?? 0))}`;
}

/**
 * Average busy backends per state: "3.2 busy: idle in transaction 1.9, running 0.7, IO:WALSync 0.4, …".
 * Every wait event is listed; idle-in-transaction backends (waiting for their node's next statement,
 * itemised by statement in the JSON) are one figure.
 */
function waitsLine(c: CpuShare): string {
  const grouped = new Map<string, number>();
  for (const [k, v] of Object.entries(c.pgWaits ?? {})) {
    const key = k.startsWith('idle in transaction') ? 'idle in transaction' : k;
    grouped.set(key, (grouped.get(key) ?? 0) + v);
  }
  const w = [...grouped].filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
  const total = w.reduce((a, [, v]) => a + v, 0);
  return w.length ? `${total.toFixed(2)} busy: ${w.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}` : 'none busy';
}

/** Below this many backends on average, Lock:/LWLock: waits count as none (a stray sample). */
const CONTENTION_NONE = 0.05;
const contentionTotal = (c: CpuShare) => contention(c.pgWaits).reduce((a, [, v]) => a + v, 0);
function contentionLine(c: CpuShare): string {
  const w = contention(c.pgWaits);
  return w.length
    ? `${contentionTotal(c).toFixed(2)} (${w.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')})`
    : 'none';
}

function disturbed(label: string, c: CpuShare): string | null {
  const others = c.other + (c.groups['pg other databases'] ?? 0);
  return others > 25 ? `${label} (${pct(others)} of a core)` : null;
}

export interface TargetResult {
  target: string;
  /** The figure judged against `limit` (the worst where several runs are measured). */
  value: number;
  limit: number;
  measured: string;
  /** null: not measured in this run (a part or node count left out). */
  met: boolean | null;
}

/** The stated targets, each from CPU per item (which a busy machine distorts less than throughput). */
export function evaluateTargets(r: PgBenchResults): TargetResult[] {
  const nc = r.nodeCounts;
  const out: TargetResult[] = [];
  const add = (
    target: string,
    limit: number,
    value: number,
    measured: string,
    ok: (v: number) => boolean = (v) => v <= limit,
  ) =>
    out.push({
      target,
      limit,
      value,
      measured: Number.isFinite(value) ? measured : 'not measured',
      met: Number.isFinite(value) ? ok(value) : null,
    });
  const worst = (f: (n: NodeCountResult) => number) => (nc.length ? Math.max(...nc.map(f)) : NaN);

  const ceil = r.ceiling?.cpuUsPerNotification ?? NaN;
  const share = (n: NodeCountResult) => acceptCost(n).nodes - ceil;
  add(
    "Store's share of node CPU ≤ 150 µs per notification (accept: node CPU − no-DB ceiling's, every node count)",
    150,
    worst(share),
    nc.map((n) => `${plural(n.nodes)} ${int(acceptCost(n).nodes)} − ${int(ceil)} = ${int(share(n))} µs`).join('; '),
  );
  add(
    'PostgreSQL backend CPU ≤ 300 µs per notification (accept)',
    300,
    worst((n) => acceptCost(n).pgBackends),
    nc.map((n) => `${plural(n.nodes)} ${int(acceptCost(n).pgBackends)} µs`).join('; '),
  );
  add(
    'PostgreSQL backend CPU ≤ 300 µs per notification (end to end: accept + delivery)',
    300,
    worst((n) => e2eCost(n).pgBackends),
    nc.map((n) => `${plural(n.nodes)} ${int(e2eCost(n).pgBackends)} µs`).join('; '),
  );

  const q = r.queue;
  const qr = q ? q.sealpost.mixed.perSec / q.pgBoss.mixed.perSec : NaN;
  add(
    'Queue ≥ 1.5× pg-boss (mixed jobs/s)',
    1.5,
    qr,
    q ? `${x(qr)} (${int(q.sealpost.mixed.perSec)} vs ${int(q.pgBoss.mixed.perSec)} jobs/s)` : '',
    (v) => v >= 1.5,
  );

  const one = nc.find((n) => n.nodes === 1);
  const two = nc.find((n) => n.nodes === 2);
  for (const [label, cost] of [
    ['accept', acceptCost],
    ['end to end', e2eCost],
  ] as const) {
    const a = one ? cost(one).system : NaN;
    const b = two ? cost(two).system : NaN;
    add(
      `2 nodes: CPU per notification (nodes + PostgreSQL) ≤ 1.15× 1 node's (${label})`,
      1.15,
      b / a,
      `1 node ${int(a)} µs, 2 nodes ${int(b)} µs: ${x(b / a)}`,
    );
  }
  const c = two ? Math.max(contentionTotal(two.accept.cpu), contentionTotal(two.endToEnd.cpu)) : NaN;
  add(
    `2 nodes: no Lock:*/LWLock:* waits on the write path (avg backends < ${CONTENTION_NONE}, accept and end to end)`,
    CONTENTION_NONE,
    c,
    two ? `accept ${contentionLine(two.accept.cpu)}; end to end ${contentionLine(two.endToEnd.cpu)}` : '',
    (v) => v < CONTENTION_NONE,
  );
  return out;
}

export function renderPostgresMarkdown(r: PgBenchResults): string {
  const m = r.machine;
  const o = r.options;
  const L: string[] = [];
  L.push(`## PostgreSQL run ${r.startedAt} → ${r.finishedAt}`);
  L.push('');
  L.push('| Machine | |');
  L.push('|---|---|');
  L.push(`| CPU | ${m.cpuModel}, ${m.cores} cores (shared by the nodes, PostgreSQL and the load client) |`);
  L.push(`| RAM / OS / Node | ${m.ramGiB} GiB / ${m.os} / ${m.node} |`);
  L.push(`| PostgreSQL | ${r.postgres.version}, same machine, over TCP loopback |`);
  L.push(
    `| PostgreSQL settings | ${Object.entries(r.postgres.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')} |`,
  );
  L.push(
    `| Disk | ${m.tempDir.device}, ${m.tempDir.fsType} (${m.tempDir.mountOptions}); fdatasync of 4 KiB: p50 ${m.fdatasyncMs.p50} ms, p99 ${m.fdatasyncMs.p99} ms |`,
  );
  const dirty = r.code.uncommittedSrcFiles.length;
  L.push(
    `| Code | commit ${r.code.commit}${dirty ? ` + ${dirty} uncommitted file(s) under src/${dirty <= 5 ? ` (${r.code.uncommittedSrcFiles.join(', ')})` : ''}` : ''} |`,
  );
  L.push('');

  L.push(
    '**Targets** (CPU per item: nodes and PostgreSQL share the machine, so CPU spent per notification is what scales, not the rate a busy machine allows):',
  );
  L.push('');
  L.push('| Target | Measured | |');
  L.push('|---|---|---|');
  for (const t of evaluateTargets(r))
    L.push(`| ${t.target} | ${t.measured} | ${t.met === null ? '—' : t.met ? 'met' : '**MISSED**'} |`);
  L.push('');

  const nc = r.nodeCounts;
  if (nc.length) {
    L.push(
      `HTTP: \`sealpost serve\` processes sharing one fresh database per column, pool ${o.poolMax} connections per node; ${o.connections} TLS connections from one autocannon process, split evenly over the nodes; ${o.durationSec} s per phase after ${o.warmupSec} s of warm-up; one \`POST /v1/notifications\` per request. CPU in µs per notification; PostgreSQL backends' states sampled from pg_stat_activity every 200 ms (average number of backends).`,
    );
    L.push('');
    L.push(`| | ${nc.map((n) => plural(n.nodes)).join(' | ')} |`);
    L.push(`|---|${nc.map(() => '---:').join('|')}|`);
    const row = (name: string, f: (n: NodeCountResult) => string) => L.push(`| ${name} | ${nc.map(f).join(' | ')} |`);
    const costs = (c: CpuPerItem) =>
      `nodes ${int(c.nodes)} · pg backends ${int(c.pgBackends)} · pg server ${int(c.pgServer)} (total ${int(c.system)}) · load client ${int(c.client)}`;
    row(
      '**Accepted/s** (workers off)',
      (n) =>
        `**${int(n.accept.load.okPerSec)}**${n.nodes > 1 && n.accept.load.perTarget ? ` (${n.accept.load.perTarget.map((t) => int(t.okPerSec)).join(' + ')})` : ''}`,
    );
    row(
      'accept: p50 / p99 ms (worst node) · non-2xx / errors',
      (n) =>
        `${ms(n.accept.load.latencyMs.p50)} / ${ms(n.accept.load.latencyMs.p99)} · ${n.accept.load.non2xx} / ${n.accept.load.errors}`,
    );
    row('accept: CPU µs per notification', (n) => costs(acceptCost(n)));
    row('accept: machine', (n) => machineLine(n.accept.cpu, m.cores));
    row('accept: busy backends by state (avg)', (n) => waitsLine(n.accept.cpu));
    row('accept: contention (Lock:*/LWLock:* waits, avg backends)', (n) => contentionLine(n.accept.cpu));
    row(
      '**Drain** of that backlog, delivered/s',
      (n) =>
        `**${int(n.drain.perSec)}** (${int(n.drain.afterReady)} of ${int(n.drain.queued)} after all nodes were ready, ${n.drain.seconds.toFixed(1)} s${n.drain.timedOut ? ', TIMED OUT' : ''})`,
    );
    row(
      '**End to end**, delivered/s (workers on)',
      (n) =>
        `**${int(n.endToEnd.perSec)}** (${int(n.endToEnd.delivered)} in ${n.endToEnd.seconds.toFixed(1)} s, ${n.endToEnd.tailSeconds.toFixed(1)} s after the load${n.endToEnd.timedOut ? ', TIMED OUT' : ''})`,
    );
    row(
      'e2e: accepted/s · p50 / p99 ms · non-2xx / errors',
      (n) =>
        `${int(n.endToEnd.load.okPerSec)} · ${ms(n.endToEnd.load.latencyMs.p50)} / ${ms(n.endToEnd.load.latencyMs.p99)} · ${n.endToEnd.load.non2xx} / ${n.endToEnd.load.errors}`,
    );
    row('e2e: CPU µs per notification (load + tail)', (n) => costs(e2eCost(n)));
    row('e2e: machine', (n) => machineLine(n.endToEnd.cpu, m.cores));
    row('e2e: busy backends by state (avg)', (n) => waitsLine(n.endToEnd.cpu));
    row('e2e: contention (Lock:*/LWLock:* waits, avg backends)', (n) => contentionLine(n.endToEnd.cpu));
    row('final delivery statuses', (n) =>
      Object.entries(n.finalDeliveryStatuses)
        .map(([k, v]) => `${k} ${int(v)}`)
        .join(', '),
    );
    L.push('');
    const c = r.ceiling;
    if (c)
      L.push(
        `No-database ceiling (\`startCeiling\`: the same Fastify shell, routes and NotificationService over bench/no-db-store.ts, in the bench process, same load): ${int(c.load.okPerSec)} accepted/s, p50 / p99 ${ms(c.load.latencyMs.p50)} / ${ms(c.load.latencyMs.p99)} ms, **${int(c.cpuUsPerNotification)} µs** CPU per notification.`,
      );
    const one = nc.find((n) => n.nodes === 1);
    const two = nc.find((n) => n.nodes === 2);
    if (one && two)
      L.push(
        `2 nodes ÷ 1 node: accepted/s ${x(two.accept.load.okPerSec / one.accept.load.okPerSec)}, end to end ${x(two.endToEnd.perSec / one.endToEnd.perSec)}.`,
      );
    L.push('');
  }

  const q = r.queue;
  if (q) {
    const qo = q.options;
    L.push(
      `Queue alone vs pg-boss ${q.pgBossVersion}: ${int(qo.jobs)} jobs per phase, batches of ${qo.batch}, ${qo.producers} producers and ${qo.consumers} consumers (concurrent async loops in one Node process: the client), pool ${qo.poolMax} connections each, each queue in its own fresh database on the same server. CPU in µs per job: client + PostgreSQL (backends and server processes).`,
    );
    L.push('');
    L.push('| | Sealpost queue | pg-boss | Sealpost ÷ pg-boss |');
    L.push('|---|---:|---:|---:|');
    type Phases = { send: QueuePhase; work: QueuePhase; mixed: QueuePhase };
    const phases = [
      ['send (insert batches)', (p: Phases) => p.send],
      ['fetch + complete', (p: Phases) => p.work],
      ['**mixed** (send, fetch, complete at once)', (p: Phases) => p.mixed],
    ] as const;
    for (const [name, f] of phases)
      L.push(
        `| ${name}, jobs/s | ${int(f(q.sealpost).perSec)} | ${int(f(q.pgBoss).perSec)} | ${x(f(q.sealpost).perSec / f(q.pgBoss).perSec)} |`,
      );
    for (const [name, f] of phases) {
      const [a, b] = [f(q.sealpost), f(q.pgBoss)].map((p) => cpuPerItem([p.cpu], p.jobs));
      const cell = (c: CpuPerItem) => `${int(c.client)} + ${int(c.pgBackends + c.pgServer)}`;
      L.push(
        `| ${name}, CPU µs/job | ${cell(a)} | ${cell(b)} | ${x((a.client + a.pgBackends + a.pgServer) / (b.client + b.pgBackends + b.pgServer))} |`,
      );
    }
    L.push(
      `| mixed: busy backends by state (avg) | ${waitsLine(q.sealpost.mixed.cpu)} | ${waitsLine(q.pgBoss.mixed.cpu)} | |`,
    );
    L.push('');
  }

  const warn = [
    ...(r.ceiling && r.ceiling.load.otherCpuPct > 25
      ? [`the ceiling (${pct(r.ceiling.load.otherCpuPct)} of a core)`]
      : []),
    ...nc.flatMap((n) => [
      disturbed(`${n.nodes}-node accept`, n.accept.cpu),
      disturbed(`${n.nodes}-node drain`, n.drain.cpu),
      disturbed(`${n.nodes}-node end to end`, n.endToEnd.cpu),
    ]),
    ...(q
      ? (['send', 'work', 'mixed'] as const).flatMap((k) => [
          disturbed(`queue Sealpost ${k}`, q.sealpost[k].cpu),
          disturbed(`queue pg-boss ${k}`, q.pgBoss[k].cpu),
        ])
      : []),
  ].filter((s): s is string => !!s);
  if (warn.length) {
    L.push(
      `**Warning:** other processes (including other databases' PostgreSQL backends) used a large share of the CPU during ${warn.join(', ')}; rates there are depressed (CPU per item much less so).`,
    );
    L.push('');
  }
  const lost = nc.filter((n) => n.accept.committed < n.accept.load.ok2xx);
  if (lost.length) {
    L.push(
      `**Warning:** fewer notifications committed than answered 202 in the accept phase of ${lost.map((n) => `${plural(n.nodes)} (${int(n.accept.committed)} of ${int(n.accept.load.ok2xx)})`).join(', ')}.`,
    );
    L.push('');
  }
  return L.join('\n') + '\n';
}
