import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import { isStoreUnavailable } from '../store/store-errors.js';
import type { KeyProvider } from '../crypto/key-provider.js';
import { AppError } from '../core/errors.js';
import { DEFAULT_TENANT } from '../core/domain.js';
import { createApiKey } from '../auth/api-keys.js';
import { idempotencyKeyRef } from '../core/context.js';
import type { EnvelopeCipher } from '../crypto/envelope-cipher.js';
import { loadVapidKeys } from '../channels/push/vapid-keys.js';

/** The settings row holding the public URL the server last started with (read by the CLI). */
export const PUBLIC_URL_SETTING = 'public_url';

/** Start-up duties: what must hold, or be created, before the server takes traffic. */
export interface StartupOptions {
  store: Store;
  keyring: KeyProvider;
  /** The services' cipher: idempotency keys kept in clear from before migration 010 are hashed with it. */
  cipher: EnvelopeCipher;
  /** True when this start created the keyring (its creation is audited once the database is up). */
  keyringCreated: boolean;
  organisationName: string;
  /** SEALPOST_PUBLIC_URL as this server uses it: recorded so the CLI prints links that work here. */
  publicUrl: string;
  dataDir: string;
  clock: () => Date;
}

/**
 * Everything that needs the database at start: migrations, the default tenant, the keyring check,
 * the idempotency keys kept in clear before migration 010, the audited keyring creation and the
 * bootstrap API key. Safe to run again after a failure.
 * Returns the bootstrap key when this start created it.
 */
export async function prepareDatabase(o: StartupOptions): Promise<string | null> {
  const { store, keyring, clock } = o;
  await store.migrate();
  await store.read.tenants.ensure(DEFAULT_TENANT, o.organisationName, clock().getTime());
  await checkKeyringMatches(store, keyring);
  await hashClearIdempotencyKeys(store, o.cipher);
  await store.read.settings.put(PUBLIC_URL_SETTING, o.publicUrl);
  // The installation's VAPID key pair (Web Push) exists from the first start on, not from a first request.
  await loadVapidKeys(store.read.settings, keyring.macKey('sealpost/vapid'));
  if (o.keyringCreated) {
    // Key operations are on the record like everything else (ids only, never key material).
    await store.transaction((tx) =>
      tx.audit.append({
        tenantId: DEFAULT_TENANT,
        at: clock(),
        actor: 'system:bootstrap',
        action: 'key.keyring_created',
        outcome: 'success',
        targetType: 'key',
        targetId: keyring.currentKeyId(DEFAULT_TENANT),
      }),
    );
  }
  return ensureBootstrapKey(store, o.dataDir, clock());
}

/**
 * Runs `attempt` until it succeeds. The database may be down or still starting: keep trying with
 * capped, jittered backoff, and fail at once on anything else (a wrong keyring, a broken migration)
 * or once `stopped()` says the app is closing.
 */
export async function retryWhileStoreUnavailable(
  attempt: () => Promise<void>,
  o: { logger: Logger; stopped: () => boolean },
): Promise<void> {
  for (let n = 1, delay = 250; ; n++, delay = Math.min(delay * 2, 10_000)) {
    try {
      return await attempt();
    } catch (e) {
      if (o.stopped() || !isStoreUnavailable(e)) throw e;
      const wait = Math.round(delay / 2 + Math.random() * (delay / 2));
      o.logger.warn(
        { attempt: n, retryInMs: wait, causeCode: errorCode(e) },
        'database unavailable at start; retrying (check that the database SEALPOST_DATABASE_URL names is running and reachable)',
      );
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/**
 * A database must only ever be written with one keyring: a node started with another (a fresh data
 * directory, a wrong SEALPOST_KEYRING_FILE) would write data no other node can read. The first start
 * records a fingerprint (an HMAC under the keyring's own MAC key, revealing nothing about it).
 */
async function checkKeyringMatches(store: Store, keyring: KeyProvider): Promise<void> {
  const mine = createHmac('sha256', keyring.macKey('sealpost/keyring-fingerprint'))
    .update('sealpost keyring fingerprint v1')
    .digest('hex')
    .slice(0, 32);
  const recorded = await store.read.settings.init('keyring_fingerprint', mine);
  if (recorded !== mine) {
    throw new AppError(
      'SP_CRYPTO_KEYRING_MISMATCH',
      'this database was written with another keyring (check SEALPOST_KEYRING_FILE: every node must use the same one)',
    );
  }
}

/**
 * Migration 010 set aside the idempotency records written before it (their key in clear): hash each
 * key into `idempotency_keys` before the server takes traffic, so a retry after the upgrade still
 * finds its first answer, and no clear key stays. Batches of 500, each in its own transaction; after
 * the first start there is nothing left and this is one empty read.
 */
async function hashClearIdempotencyKeys(store: Store, cipher: EnvelopeCipher): Promise<void> {
  const ref = (tenantId: string, key: string) => idempotencyKeyRef({ cipher }, tenantId, key);
  while ((await store.transaction((tx) => tx.idempotency.hashClearKeys(ref, 500))) > 0);
}

/** On a fresh installation, creates the first API key and writes it (only) to a 0600 file. */
async function ensureBootstrapKey(store: Store, dataDir: string, now: Date): Promise<string | null> {
  if ((await store.read.apiKeys.count()) > 0) return null;
  const key = await createApiKey(store, DEFAULT_TENANT, 'bootstrap', ['admin'], now);
  const file = join(dataDir, 'bootstrap-api-key');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  if (existsSync(file)) chmodSync(file, 0o600);
  return key;
}

/** The code of an error or of its cause, for logs that must carry no message (messages may hold PHI). */
export function errorCode(e: unknown): string | undefined {
  const c =
    (e as { code?: unknown; cause?: { code?: unknown } })?.code ?? (e as { cause?: { code?: unknown } })?.cause?.code;
  return typeof c === 'string' ? c : undefined;
}
