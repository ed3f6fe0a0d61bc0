import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SOFTHSM_LIBRARY = '/usr/lib/softhsm/libsofthsm2.so';

/** A SoftHSM2 token store of its own (temp directory + config), so tests never touch a system token. */
export interface SoftHsm {
  /** Point SOFTHSM2_CONF here (in this process before the module is initialised, or in a child's env). */
  conf: string;
  /** Initialises a fresh token with this label; returns its PIN. */
  initToken(label: string, pin?: string): string;
}

export function createSoftHsm(): SoftHsm {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-softhsm-'));
  mkdirSync(join(dir, 'tokens'), { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  return {
    conf,
    initToken(label, pin = '246810') {
      execFileSync(
        'softhsm2-util',
        ['--init-token', '--free', '--label', label, '--so-pin', '13579135', '--pin', pin],
        { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'ignore' },
      );
      return pin;
    },
  };
}
