import webpush from 'web-push';
import { open, seal } from '../../crypto/aead.js';

/** The installation's VAPID key pair (RFC 8292): P-256, base64url, as web-push uses them. */
export interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

/** Where the sealed pair is kept: the installation settings (first writer wins across nodes). */
export interface VapidKeyStore {
  /** Stores `value` unless the setting exists; returns the stored value either way. */
  init(name: string, value: string): Promise<string>;
}

export const VAPID_SETTING = 'push.vapid';
const AAD = 'sealpost/v1|settings|push.vapid|keys';

/**
 * Generates the VAPID key pair once per installation and keeps it sealed (AES-256-GCM under a key
 * derived from the key provider's MAC secret, like the dev outbox) in the settings table: every node
 * of the installation reads the same pair, and a browser's subscription (bound to the public key)
 * stays valid across restarts. A concurrent first start is settled by `init` (one pair wins).
 */
export async function loadVapidKeys(store: VapidKeyStore, sealKey: Buffer): Promise<VapidKeys> {
  const fresh = webpush.generateVAPIDKeys();
  const sealed = seal(sealKey, Buffer.from(JSON.stringify(fresh), 'utf8'), AAD).toString('base64');
  const stored = await store.init(VAPID_SETTING, sealed);
  const keys = JSON.parse(open(sealKey, Buffer.from(stored, 'base64'), AAD).toString('utf8')) as VapidKeys;
  return { publicKey: keys.publicKey, privateKey: keys.privateKey };
}

/** Loads once, on first use, and keeps the answer (a failed load is tried again next time). */
export function lazyVapidKeys(load: () => Promise<VapidKeys>): () => Promise<VapidKeys> {
  let p: Promise<VapidKeys> | undefined;
  return () => {
    p ??= load().catch((e: unknown) => {
      p = undefined;
      throw e;
    });
    return p;
  };
}
