import { join } from 'node:path';
import { AppError, isAppError } from '../core/errors.js';
import type { Config } from '../config/config.js';

/**
 * The one line `sealpost` prints when a command fails: what went wrong and what to do, with the
 * setting to change. Messages of coded errors are PHI-free; anything unexpected prints its class only.
 */
export function describeFailure(e: unknown, config: Config | undefined): string {
  const sys = e as NodeJS.ErrnoException;
  if (!isAppError(e) && typeof sys?.code === 'string' && typeof sys.path === 'string')
    return describeFailure(
      new AppError(
        'SP_CONFIG_PATH_UNUSABLE',
        `cannot ${sys.syscall ?? 'use'} ${sys.path} (${sys.code}): ${settingFor(sys.path, config)} must name a place this user (uid ${process.getuid?.() ?? '?'}) can read and write`,
      ),
      config,
    );
  if (isAppError(e)) return `sealpost: ${e.code}: ${e.message}${hint(e.code, config)}`;
  return `sealpost: unexpected error (${(e as Error)?.name ?? 'unknown'}) ${(e as Error)?.stack?.split('\n')[1]?.trim() ?? ''}`;
}

/** What to do about a coded start-up failure whose message does not say it already. */
function hint(code: string, config: Config | undefined): string {
  if (!config) return '';
  if (code === 'SP_TLS_CERT_INVALID') {
    const cert = config.tls.certFile ?? join(config.dataDir, 'tls-cert.pem');
    const key = config.tls.keyFile ?? join(config.dataDir, 'tls-key.pem');
    return ` (certificate ${cert}, key ${key}: fix the files, or set SEALPOST_TLS_CERT_FILE and SEALPOST_TLS_KEY_FILE to a good pair)`;
  }
  if (code === 'SP_CRYPTO_KEYRING_INVALID' && config.keys.provider === 'local')
    return ` (${config.keys.file}: restore it from the backup, or set SEALPOST_KEYRING_FILE to the right one)`;
  return '';
}

/** The setting that named `path`, for the operator to change. */
function settingFor(path: string, config: Config | undefined): string {
  if (!config) return 'SEALPOST_DATA_DIR';
  const under = (p: string | undefined) => !!p && (path === p || path.startsWith(`${p}/`) || p.startsWith(`${path}/`));
  if (path === config.dataDir || config.dataDir.startsWith(`${path}/`)) return 'SEALPOST_DATA_DIR';
  if (config.database.url.startsWith('sqlite:') && under(config.database.url.slice('sqlite:'.length)))
    return config.database.url.startsWith(`sqlite:${config.dataDir}/`)
      ? 'SEALPOST_DATA_DIR (or SEALPOST_DATABASE_URL)'
      : 'SEALPOST_DATABASE_URL';
  if (config.keys.provider === 'local' && under(config.keys.file) && !config.keys.file.startsWith(`${config.dataDir}/`))
    return 'SEALPOST_KEYRING_FILE';
  if (under(config.tls.certFile)) return 'SEALPOST_TLS_CERT_FILE';
  if (under(config.tls.keyFile)) return 'SEALPOST_TLS_KEY_FILE';
  return 'SEALPOST_DATA_DIR';
}
