import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../core/errors.js';

/** What `init` leaves in the archive directory for `run` (ids only; the key is in its own file). */
export interface ArchiverState {
  v: 1;
  tenantId: string;
  userId: string;
  /** Set by `run` once the messaging device is registered. */
  deviceId: string | null;
}

export const stateFile = (dir: string) => join(dir, 'archiver.json');

export function readState(dir: string): ArchiverState {
  if (!existsSync(stateFile(dir)))
    throw new AppError('SP_REQ_VALIDATION', `${dir}: not an archive directory (run \`sealpost archiver init\`)`);
  return JSON.parse(readFileSync(stateFile(dir), 'utf8')) as ArchiverState;
}

export function writeState(dir: string, s: ArchiverState): void {
  writeFileSync(stateFile(dir), JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });
}

const lockFile = (dir: string) => join(dir, 'run.lock');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the archive directory for this process: two archivers on one directory would both advance
 * the same MLS state and key store and corrupt them. A lock left by a process that is gone is taken
 * over. Returns the release function.
 */
export function lockArchive(dir: string): () => void {
  const f = lockFile(dir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(f, String(process.pid), { flag: 'wx', mode: 0o600 });
      return () => rmSync(f, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(f, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid))
        throw new AppError('SP_REQ_VALIDATION', `${dir}: an archiver (pid ${pid}) is running on this directory`);
      rmSync(f, { force: true });
    }
  }
  throw new AppError('SP_REQ_VALIDATION', `${dir}: cannot take the archive directory`);
}
