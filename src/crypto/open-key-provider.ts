import type { Config } from '../config/config.js';
import type { KeyProvider } from './key-provider.js';
import { LocalKeyring } from './local-keyring.js';

export interface OpenedKeyProvider {
  provider: KeyProvider;
  /** True when this call created the key store (first start): the caller audits it. */
  created: boolean;
}

/**
 * Configuration → key provider. The only place that picks one; a cloud KMS is one more branch here
 * and one new file implementing KeyProvider. Throws a coded AppError (exit 1 at start) for a wrong
 * passphrase, a missing HSM slot or PIN, an unreadable key file.
 */
export async function openKeyProvider(keys: Config['keys']): Promise<OpenedKeyProvider> {
  switch (keys.provider) {
    case 'pkcs11': {
      // Loaded only when configured, so installations without an HSM never load the native module.
      const { Pkcs11KeyProvider } = await import('./pkcs11-key-provider.js');
      return Pkcs11KeyProvider.open({
        library: keys.pkcs11.library!,
        slot: keys.pkcs11.slot,
        tokenLabel: keys.pkcs11.tokenLabel,
        pin: keys.pkcs11.pin!,
      });
    }
    case 'local':
    default: {
      const { keyring, created } = LocalKeyring.openOrCreate(keys.file, { passphrase: keys.passphrase });
      return { provider: keyring, created };
    }
  }
}

/**
 * Keeps a long-running process's view of the keys fresh: versions created by `sealpost keys rotate`
 * in another process are picked up within `seconds`. Returns the stop function.
 */
export function watchKeyProvider(provider: KeyProvider, seconds: number, onError: (e: unknown) => void): () => void {
  const t = setInterval(() => {
    provider.refresh().catch(onError);
  }, seconds * 1000);
  t.unref();
  return () => clearInterval(t);
}
