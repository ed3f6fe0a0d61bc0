import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The console's sources (web/) in this installation. */
export const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));
export const DEFAULT_CONSOLE_DIR = join(WEB_DIR, 'dist');

/**
 * Builds the console (web/, Vite) into `outDir`. `npm install` does this (the root package's
 * `prepare` script); `sealpost serve` calls it at start when the build is missing (an install run
 * with --ignore-scripts), so `npm install` then `npm start` always serves a console.
 */
export async function buildConsole(outDir: string): Promise<void> {
  const { build } = await import('vite');
  // Vite keeps a NODE_ENV it finds set (the test runner sets `test`), and React and React Aria then
  // build their development variants: the console is always built as it is served, for production.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      root: WEB_DIR,
      configFile: join(WEB_DIR, 'vite.config.ts'),
      mode: 'production',
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true },
    });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
}

/** Whether `dir` holds a built console. */
export const consoleBuilt = (dir: string) => existsSync(join(dir, 'index.html'));
