import { hkdfSync } from 'node:crypto';
import type { Config } from '../config/config.js';
import { openStore } from '../store/open-store.js';
import { SessionService, sessionPolicy } from '../auth/session-service.js';
import { AppError } from '../core/errors.js';
import { serverPublicUrl } from './installation.js';
import { ArchiveStore, readArchiveKey } from './archiver-store.js';
import { issueArchiverSession } from './archiver-identity.js';
import { archiveEvent, type FetchAttachment, type ReceivedEvent } from './archiver-record.js';
import { readState, writeState } from './archiver-state.js';
import { openArchiverClient } from './archiver-client.js';

/**
 * What the archive member needs from an MLS client (the SDK's MessagingClient behind
 * archiver-client.ts): a device of its own, welcomes accepted, every event processed in order.
 */
export interface ArchiverClient {
  readonly deviceId: string;
  /**
   * Processes everything waiting in every conversation of the device (welcomes first joined), hands
   * each event to `onEvent` in seq order and acknowledges it (cursor) once `onEvent` resolved.
   */
  sync(onEvent: (e: ReceivedEvent) => Promise<void>): Promise<number>;
  /** Keeps a live connection and hands over events as they come; resolves when `signal` aborts. */
  live(onEvent: (e: ReceivedEvent) => Promise<void>, signal: AbortSignal): Promise<void>;
  readonly fetchAttachment: FetchAttachment;
  close(): Promise<void>;
}

export interface RunOptions {
  config: Config;
  dir: string;
  keyFile: string;
  tenantId: string;
  server?: string;
  once: boolean;
  actor: string;
  /** Stops a running archiver (tests); SIGINT and SIGTERM do otherwise. */
  signal?: AbortSignal;
  /** Told after each archived record (tests, progress). */
  onArchived?: (e: ReceivedEvent) => void;
}

/**
 * The MLS key store's passphrase, derived from the archive key (HKDF-SHA-256, its own label): one
 * secret, the archive key file, protects both the archive and the device's MLS keys.
 */
export const keyStorePassphrase = (key: Buffer): string =>
  Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'sealpost archiver key store v1', 32)).toString('base64');

/** `sealpost archiver run`: see archiver.ts. Sessions are minted through the store and renewed. */
export async function runArchiver(o: RunOptions): Promise<void> {
  const state = readState(o.dir);
  if (state.tenantId !== o.tenantId)
    throw new AppError('SP_REQ_VALIDATION', `${o.dir}: the archive of tenant ${state.tenantId}`);
  const key = readArchiveKey(o.keyFile);
  const archive = new ArchiveStore(o.dir, key);
  const store = openStore(o.config.database, { sqliteDurability: 'full' });
  const sessions = new SessionService(store, sessionPolicy(o.config.identity), () => new Date());
  let session = await issueArchiverSession(store, sessions, o.tenantId, o.actor, new Date());
  // Renew a few minutes before the absolute deadline (the idle timeout is kept by the traffic of live use).
  const token = () => session.token;
  const renew = async () => {
    if (session.expiresAt.getTime() - Date.now() < 10 * 60_000)
      session = await issueArchiverSession(store, sessions, o.tenantId, o.actor, new Date());
  };
  const baseUrl = o.server ?? (await serverPublicUrl(o.config, store, (l) => console.error(l)));
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  o.signal?.addEventListener('abort', onSignal);
  const client = await openArchiverClient({
    baseUrl,
    token,
    tenantId: o.tenantId,
    dir: o.dir,
    passphrase: keyStorePassphrase(key),
    deviceId: state.deviceId,
  });
  try {
    if (state.deviceId !== client.deviceId) writeState(o.dir, { ...state, deviceId: client.deviceId });
    const onEvent = async (e: ReceivedEvent) => {
      await renew();
      if (await archiveEvent(archive, e, client.fetchAttachment)) o.onArchived?.(e);
    };
    await client.sync(onEvent);
    if (!o.once && !stop.signal.aborted) await client.live(onEvent, stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await client.close();
    await store.close();
  }
}
