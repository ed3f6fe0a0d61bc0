import { PROFILES, type Profile } from './incidents.js';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { format } from 'prettier';
import { simulate } from './simulate.js';
import { evaluate } from './evaluate.js';
import { resultsDoc, resultsTable } from './results-doc.js';

function args(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [k, v] = a.includes('=')
      ? a.slice(2).split('=', 2)
      : [a.slice(2), argv[i + 1]?.startsWith('--') ? 'true' : argv[++i]];
    out[k] = v ?? 'true';
  }
  return out;
}

const a = args(process.argv.slice(2));
const base = PROFILES[(a.profile ?? 'month') as 'month' | 'small'];
if (!base) throw new Error(`unknown profile ${a.profile} (month | small)`);
const profile: Profile = {
  ...base,
  days: a.days ? Number(a.days) : base.days,
  people: a.people ? Number(a.people) : base.people,
  seed: a.seed ? Number(a.seed) : base.seed,
};
const run = await simulate(profile, { out: a.out, progress: (l) => console.error(l) });
const evaluation = await evaluate(run);
await run.server.close();
const table = resultsTable(evaluation);
console.log(table);
console.error(
  `simulated in ${run.seconds.toFixed(0)} s: ${run.sim.requests.length} requests, ${evaluation.entries} audit entries, ` +
    `${evaluation.audited - Object.values(evaluation.missing).reduce((x, y) => x + y, 0)}/${evaluation.audited} requests found in the log`,
);
if (Object.keys(evaluation.missing).length) console.error('requests without their audit entry:', evaluation.missing);
for (const i of evaluation.incidents)
  console.error(
    `${i.detected ? 'found ' : i.detectedAny ? 'other ' : 'MISSED'} ${i.id} ${i.kind} ${i.subject} ` +
      `${new Date(i.start).toISOString()}–${new Date(i.end).toISOString()} by ${i.detectors.join(',') || 'none'} ${i.problem ?? ''}`,
  );
for (const f of evaluation.falseDetails)
  console.error(`false: ${new Date(f.firstAt).toISOString()} ${f.detector} ${f.subject} ${f.reasons.join(' | ')}`);
if (a.doc !== 'false' && profile.name === 'month' && !a.out) {
  const command = [
    'npm run simulate:access',
    ...(process.argv.slice(2).length ? ['--', ...process.argv.slice(2)] : []),
  ].join(' ');
  const doc = resultsDoc(run, evaluation, command, new Date().toISOString().slice(0, 10));
  writeFileSync(resolve('docs/privacy-monitoring-results.md'), await format(doc, { parser: 'markdown' }));
  console.error('wrote docs/privacy-monitoring-results.md');
}
