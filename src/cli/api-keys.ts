import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { Command } from 'commander';
import { loadConfig } from '../config/load-config.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { AppError } from '../core/errors.js';
import {
  API_KEY_SCOPE_NAMES,
  MAX_API_KEY_DAYS,
  apiKeyView,
  checkApiKeyScopes,
  issueApiKey,
  revokeApiKey,
  rotateApiKey,
} from '../auth/api-keys.js';
import { fingerprintSha256, parseClientCertBinding, type ClientCertBinding } from '../auth/client-cert.js';
import { DEFAULT_TENANT } from '../core/domain.js';

/** `sealpost api-keys create|list|rotate|revoke`: system clients' keys, for operators on the server host. */
export function apiKeysCommand(program: Command): void {
  const cmd = program
    .command('api-keys')
    .description('API keys of system clients (optionally bound to a client certificate: mTLS)');

  cmd
    .command('create')
    .description('Create a key and print it once on stdout (only its hash is stored)')
    .requiredOption('--name <name>', 'what the key is for, e.g. "EHR interface engine"')
    .option(
      '--scopes <list>',
      `comma-separated, from: ${API_KEY_SCOPE_NAMES.join(', ')} or SMART system scopes like system/Patient.rs (default: none, an integration key)`,
      '',
    )
    .option(
      '--expires-in-days <n>',
      `the key stops working after this many days (1-${MAX_API_KEY_DAYS}; default: until revoked)`,
    )
    .option(
      '--bind-cert <pem file>',
      'accept the key only with this client certificate (bound by its SHA-256 fingerprint)',
    )
    .option('--bind-ca <pem file>', 'accept the key only with a client certificate issued directly by this CA')
    .action(
      async (opts: { name: string; scopes: string; bindCert?: string; bindCa?: string; expiresInDays?: string }) => {
        const scopes = checkApiKeyScopes(
          opts.scopes
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        );
        const expiresInDays = days(opts.expiresInDays);
        const now = new Date();
        const clientCert = bindingFromFiles(opts.bindCert, opts.bindCa, now);
        await withStore(async (store) => {
          const { key } = await issueApiKey(
            store,
            { tenantId: DEFAULT_TENANT, name: opts.name, scopes, expiresInDays, clientCert, actor: 'system:cli' },
            now,
          );
          console.log(key);
        });
      },
    );

  cmd
    .command('list')
    .description('List keys (id, state, name, scopes, binding, expiry, last use); never secrets')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { json?: boolean }) => {
      await withStore(async (store) => {
        for (let cursor = ''; ;) {
          const rows = await store.read.apiKeys.list(DEFAULT_TENANT, cursor, 500);
          for (const v of rows.map(apiKeyView)) {
            if (opts.json) console.log(JSON.stringify(v));
            else {
              const binding = v.clientCert
                ? 'fingerprintSha256' in v.clientCert
                  ? `cert sha256:${v.clientCert.fingerprintSha256}`
                  : `ca sha256:${v.clientCert.issuerCaSha256}`
                : 'no client cert';
              const state = v.revokedAt
                ? 'revoked'
                : v.expiresAt && Date.parse(v.expiresAt) <= Date.now()
                  ? 'expired'
                  : 'active ';
              console.log(
                `${v.id}  ${state}  ${v.name}  [${v.scopes.join(' ')}]  ${binding}  expires ${v.expiresAt ?? 'never'}  last used ${v.lastUsedAt ?? 'never'}`,
              );
            }
          }
          if (rows.length < 500) break;
          cursor = rows[rows.length - 1]!.id;
        }
      });
    });

  cmd
    .command('rotate <id>')
    .description(
      'Create a successor of the key with this id (the first column of `api-keys list`) with the same name, scopes and binding and print it once; the old key keeps working for the grace period',
    )
    .option('--grace-hours <n>', 'hours the old key keeps working (0: stops at once)', '24')
    .option('--expires-in-days <n>', `lifetime of the new key (1-${MAX_API_KEY_DAYS}; default: the old key's lifetime)`)
    .action(async (id: string, opts: { graceHours: string; expiresInDays?: string }) => {
      const graceHours = Number(opts.graceHours);
      if (!Number.isInteger(graceHours) || graceHours < 0 || graceHours > 24 * 30)
        throw new AppError('SP_APIKEY_INVALID_EXPIRY', '--grace-hours must be 0 to 720');
      const expiresInDays = days(opts.expiresInDays);
      await withStore(async (store) => {
        const { key } = await rotateApiKey(
          store,
          DEFAULT_TENANT,
          id,
          { graceHours, expiresInDays },
          { actor: 'system:cli' },
          new Date(),
        );
        console.log(key);
      });
    });

  cmd
    .command('revoke <id>')
    .description(
      'Revoke a key by its id (the first column of `api-keys list`, not the key itself); a running server may still accept it for up to 5 seconds (its API-key cache)',
    )
    .action(async (id: string) => {
      await withStore(async (store) => {
        await revokeApiKey(store, DEFAULT_TENANT, id, { actor: 'system:cli' }, new Date());
        console.log(`revoked ${id}`);
      });
    });
}

/** `--expires-in-days`: a whole number of days (range checked by the service). */
function days(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,4}$/.test(raw)) throw new AppError('SP_APIKEY_INVALID_EXPIRY');
  return Number(raw);
}

/** `--bind-cert`: the certificate's fingerprint; `--bind-ca`: the CA itself (checked as a CA). */
function bindingFromFiles(
  certFile: string | undefined,
  caFile: string | undefined,
  now: Date,
): ClientCertBinding | null {
  if (certFile && caFile)
    throw new AppError('SP_APIKEY_INVALID_CLIENT_CERT', 'give --bind-cert or --bind-ca, not both');
  const read = (file: string, flag: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      throw new AppError('SP_APIKEY_INVALID_CLIENT_CERT', `${flag}: cannot read the file`);
    }
  };
  if (caFile) return parseClientCertBinding({ issuerCaPem: read(caFile, '--bind-ca') }, now);
  if (!certFile) return null;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(read(certFile, '--bind-cert'));
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw new AppError('SP_APIKEY_INVALID_CLIENT_CERT', '--bind-cert: the file holds no PEM certificate');
  }
  return parseClientCertBinding({ fingerprintSha256: fingerprintSha256(cert.raw) }, now);
}

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const config = loadConfig();
  const store = openStore(config.database, { sqliteDurability: 'full' });
  try {
    await store.migrate();
    await store.read.tenants.ensure(DEFAULT_TENANT, config.organisationName, Date.now());
    await fn(store);
  } finally {
    await store.close();
  }
}
