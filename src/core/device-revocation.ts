import type { StoreTx } from '../store/store.js';

/**
 * What happens to a person's devices beyond their rows when they are revoked: the port the
 * messaging part implements (its MLS bindings are revoked and their conversations told), so core
 * and auth revoke devices without knowing messaging. Called INSIDE the transaction that revoked the
 * rows: a failure rolls the revocation back, so a device is never half revoked.
 */
export interface DeviceRevocations {
  /**
   * `deviceId` (one device) or every device (absent) of `owner` was revoked at `at` by `actor`, in
   * `tx`. Must only write through `tx`.
   */
  revoked(
    tx: StoreTx,
    r: {
      tenantId: string;
      owner: { kind: 'user' | 'patient'; id: string };
      deviceId?: string;
      at: number;
      actor: string;
    },
  ): Promise<void>;
}
