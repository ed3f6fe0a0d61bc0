import type { SqliteDurability } from '../src/config/config.js';
import type { PhaseResult } from './load.js';
import type { CodeInfo, MachineInfo } from './machine-info.js';
import type { ProfileSummary } from './profiler.js';
import type { BenchOptions, CeilingResult, ModeResult } from './scenarios.js';

/** The project's targets for Sealpost on SQLite (a 2-core machine), as the report checks them. */
export interface Targets {
  /** Store share: Sealpost's server CPU per accepted notification − the ceiling's, µs; single and batch path. */
  storeShareUs: number;
  /** Single-request accepted/s ÷ the ceiling's. */
  acceptedVsCeiling: number;
  /** Batch-endpoint accepted notifications/s ÷ the batch ceiling's. */
  batchAcceptedVsBatchCeiling: number;
  /** Server CPU per delivery while the worker alone drains the queue, µs. */
  workerUsPerDelivery: number;
  /** Delivered/s end to end with batch ingestion. */
  batchEndToEndPerSec: number;
}

export const TARGETS: Targets = {
  storeShareUs: 60,
  acceptedVsCeiling: 0.85,
  batchAcceptedVsBatchCeiling: 0.6,
  workerUsPerDelivery: 120,
  batchEndToEndPerSec: 5000,
};

/** One durability mode's figures, stated as the targets are; NaN where the phase did not run. */
export interface ModeFigures {
  durability: SqliteDurability;
  /** Server CPU µs per accepted notification, single requests, worker off. */
  cpuUs: number;
  /** cpuUs − the ceiling's (Figures.ceilingCpuUsRef). */
  storeShareUs: number;
  acceptedVsCeiling: number;
  /** Server CPU µs per accepted notification through the batch endpoint, worker off. */
  batchCpuUs: number;
  /** batchCpuUs − the batch ceiling's (Figures.batchCeilingCpuUsRef). */
  batchStoreShareUs: number;
  batchAcceptedVsBatchCeiling: number;
  /** Server CPU µs per delivery in the worker-only drain (includes the audit-log integrator, if on). */
  workerUsPerDelivery: number;
  batchEndToEndPerSec: number;
}

export interface Figures {
  /** Each ceiling run's server CPU µs per accepted notification (before, after the modes). */
  ceilingCpuUs: number[];
  batchCeilingCpuUs: number[];
  /**
   * The lowest of each: store shares are taken against the ceiling run that cost least, as ratios
   * are taken against the one that ran fastest (the conservative side of the run's own noise).
   */
  ceilingCpuUsRef: number;
  batchCeilingCpuUsRef: number;
  ceilingPerSec: number;
  batchCeilingPerSec: number;
  modes: ModeFigures[];
}

/** Server CPU µs per notification answered 2xx in the phase (a batch request answers for all its items). */
export function cpuUsPerAccepted(p: PhaseResult | undefined): number {
  const n = p ? p.ok2xx * p.itemsPerRequest : 0;
  return p?.serverCpuSec !== undefined && n > 0 ? (p.serverCpuSec * 1e6) / n : NaN;
}

const maxOf = (v: number[]) => (v.length ? Math.max(...v) : NaN);
const minOf = (v: number[]) => (v.some(Number.isFinite) ? Math.min(...v.filter(Number.isFinite)) : NaN);

export function computeFigures(ceilings: CeilingResult[], modes: ModeResult[]): Figures {
  const ceilingCpuUs = ceilings.map((c) => cpuUsPerAccepted(c.load));
  const batchCeilingCpuUs = ceilings.filter((c) => c.batch).map((c) => cpuUsPerAccepted(c.batch));
  const ceilingCpuUsRef = minOf(ceilingCpuUs);
  const batchCeilingCpuUsRef = minOf(batchCeilingCpuUs);
  const ceilingPerSec = maxOf(ceilings.map((c) => c.load.okPerSec));
  const batchCeilingPerSec = maxOf(ceilings.flatMap((c) => (c.batch ? [c.batch.okItemsPerSec] : [])));
  return {
    ceilingCpuUs,
    batchCeilingCpuUs,
    ceilingCpuUsRef,
    batchCeilingCpuUsRef,
    ceilingPerSec,
    batchCeilingPerSec,
    modes: modes.map((x) => {
      const cpuUs = cpuUsPerAccepted(x.accept);
      const batchCpuUs = cpuUsPerAccepted(x.batchAccept);
      return {
        durability: x.durability,
        cpuUs,
        storeShareUs: cpuUs - ceilingCpuUsRef,
        acceptedVsCeiling: x.accept.okPerSec / ceilingPerSec,
        batchCpuUs,
        batchStoreShareUs: batchCpuUs - batchCeilingCpuUsRef,
        batchAcceptedVsBatchCeiling: x.batchAccept ? x.batchAccept.okItemsPerSec / batchCeilingPerSec : NaN,
        workerUsPerDelivery: x.drain.delivered > 0 ? (x.drain.serverCpuSec * 1e6) / x.drain.delivered : NaN,
        batchEndToEndPerSec: x.batchEndToEnd?.perSec ?? NaN,
      };
    }),
  };
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  options: BenchOptions;
  machine: MachineInfo;
  code: CodeInfo;
  ceilings: CeilingResult[];
  modes: ModeResult[];
  /** The higher of the ceiling runs: ratios against it are the conservative ones. */
  ceilingPerSec: number;
  targets: Targets;
  /** The figures the targets are stated in, computed from the phases above. */
  figures: Figures;
  profiles: ProfileSummary[];
}

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const ms = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : 'n/a');
const pct = (n: number) => (Number.isFinite(n) ? `${Math.round(n)}%` : 'n/a');
const mark = (ok: boolean) => (ok ? 'met' : 'MISSED');
const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(a / b < 0.1 ? 3 : 2) : 'n/a');
const x2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
const name = (d: SqliteDurability) => (d === 'full' ? 'synchronous=FULL' : 'group commit');

export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  const o = r.options;
  const c = r.ceilingPerSec;
  const f = r.figures;
  const byMode = new Map(f.modes.map((x) => [x.durability, x]));
  const fm = (x: ModeResult) => byMode.get(x.durability)!;
  const lines: string[] = [];
  lines.push(`## Sealpost bench, ${r.startedAt}`);
  lines.push('');
  lines.push(
    `Load: autocannon, ${o.connections} connections, one request at a time per connection (no pipelining), HTTPS (${r.ceilings[0]?.tls ?? '?'}, keep-alive), ` +
      `POST /v1/notifications with a unique Idempotency-Key and one of ${o.patients} patients (SMS contact) per request; ` +
      `${o.warmupSec}s warm-up then ${o.durationSec}s measured per phase. Load generator in its own process; server in the bench process. ` +
      `Audit-log integrator: ${o.auditLog ? 'running in every Sealpost phase (as in `sealpost serve`)' : 'off (--audit-log off)'}.`,
  );
  lines.push('');
  lines.push('| Machine | |');
  lines.push('|---|---|');
  lines.push(`| CPU | ${m.cpuModel}, ${m.cores} cores |`);
  lines.push(`| RAM | ${m.ramGiB} GiB |`);
  lines.push(`| OS | ${m.os} |`);
  lines.push(`| Node / SQLite | ${m.node} / ${m.sqlite} |`);
  lines.push(
    `| Temp dir | ${m.tempDir.path}: ${m.tempDir.device}, ${m.tempDir.fsType} (${m.tempDir.mountOptions}), rotational: ${m.tempDir.rotational} |`,
  );
  const dirty = r.code.uncommittedSrcFiles.length;
  lines.push(
    `| Code | commit ${r.code.commit}${dirty ? ` + ${dirty} uncommitted file(s) under src/ (${r.code.uncommittedSrcFiles.join(', ')})` : ''} |`,
  );
  lines.push(
    `| fdatasync (4 KiB) | p50 ${m.fdatasyncMs.p50} ms, p99 ${m.fdatasyncMs.p99} ms (${m.fdatasyncMs.samples} samples) |`,
  );
  lines.push('');

  const cols = r.modes.map((x) => name(x.durability));
  lines.push(`| | ceiling (no DB) | ${cols.join(' | ')} |`);
  lines.push(`|---|---:|${r.modes.map(() => '---:').join('|')}|`);
  const ceil = r.ceilings.map((x) => int(x.load.okPerSec)).join(' / ');
  const row = (name: string, ceiling: string, f: (x: ModeResult) => string) =>
    lines.push(`| ${name} | ${ceiling} | ${r.modes.map(f).join(' | ')} |`);
  const best = r.ceilings.reduce((a, b) => (b.load.okPerSec > a.load.okPerSec ? b : a));
  row(
    '**Accepted/s** (worker off)',
    `**${ceil}**`,
    (x) => `**${int(x.accept.okPerSec)}** (${x2(fm(x).acceptedVsCeiling)} of ceiling)`,
  );
  row(
    '**Server CPU µs per accepted notification**',
    f.ceilingCpuUs.map(int).join(' / '),
    (x) => `**${int(fm(x).cpuUs)}**`,
  );
  row(
    '**Store share**, µs per accepted notification (Sealpost − ceiling)',
    '—',
    (x) => `**${int(fm(x).storeShareUs)}**`,
  );
  row(
    'p50 / p99 latency, ms',
    `${ms(best.load.latencyMs.p50)} / ${ms(best.load.latencyMs.p99)}`,
    (x) => `${ms(x.accept.latencyMs.p50)} / ${ms(x.accept.latencyMs.p99)}`,
  );
  row(
    'non-2xx / errors',
    `${best.load.non2xx} / ${best.load.errors}`,
    (x) => `${x.accept.non2xx} / ${x.accept.errors}`,
  );
  row(
    'server CPU (% of 1 core) / event-loop use',
    `${pct(best.load.serverCpuPct)} / ${best.load.serverElu.toFixed(2)}`,
    (x) => `${pct(x.accept.serverCpuPct)} / ${x.accept.serverElu.toFixed(2)}`,
  );
  row('load generator CPU (% of 1 core)', pct(best.load.clientCpuPct), (x) => pct(x.accept.clientCpuPct));
  row("other processes' CPU (% of 1 core)", pct(best.load.otherCpuPct), (x) => pct(x.accept.otherCpuPct));
  row(
    '**Worker-only drain**, delivered/s',
    '—',
    (x) =>
      `**${int(x.drain.perSec)}** (${int(x.drain.delivered)} of ${int(x.drain.queued)} in ${x.drain.seconds.toFixed(1)} s${x.drain.timedOut ? ', TIMED OUT' : ''})`,
  );
  row('**Worker CPU µs per delivery** (drain)', '—', (x) => `**${int(fm(x).workerUsPerDelivery)}**`);
  row(
    "drain: server CPU / event-loop use / others' CPU",
    '—',
    (x) => `${pct(x.drain.serverCpuPct)} / ${x.drain.serverElu.toFixed(2)} / ${pct(x.drain.otherCpuPct)}`,
  );
  row(
    '**End to end**, delivered/s (worker on)',
    `(ingest ceiling ${int(c)})`,
    (x) =>
      `**${int(x.endToEnd.perSec)}** (${int(x.endToEnd.delivered)} in ${x.endToEnd.seconds.toFixed(1)} s${x.endToEnd.timedOut ? ', TIMED OUT' : ''})`,
  );
  row(
    'e2e: accepted/s while delivering',
    `${ceil}`,
    (x) => `${int(x.endToEnd.load.okPerSec)} (${x2(x.endToEnd.load.okPerSec / c)} of ceiling)`,
  );
  row(
    'e2e: p50 / p99 latency, ms',
    `${ms(best.load.latencyMs.p50)} / ${ms(best.load.latencyMs.p99)}`,
    (x) => `${ms(x.endToEnd.load.latencyMs.p50)} / ${ms(x.endToEnd.load.latencyMs.p99)}`,
  );
  row('e2e: outbox tail after load stopped, s', '—', (x) => x.endToEnd.tailSeconds.toFixed(1));
  row(
    "e2e: server CPU / event-loop use / others' CPU",
    '—',
    (x) =>
      `${pct(x.endToEnd.load.serverCpuPct)} / ${x.endToEnd.load.serverElu.toFixed(2)} / ${pct(x.endToEnd.load.otherCpuPct)}`,
  );
  row(
    'SQLite COMMITs per accepted notification: accept / e2e',
    '—',
    (x) => `${ratio(x.sql.accept.commits, x.acceptCommitted)} / ${ratio(x.sql.endToEnd.commits, x.endToEnd.accepted)}`,
  );
  row(
    'accept: COMMITs / commands that shared one (savepoints)',
    '—',
    (x) => `${int(x.sql.accept.commits)} / ${int(x.sql.accept.savepoints)}`,
  );
  lines.push('');
  lines.push(
    `Ceiling runs (before / after the modes): ${ceil} accepted/s; ratios use the higher, ${int(c)}/s. ` +
      'Server CPU per accepted notification = CPU seconds of the server process (all its threads) during the phase ÷ notifications answered 202 in it; ' +
      `the store share subtracts the ceiling run that cost least, ${int(f.ceilingCpuUsRef)} µs.`,
  );

  const batchModes = r.modes.filter((x) => x.batchAccept && x.batchEndToEnd);
  const batchCeilings = r.ceilings.filter((x) => x.batch);
  const bc = batchCeilings.length ? Math.max(...batchCeilings.map((x) => x.batch!.okItemsPerSec)) : NaN;
  if (batchModes.length && batchCeilings.length) {
    const bBest = batchCeilings.reduce((a, b) => (b.batch!.okItemsPerSec > a.batch!.okItemsPerSec ? b : a)).batch!;
    const bceil = batchCeilings.map((x) => int(x.batch!.okItemsPerSec)).join(' / ');
    lines.push('');
    lines.push(
      `Batch ingestion: POST /v1/notifications:batch, ${o.batchSize} notifications per request (each with its own idempotencyKey), ${o.batchConnections} connections, one request at a time per connection; latency is per request (${o.batchSize} notifications).`,
    );
    lines.push('');
    lines.push(`| batch endpoint | ceiling (no DB) | ${batchModes.map((x) => name(x.durability)).join(' | ')} |`);
    lines.push(`|---|---:|${batchModes.map(() => '---:').join('|')}|`);
    const brow = (name: string, ceiling: string, f: (x: ModeResult) => string) =>
      lines.push(`| ${name} | ${ceiling} | ${batchModes.map(f).join(' | ')} |`);
    brow(
      '**Accepted notifications/s** (worker off)',
      `**${bceil}**`,
      (x) => `**${int(x.batchAccept!.okItemsPerSec)}** (${x2(fm(x).batchAcceptedVsBatchCeiling)} of batch ceiling)`,
    );
    brow(
      '**Server CPU µs per accepted notification**',
      f.batchCeilingCpuUs.map(int).join(' / '),
      (x) => `**${int(fm(x).batchCpuUs)}**`,
    );
    brow(
      '**Store share**, µs per accepted notification (Sealpost − ceiling)',
      '—',
      (x) => `**${int(fm(x).batchStoreShareUs)}**`,
    );
    brow('requests/s', batchCeilings.map((x) => int(x.batch!.okPerSec)).join(' / '), (x) =>
      int(x.batchAccept!.okPerSec),
    );
    brow(
      'p50 / p99 latency per request, ms',
      `${ms(bBest.latencyMs.p50)} / ${ms(bBest.latencyMs.p99)}`,
      (x) => `${ms(x.batchAccept!.latencyMs.p50)} / ${ms(x.batchAccept!.latencyMs.p99)}`,
    );
    brow(
      'non-2xx / errors',
      `${bBest.non2xx} / ${bBest.errors}`,
      (x) => `${x.batchAccept!.non2xx} / ${x.batchAccept!.errors}`,
    );
    brow(
      'server CPU / event-loop use',
      `${pct(bBest.serverCpuPct)} / ${bBest.serverElu.toFixed(2)}`,
      (x) => `${pct(x.batchAccept!.serverCpuPct)} / ${x.batchAccept!.serverElu.toFixed(2)}`,
    );
    brow(
      "load generator CPU / others' CPU",
      `${pct(bBest.clientCpuPct)} / ${pct(bBest.otherCpuPct)}`,
      (x) => `${pct(x.batchAccept!.clientCpuPct)} / ${pct(x.batchAccept!.otherCpuPct)}`,
    );
    brow(
      '**End to end**, delivered/s (worker on)',
      '—',
      (x) =>
        `**${int(x.batchEndToEnd!.perSec)}** (${int(x.batchEndToEnd!.delivered)} in ${x.batchEndToEnd!.seconds.toFixed(1)} s${x.batchEndToEnd!.timedOut ? ', TIMED OUT' : ''})`,
    );
    brow('e2e: accepted/s while delivering', '—', (x) => int(x.batchEndToEnd!.load.okItemsPerSec));
    brow(
      'e2e: p50 / p99 latency per request, ms',
      '—',
      (x) => `${ms(x.batchEndToEnd!.load.latencyMs.p50)} / ${ms(x.batchEndToEnd!.load.latencyMs.p99)}`,
    );
    brow('e2e: non-2xx / errors', '—', (x) => `${x.batchEndToEnd!.load.non2xx} / ${x.batchEndToEnd!.load.errors}`);
    brow('e2e: outbox tail after load stopped, s', '—', (x) => x.batchEndToEnd!.tailSeconds.toFixed(1));
    brow(
      'SQLite COMMITs per accepted notification: accept / e2e',
      '—',
      (x) =>
        `${ratio(x.sql.batchAccept.commits, x.batchAcceptCommitted ?? NaN)} / ${ratio(x.sql.batchEndToEnd.commits, x.batchEndToEnd!.accepted)}`,
    );
    brow(
      "e2e: server CPU / event-loop use / others' CPU",
      '—',
      (x) =>
        `${pct(x.batchEndToEnd!.load.serverCpuPct)} / ${x.batchEndToEnd!.load.serverElu.toFixed(2)} / ${pct(x.batchEndToEnd!.load.otherCpuPct)}`,
    );
    lines.push('');
    lines.push(
      `Batch ceiling runs (before / after the modes): ${bceil} notifications/s; ratios use the higher, ${int(bc)}/s; ` +
        `the store share subtracts the batch ceiling run that cost least, ${int(f.batchCeilingCpuUsRef)} µs per notification. ` +
        'The batch phases run on the same server after the single-request phases: end to end first (the queue empty at its start), then, with the worker stopped, accepted/s.',
    );
  }

  // Every 202 must be in the database: committed rows ≥ answered notifications (in-flight requests at the end commit too).
  const consistency = r.modes.flatMap((x) => {
    const out = [`${x.durability} accept: ${int(x.acceptCommitted)} committed for ${int(x.accept.ok2xx)} answered 202`];
    if (x.batchAccept && x.batchAcceptCommitted !== undefined)
      out.push(
        `${x.durability} batch accept: ${int(x.batchAcceptCommitted)} committed for ${int(x.batchAccept.ok2xx * x.batchAccept.itemsPerRequest)} answered 202 (${int(x.batchAccept.ok2xx)} requests)`,
      );
    return out;
  });
  const lost = r.modes.filter(
    (x) =>
      x.acceptCommitted < x.accept.ok2xx ||
      (x.batchAccept && (x.batchAcceptCommitted ?? 0) < x.batchAccept.ok2xx * x.batchAccept.itemsPerRequest),
  );
  lines.push('');
  lines.push(
    `Committed vs answered: ${consistency.join('; ')}.${lost.length ? ' **Some answered notifications are missing from the database.**' : ''}`,
  );
  const disturbed = [
    ...r.ceilings.flatMap((x) => [
      [x.label, x.load.otherCpuPct] as const,
      ...(x.batch ? [[`${x.label} batch`, x.batch.otherCpuPct] as const] : []),
    ]),
    ...r.modes.flatMap((x) => [
      [`${x.durability} accept`, x.accept.otherCpuPct] as const,
      [`${x.durability} drain`, x.drain.otherCpuPct] as const,
      [`${x.durability} end to end`, x.endToEnd.load.otherCpuPct] as const,
      ...(x.batchEndToEnd ? [[`${x.durability} batch end to end`, x.batchEndToEnd.load.otherCpuPct] as const] : []),
      ...(x.batchAccept ? [[`${x.durability} batch accept`, x.batchAccept.otherCpuPct] as const] : []),
    ]),
  ].filter(([, p]) => p > 25);
  if (disturbed.length) {
    lines.push('');
    lines.push(
      `**Warning:** other processes used a large share of the CPU during ${disturbed.map(([l, p]) => `${l} (${pct(p)} of a core)`).join(', ')}; those numbers are depressed. Re-run on a quiet machine.`,
    );
  }
  lines.push('');
  const t = r.targets;
  const us = (n: number) => `${int(n)} µs`;
  const target = (
    label: string,
    value: (m: ModeFigures) => number,
    show: (n: number) => string,
    met: (n: number) => boolean,
  ) =>
    lines.push(
      `| ${label} | ${f.modes.map((m) => (Number.isFinite(value(m)) ? `${show(value(m))}: ${mark(met(value(m)))}` : 'not measured')).join(' | ')} |`,
    );
  lines.push('Targets (a 2-core machine; every ceiling figure from this run):');
  lines.push('');
  lines.push(`| target | ${f.modes.map((m) => name(m.durability)).join(' | ')} |`);
  lines.push(`|---|${f.modes.map(() => '---:').join('|')}|`);
  target(
    `store share, single requests ≤ ${t.storeShareUs} µs per accepted notification`,
    (m) => m.storeShareUs,
    us,
    (n) => n <= t.storeShareUs,
  );
  target(
    `store share, batch endpoint ≤ ${t.storeShareUs} µs per accepted notification`,
    (m) => m.batchStoreShareUs,
    us,
    (n) => n <= t.storeShareUs,
  );
  target(
    `single-request acceptance ≥ ${t.acceptedVsCeiling} of the ceiling`,
    (m) => m.acceptedVsCeiling,
    x2,
    (n) => n >= t.acceptedVsCeiling,
  );
  target(
    `batch acceptance ≥ ${t.batchAcceptedVsBatchCeiling} of the batch ceiling`,
    (m) => m.batchAcceptedVsBatchCeiling,
    x2,
    (n) => n >= t.batchAcceptedVsBatchCeiling,
  );
  target(
    `worker ≤ ${t.workerUsPerDelivery} µs CPU per delivery (drain)`,
    (m) => m.workerUsPerDelivery,
    us,
    (n) => n <= t.workerUsPerDelivery,
  );
  target(
    `end to end with batch ingestion ≥ ${int(t.batchEndToEndPerSec)} delivered/s`,
    (m) => m.batchEndToEndPerSec,
    (n) => `${int(n)}/s`,
    (n) => n >= t.batchEndToEndPerSec,
  );
  lines.push('');
  lines.push(
    'Final delivery statuses: ' +
      r.modes.map((x) => `${x.durability}: ${JSON.stringify(x.finalDeliveryStatuses)}`).join('; ') +
      '.',
  );
  lines.push('');
  lines.push(
    'Audit log at the end: ' +
      r.modes
        .map(
          (x) =>
            `${x.durability}: ${int(x.auditLog.appended)} entries appended, ${int(x.auditLog.integrated)} integrated, ${int(x.auditLog.checkpoints)} checkpoints`,
        )
        .join('; ') +
      '.',
  );
  return lines.join('\n') + '\n';
}
