import { PROFILES, type Profile } from './incidents.js';
import { simulate } from './simulate.js';

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
console.error(`simulated in ${run.seconds.toFixed(0)} s: ${run.sim.requests.length} requests`);
const byStatus = new Map<number, number>();
for (const r of run.sim.requests) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
console.error(JSON.stringify(Object.fromEntries(byStatus)));
const byRoute = new Map<string, number>();
for (const r of run.sim.requests)
  byRoute.set(`${r.method} ${r.route} ${r.status}`, (byRoute.get(`${r.method} ${r.route} ${r.status}`) ?? 0) + 1);
console.error(
  [...byRoute]
    .sort()
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n'),
);
console.error('sensitivity flags', run.sensitivityFlags, 'privacy officer role', run.privacyOfficerRole);
for (const i of run.injected) console.error(i.spec.id, i.subject, i.requests, i.problem ?? '');
await run.server.close();
