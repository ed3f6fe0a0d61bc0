import { hkdfSync } from 'node:crypto';
import type { Config } from '../config/config.js';
import { openStore } from '../store/open-store.js';
import { SessionService, sessionPolicy } from '../auth/session-service.js';
import { AppError } from '../core/errors.js';
import { serverPublicUrl } from './installation.js';
import { ArchiveStore, readArchiveKey } from './archiver-store.js';
import { issueArchiverSession } from './archiver-identity.js';
import { ArchiveRecorder } from './archiver-record.js';
import { lockArchive, readState, writeState } from './archiver-state.js';
import { openArchiverClient } from './archiver-client.js';

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
  /** Progress lines (ids and counts only) go here; default stderr. */
  log?: (line: string) => void;
}

/**
 * The MLS key store's passphrase, derived from the archive key (HKDF-SHA-256, its own label): one
 * secret, the archive key file, protects both the archive and the device's MLS keys.
 */
export const keyStorePassphrase = (key: Buffer): string =>
  Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'sealpost archiver key store v1', 32)).toString('base64');

/**
 * `sealpost archiver run`: mints its session through the store (renewed before the absolute
 * deadline, kept alive within the idle timeout), opens its MLS client, archives what is waiting,
 * then (unless --once) stays connected until SIGINT/SIGTERM or `signal`.
 */
export async function runArchiver(o: RunOptions): Promise<void> {
  const log = o.log ?? ((l: string) => console.error(l));
  const state = readState(o.dir);
  if (state.tenantId !== o.tenantId)
    throw new AppError('SP_REQ_VALIDATION', `${o.dir}: the archive of tenant ${state.tenantId}`);
  const key = readArchiveKey(o.keyFile);
  const unlock = lockArchive(o.dir);
  const archive = new ArchiveStore(o.dir, key);
  const recorder = new ArchiveRecorder(archive);
  const store = openStore(o.config.database, { sqliteDurability: 'full' });
  const policy = sessionPolicy(o.config.identity);
  const sessions = new SessionService(store, policy, () => new Date());
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  o.signal?.addEventListener('abort', onSignal);
  const timers: NodeJS.Timeout[] = [];
  let client: Awaited<ReturnType<typeof openArchiverClient>>['client'] | null = null;
  try {
    let session = await issueArchiverSession(store, sessions, o.tenantId, o.actor, new Date());
    const baseUrl = o.server ?? (await serverPublicUrl(o.config, store, log));
    const opened = await openArchiverClient({
      baseUrl,
      token: () => session.token,
      dir: o.dir,
      passphrase: keyStorePassphrase(key),
    });
    client = opened.client;
    const c = client;
    if (opened.registered) log(`archiver: registered messaging device ${opened.deviceId}`);
    if (state.deviceId !== opened.deviceId) writeState(o.dir, { ...state, deviceId: opened.deviceId });

    c.on('message', (m) => {
      if (recorder.message(m)) log(`archiver: archived ${m.conversationId} seq ${m.seq}`);
    });
    c.on('recalled', (e) => {
      if (recorder.recalled(e)) log(`archiver: recall of ${e.conversationId} seq ${e.seq} recorded (message kept)`);
    });
    c.on('membership', (e) => {
      recorder.membership(e);
      if (e.change === 'joined') log(`archiver: joined ${e.conversationId}`);
    });
    c.on('device-refused', (e) => log(`archiver: ${e.conversationId}: a device failed key-transparency checks`));
    c.on('error', (e) => log(`archiver: ${e.conversationId ?? '-'}: ${e.error.message}`));
    const fetchAttachment = (
      conversationId: string,
      a: { id: string; key: string; digest: string; size: number; name: string | null; mediaType: string | null },
    ) =>
      c.downloadAttachment(conversationId, {
        id: a.id,
        key: a.key,
        digest: a.digest,
        size: a.size,
        name: a.name ?? '',
        type: a.mediaType ?? '',
      });
    const drain = async () => {
      const n = await recorder.drain(fetchAttachment);
      if (n) log(`archiver: stored ${n} attachment(s)`);
    };

    recorder.requeueMissing();
    await c.sync();
    await drain();
    if (o.once || stop.signal.aborted) return;

    // A new session shortly before the absolute deadline; a cheap request within the idle timeout.
    timers.push(
      setInterval(
        () => {
          void (async () => {
            if (session.expiresAt.getTime() - Date.now() < 10 * 60_000)
              session = await issueArchiverSession(store, sessions, o.tenantId, o.actor, new Date());
            await c.replenishKeyPackages();
            await drain();
          })().catch((e: Error) => log(`archiver: ${e.message}`));
        },
        Math.max(5_000, Math.min(policy.idleMs / 3, 5 * 60_000)),
      ),
    );
    await c.connect();
    log('archiver: connected');
    await new Promise<void>((resolve) => {
      if (stop.signal.aborted) resolve();
      stop.signal.addEventListener('abort', () => resolve());
      // Attachments named by live messages are fetched soon after, not at the next timer.
      timers.push(setInterval(() => void drain().catch((e: Error) => log(`archiver: ${e.message}`)), 1_000));
    });
    await drain().catch(() => {});
  } finally {
    for (const t of timers) clearInterval(t);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    client?.close();
    await store.close();
    unlock();
  }
}
