import { join } from 'node:path';
import { MessagingClient } from '../../sdk/src/messaging/messaging-client.js';
import { FileKeyStore } from '../../sdk/src/node/file-key-store.js';

export interface ArchiverClientOptions {
  baseUrl: string;
  /** The archiver's bearer session token now (renewed by the caller). */
  token: () => string;
  /** The archive directory: the device's MLS keys and group states live there (`mls-keys.json`). */
  dir: string;
  /** Seals the key store (derived from the archive key: one secret protects both). */
  passphrase: string;
}

/**
 * The archiver's MLS client: the SDK's MessagingClient over a FileKeyStore in the archive directory,
 * so the archiver is a member like any device (its key checked by every other member against the
 * transparency log). Registers the device on first start (platform `cli`, name `Archive`).
 */
export async function openArchiverClient(
  o: ArchiverClientOptions,
): Promise<{ client: MessagingClient; deviceId: string; registered: boolean }> {
  const keyStore = await FileKeyStore.open(join(o.dir, 'mls-keys.json'), o.passphrase);
  const client = await MessagingClient.open({ baseUrl: o.baseUrl, token: o.token, keyStore });
  if (client.device) return { client, deviceId: client.device.deviceId, registered: false };
  const d = await client.register('Archive', 'cli');
  return { client, deviceId: d.deviceId, registered: true };
}
