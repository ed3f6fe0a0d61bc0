import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `sealpost <args>` as its own process; `onStderr` and `onStdout` (the log) may kill it. */
export function cli(
  env: Record<string, string>,
  args: string[],
  onStderr?: (all: string, kill: () => void) => void,
  onStdout?: (all: string, kill: () => void) => void,
) {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('SEALPOST_') && k !== 'NODE_OPTIONS') clean[k] = v;
  const p = spawn(process.execPath, ['bin/sealpost.js', ...args], { cwd: ROOT, env: { ...clean, ...env } });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => {
    stdout += d;
    onStdout?.(stdout, () => p.kill('SIGKILL'));
  });
  p.stderr.on('data', (d) => {
    stderr += d;
    onStderr?.(stderr, () => p.kill('SIGKILL'));
  });
  return new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) =>
    p.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
}
