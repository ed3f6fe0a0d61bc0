import type { ArchiverClient } from './archiver-run.js';

export interface ArchiverClientOptions {
  baseUrl: string;
  /** The archiver's bearer session token now (renewed by the caller). */
  token: () => string;
  tenantId: string;
  /** The archive directory: the MLS key store lives there (`mls-keys`), sealed by `passphrase`. */
  dir: string;
  passphrase: string;
  /** The registered device, or null on first start (registered then). */
  deviceId: string | null;
}

/**
 * The archiver's MLS client: the SDK's MessagingClient with a FileKeyStore in the archive directory.
 */
export async function openArchiverClient(_o: ArchiverClientOptions): Promise<ArchiverClient> {
  throw new Error('the SDK messaging client is not available yet (sdk/src MessagingClient)');
}
