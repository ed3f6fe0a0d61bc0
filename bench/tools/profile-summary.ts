/**
 * Summarises CPU profiles (from `--cpu-prof-dir` or `node --cpu-prof`) as self time by area and by
 * function: `node bin/run-ts.js bench/tools/profile-summary.ts file.cpuprofile|dir/ …`
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { renderProfiles, summarize } from '../profiler.js';

const files = process.argv.slice(2).flatMap((p) =>
  statSync(p).isDirectory()
    ? readdirSync(p)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(p, f))
    : [p],
);
if (!files.length) {
  process.stderr.write('usage: node bin/run-ts.js bench/tools/profile-summary.ts <file.cpuprofile | dir> …\n');
  process.exit(2);
}
process.stdout.write(
  renderProfiles(files.map((f) => summarize(basename(f, '.cpuprofile'), f, JSON.parse(readFileSync(f, 'utf8'))))) +
    '\n',
);
