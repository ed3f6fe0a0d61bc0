import type { Store } from '../store/store.js';
import type { KeyProvider } from '../crypto/key-provider.js';
import type { KekShredder, ShredProgress } from './erasure-service.js';
import { retireKey, rotateTenantKek } from './key-rotation.js';

/** The slice of key management an erasure needs (`keyProviderKekOperations`, or a test's own). */
export interface KekOperations {
  /** Creates a new KEK version for the tenant and re-wraps every data key under it; resolves with its id. */
  rotate(tenantId: string, onProgress?: (done: number, total: number) => void): Promise<{ keyId: string }>;
  /** Every KEK version of the tenant still held (current and retired). */
  kekVersions(tenantId: string): { keyId: string; status: 'current' | 'retired' }[];
  /** Destroys a retired version; refuses while any stored row still needs it. */
  destroy(keyId: string): Promise<void>;
}

/**
 * Completes an erasure for backups: a backup taken before it holds the patient's data key wrapped
 * under some version of the tenant KEK. Rotating re-wraps every *remaining* data key under a new
 * version; destroying every older version then leaves nothing that can unwrap the erased patient's
 * key from any earlier copy of the database (a keyring backup from before is the one exception, so
 * those must be destroyed too: docs/security.md, "Erasure").
 */
export function kekShredder(ops: KekOperations): KekShredder {
  return {
    async rotateAndDestroy(tenantId: string, onProgress?: ShredProgress) {
      const { keyId } = await ops.rotate(tenantId, (done, total) => onProgress?.('re-wrapping data keys', done, total));
      const old = ops.kekVersions(tenantId).filter((k) => k.keyId !== keyId);
      const destroyed: string[] = [];
      for (const [i, k] of old.entries()) {
        await ops.destroy(k.keyId);
        destroyed.push(k.keyId);
        onProgress?.('destroying old key versions', i + 1, old.length);
      }
      return { keyId, destroyed };
    },
  };
}

/** The KEK operations of a key provider, through key-rotation.ts, audited as `system:erasure`. */
export function keyProviderKekOperations(store: Store, keyring: KeyProvider, clock: () => Date): KekOperations {
  const o = { actor: 'system:erasure', clock };
  return {
    rotate: (tenantId, onProgress) =>
      rotateTenantKek(store, keyring, tenantId, { ...o, onProgress: (p) => onProgress?.(p.done, p.total) }),
    kekVersions: (tenantId) => keyring.listKeys().filter((k) => k.purpose === 'kek' && k.tenantId === tenantId),
    destroy: async (keyId) => void (await retireKey(store, keyring, keyId, o)),
  };
}
