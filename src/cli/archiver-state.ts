import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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
