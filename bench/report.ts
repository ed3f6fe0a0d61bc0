import type { CodeInfo, MachineInfo } from './machine-info.js';
import type { ProfileSummary } from './profiler.js';
import type { BenchOptions, CeilingResult, ModeResult } from './scenarios.js';

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
  targets: { acceptedVsCeiling: number; endToEndPerSec: number };
  profiles: ProfileSummary[];
}

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const ms = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : 'n/a');
const pct = (n: number) => (Number.isFinite(n) ? `${Math.round(n)}%` : 'n/a');
const mark = (ok: boolean) => (ok ? 'met' : 'MISSED');
const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(a / b < 0.1 ? 3 : 2) : 'n/a');

export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  const o = r.options;
  const c = r.ceilingPerSec;
  const lines: string[] = [];
  lines.push(`## Sealpost bench, ${r.startedAt}`);
  lines.push('');
  if (o.whatIf?.length) {
    lines.push(`**WHAT-IF RUN: ${o.whatIf.join(', ')} patched in by bench/what-if.ts. These numbers are not the committed code's.**`);
    lines.push('');
  }
  lines.push(`Load: autocannon, ${o.connections} connections, one request at a time per connection (no pipelining), HTTPS (${r.ceilings[0]?.tls ?? '?'}, keep-alive), ` +
    `POST /v1/notifications with a unique Idempotency-Key and one of ${o.patients} patients (SMS contact) per request; ` +
    `${o.warmupSec}s warm-up then ${o.durationSec}s measured per phase. Load generator in its own process; server in the bench process. ` +
    `Audit-log integrator: ${o.auditLog ? 'running in every Sealpost phase (as in `sealpost serve`)' : 'off (--audit-log off)'}.`);
  lines.push('');
  lines.push('| Machine | |');
  lines.push('|---|---|');
  lines.push(`| CPU | ${m.cpuModel}, ${m.cores} cores |`);
  lines.push(`| RAM | ${m.ramGiB} GiB |`);
  lines.push(`| OS | ${m.os} |`);
  lines.push(`| Node / SQLite | ${m.node} / ${m.sqlite} |`);
  lines.push(`| Temp dir | ${m.tempDir.path}: ${m.tempDir.device}, ${m.tempDir.fsType} (${m.tempDir.mountOptions}), rotational: ${m.tempDir.rotational} |`);
  const dirty = r.code.uncommittedSrcFiles.length;
  lines.push(`| Code | commit ${r.code.commit}${dirty ? ` + ${dirty} uncommitted file(s) under src/ (${r.code.uncommittedSrcFiles.join(', ')})` : ''} |`);
  lines.push(`| fdatasync (4 KiB) | p50 ${m.fdatasyncMs.p50} ms, p99 ${m.fdatasyncMs.p99} ms (${m.fdatasyncMs.samples} samples) |`);
  lines.push('');

  const cols = r.modes.map((x) => (x.durability === 'full' ? 'synchronous=FULL' : 'group commit'));
  lines.push(`| | ceiling (no DB) | ${cols.join(' | ')} |`);
  lines.push(`|---|---:|${r.modes.map(() => '---:').join('|')}|`);
  const ceil = r.ceilings.map((x) => int(x.load.okPerSec)).join(' / ');
  const row = (name: string, ceiling: string, f: (x: ModeResult) => string) => lines.push(`| ${name} | ${ceiling} | ${r.modes.map(f).join(' | ')} |`);
  const best = r.ceilings.reduce((a, b) => (b.load.okPerSec > a.load.okPerSec ? b : a));
  row('**Accepted/s** (worker off)', `**${ceil}**`, (x) => `**${int(x.accept.okPerSec)}** (${pct((x.accept.okPerSec / c) * 100)} of ceiling)`);
  row('p50 / p99 latency, ms', `${ms(best.load.latencyMs.p50)} / ${ms(best.load.latencyMs.p99)}`, (x) => `${ms(x.accept.latencyMs.p50)} / ${ms(x.accept.latencyMs.p99)}`);
  row('non-2xx / errors', `${best.load.non2xx} / ${best.load.errors}`, (x) => `${x.accept.non2xx} / ${x.accept.errors}`);
  row('server CPU (% of 1 core) / event-loop use', `${pct(best.load.serverCpuPct)} / ${best.load.serverElu.toFixed(2)}`, (x) => `${pct(x.accept.serverCpuPct)} / ${x.accept.serverElu.toFixed(2)}`);
  row('load generator CPU (% of 1 core)', pct(best.load.clientCpuPct), (x) => pct(x.accept.clientCpuPct));
  row('other processes\' CPU (% of 1 core)', pct(best.load.otherCpuPct), (x) => pct(x.accept.otherCpuPct));
  row('**Worker-only drain**, delivered/s', '—', (x) => `**${int(x.drain.perSec)}** (${int(x.drain.delivered)} of ${int(x.drain.queued)} in ${x.drain.seconds.toFixed(1)} s${x.drain.timedOut ? ', TIMED OUT' : ''})`);
  row('drain: server CPU / event-loop use / others\' CPU', '—', (x) => `${pct(x.drain.serverCpuPct)} / ${x.drain.serverElu.toFixed(2)} / ${pct(x.drain.otherCpuPct)}`);
  row('**End to end**, delivered/s (worker on)', `(ingest ceiling ${int(c)})`, (x) => `**${int(x.endToEnd.perSec)}** (${int(x.endToEnd.delivered)} in ${x.endToEnd.seconds.toFixed(1)} s${x.endToEnd.timedOut ? ', TIMED OUT' : ''})`);
  row('e2e: accepted/s while delivering', `${ceil}`, (x) => `${int(x.endToEnd.load.okPerSec)} (${pct((x.endToEnd.load.okPerSec / c) * 100)})`);
  row('e2e: p50 / p99 latency, ms', `${ms(best.load.latencyMs.p50)} / ${ms(best.load.latencyMs.p99)}`, (x) => `${ms(x.endToEnd.load.latencyMs.p50)} / ${ms(x.endToEnd.load.latencyMs.p99)}`);
  row('e2e: outbox tail after load stopped, s', '—', (x) => x.endToEnd.tailSeconds.toFixed(1));
  row('e2e: server CPU / event-loop use / others\' CPU', '—', (x) => `${pct(x.endToEnd.load.serverCpuPct)} / ${x.endToEnd.load.serverElu.toFixed(2)} / ${pct(x.endToEnd.load.otherCpuPct)}`);
  row('SQLite COMMITs per accepted notification: accept / e2e', '—', (x) => `${ratio(x.sql.accept.commits, x.acceptCommitted)} / ${ratio(x.sql.endToEnd.commits, x.endToEnd.accepted)}`);
  row('accept: COMMITs / commands that shared one (savepoints)', '—', (x) => `${int(x.sql.accept.commits)} / ${int(x.sql.accept.savepoints)}`);
  lines.push('');
  lines.push(`Ceiling runs (before / after the modes): ${ceil} accepted/s; ratios use the higher, ${int(c)}/s.`);

  const batchModes = r.modes.filter((x) => x.batchAccept && x.batchEndToEnd);
  const batchCeilings = r.ceilings.filter((x) => x.batch);
  const bc = batchCeilings.length ? Math.max(...batchCeilings.map((x) => x.batch!.okItemsPerSec)) : NaN;
  if (batchModes.length && batchCeilings.length) {
    const bBest = batchCeilings.reduce((a, b) => (b.batch!.okItemsPerSec > a.batch!.okItemsPerSec ? b : a)).batch!;
    const bceil = batchCeilings.map((x) => int(x.batch!.okItemsPerSec)).join(' / ');
    lines.push('');
    lines.push(`Batch ingestion: POST /v1/notifications:batch, ${o.batchSize} notifications per request (each with its own idempotencyKey), ${o.batchConnections} connections, one request at a time per connection; latency is per request (${o.batchSize} notifications).`);
    lines.push('');
    lines.push(`| batch endpoint | ceiling (no DB) | ${batchModes.map((x) => (x.durability === 'full' ? 'synchronous=FULL' : 'group commit')).join(' | ')} |`);
    lines.push(`|---|---:|${batchModes.map(() => '---:').join('|')}|`);
    const brow = (name: string, ceiling: string, f: (x: ModeResult) => string) => lines.push(`| ${name} | ${ceiling} | ${batchModes.map(f).join(' | ')} |`);
    brow('**Accepted notifications/s** (worker off)', `**${bceil}**`, (x) => `**${int(x.batchAccept!.okItemsPerSec)}** (${pct((x.batchAccept!.okItemsPerSec / bc) * 100)} of batch ceiling)`);
    brow('requests/s', batchCeilings.map((x) => int(x.batch!.okPerSec)).join(' / '), (x) => int(x.batchAccept!.okPerSec));
    brow('p50 / p99 latency per request, ms', `${ms(bBest.latencyMs.p50)} / ${ms(bBest.latencyMs.p99)}`, (x) => `${ms(x.batchAccept!.latencyMs.p50)} / ${ms(x.batchAccept!.latencyMs.p99)}`);
    brow('non-2xx / errors', `${bBest.non2xx} / ${bBest.errors}`, (x) => `${x.batchAccept!.non2xx} / ${x.batchAccept!.errors}`);
    brow('server CPU / event-loop use', `${pct(bBest.serverCpuPct)} / ${bBest.serverElu.toFixed(2)}`, (x) => `${pct(x.batchAccept!.serverCpuPct)} / ${x.batchAccept!.serverElu.toFixed(2)}`);
    brow('load generator CPU / others\' CPU', `${pct(bBest.clientCpuPct)} / ${pct(bBest.otherCpuPct)}`, (x) => `${pct(x.batchAccept!.clientCpuPct)} / ${pct(x.batchAccept!.otherCpuPct)}`);
    brow('**End to end**, delivered/s (worker on)', '—', (x) => `**${int(x.batchEndToEnd!.perSec)}** (${int(x.batchEndToEnd!.delivered)} in ${x.batchEndToEnd!.seconds.toFixed(1)} s${x.batchEndToEnd!.timedOut ? ', TIMED OUT' : ''})`);
    brow('e2e: accepted/s while delivering', '—', (x) => int(x.batchEndToEnd!.load.okItemsPerSec));
    brow('e2e: p50 / p99 latency per request, ms', '—', (x) => `${ms(x.batchEndToEnd!.load.latencyMs.p50)} / ${ms(x.batchEndToEnd!.load.latencyMs.p99)}`);
    brow('e2e: non-2xx / errors', '—', (x) => `${x.batchEndToEnd!.load.non2xx} / ${x.batchEndToEnd!.load.errors}`);
    brow('e2e: outbox tail after load stopped, s', '—', (x) => x.batchEndToEnd!.tailSeconds.toFixed(1));
    brow('SQLite COMMITs per accepted notification: accept / e2e', '—', (x) => `${ratio(x.sql.batchAccept.commits, x.batchAcceptCommitted ?? NaN)} / ${ratio(x.sql.batchEndToEnd.commits, x.batchEndToEnd!.accepted)}`);
    brow('e2e: server CPU / event-loop use / others\' CPU', '—', (x) => `${pct(x.batchEndToEnd!.load.serverCpuPct)} / ${x.batchEndToEnd!.load.serverElu.toFixed(2)} / ${pct(x.batchEndToEnd!.load.otherCpuPct)}`);
    lines.push('');
    lines.push(`Batch ceiling runs (before / after the modes): ${bceil} notifications/s; ratios use the higher, ${int(bc)}/s. ` +
      'The batch phases run on the same server after the single-request phases: end to end first (the queue empty at its start), then, with the worker stopped, accepted/s.');
  }

  // Every 202 must be in the database: committed rows ≥ answered notifications (in-flight requests at the end commit too).
  const consistency = r.modes.flatMap((x) => {
    const out = [`${x.durability} accept: ${int(x.acceptCommitted)} committed for ${int(x.accept.ok2xx)} answered 202`];
    if (x.batchAccept && x.batchAcceptCommitted !== undefined) out.push(`${x.durability} batch accept: ${int(x.batchAcceptCommitted)} committed for ${int(x.batchAccept.ok2xx * x.batchAccept.itemsPerRequest)} answered 202 (${int(x.batchAccept.ok2xx)} requests)`);
    return out;
  });
  const lost = r.modes.filter((x) => x.acceptCommitted < x.accept.ok2xx || (x.batchAccept && (x.batchAcceptCommitted ?? 0) < x.batchAccept.ok2xx * x.batchAccept.itemsPerRequest));
  lines.push('');
  lines.push(`Committed vs answered: ${consistency.join('; ')}.${lost.length ? ' **Some answered notifications are missing from the database.**' : ''}`);
  const disturbed = [
    ...r.ceilings.flatMap((x) => [[x.label, x.load.otherCpuPct] as const, ...(x.batch ? [[`${x.label} batch`, x.batch.otherCpuPct] as const] : [])]),
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
    lines.push(`**Warning:** other processes used a large share of the CPU during ${disturbed.map(([l, p]) => `${l} (${pct(p)} of a core)`).join(', ')}; those numbers are depressed. Re-run on a quiet machine.`);
  }
  lines.push('');
  lines.push('Targets (on a 2-core machine):');
  for (const x of r.modes) {
    const ratio = x.accept.okPerSec / c;
    const name = x.durability === 'full' ? 'synchronous=FULL' : 'group commit';
    lines.push(
      `- ${name}: accepted ${pct(ratio * 100)} of ceiling (target ≥ ${pct(r.targets.acceptedVsCeiling * 100)}): ${mark(ratio >= r.targets.acceptedVsCeiling)}; ` +
        `end to end ${int(x.endToEnd.perSec)}/s (target ≥ ${int(r.targets.endToEndPerSec)}/s): ${mark(x.endToEnd.perSec >= r.targets.endToEndPerSec)}` +
        (x.batchEndToEnd ? `; end to end with batch ingestion ${int(x.batchEndToEnd.perSec)}/s: ${mark(x.batchEndToEnd.perSec >= r.targets.endToEndPerSec)}.` : '.'),
    );
  }
  lines.push('');
  lines.push('Final delivery statuses: ' + r.modes.map((x) => `${x.durability}: ${JSON.stringify(x.finalDeliveryStatuses)}`).join('; ') + '.');
  lines.push('');
  lines.push('Audit log at the end: ' + r.modes.map((x) => `${x.durability}: ${int(x.auditLog.appended)} entries appended, ${int(x.auditLog.integrated)} integrated, ${int(x.auditLog.checkpoints)} checkpoints`).join('; ') + '.');
  return lines.join('\n') + '\n';
}
