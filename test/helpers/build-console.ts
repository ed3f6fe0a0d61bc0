import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildConsole } from '../../src/cli/console-build.js';

const WEB = fileURLToPath(new URL('../../web/', import.meta.url));
const SOURCES = [
  join(WEB, 'src'),
  join(WEB, 'index.html'),
  fileURLToPath(new URL('../../src/api/design/', import.meta.url)),
];

function newest(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(s.mtimeMs, ...readdirSync(path).map((f) => newest(join(path, f))));
}

/**
 * vitest global setup: the console's browser tests need a build of web/ that matches its sources.
 * Builds web/dist once before the suite when it is missing or older than a source file (`npm install`
 * builds it too); a run with SEALPOST_CONSOLE_DIR brings its own build.
 */
export default async function setup(): Promise<void> {
  if (process.env.SEALPOST_CONSOLE_DIR) return;
  const index = join(WEB, 'dist', 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= Math.max(...SOURCES.map(newest))) return;
  await buildConsole(join(WEB, 'dist'));
}
