import type { StoreTx } from '../store/store.js';
import type { DeviceRevocations } from '../core/device-revocation.js';
import { audit } from '../core/context.js';
import type { ConversationMembership } from './messaging-types.js';

/** Until the composition root hands over the conversations part: nothing to tell. */
export const NO_CONVERSATIONS: ConversationMembership = { deviceRevoked: async () => {} };

/**
 * Revokes the MLS bindings of revoked devices, inside the transaction that revoked the `devices`
 * rows (DELETE /v1/me/devices/{id}, a remote wipe, a disabled account): the binding, its
 * `messaging.device.revoked` audit entry (the key-transparency record members check), the
 * device's key packages, and its conversations (MLS external Remove proposals) commit together.
 */
export class MessagingDeviceRevoker implements DeviceRevocations {
  /** The conversations part; the composition root sets it once built (a no-op until then). */
  membership: ConversationMembership = NO_CONVERSATIONS;

  async revoked(
    tx: StoreTx,
    r: {
      tenantId: string;
      owner: { kind: 'user' | 'patient'; id: string };
      deviceId?: string;
      at: number;
      actor: string;
    },
  ): Promise<void> {
    const rows = await tx.messagingDevices.revokeRevokedDevices(r.tenantId, r.owner.kind, r.owner.id, r.at, r.deviceId);
    for (const row of rows) {
      await audit(tx, { tenantId: r.tenantId, actor: r.actor }, new Date(r.at), {
        action: 'messaging.device.revoked',
        targetType: 'device',
        targetId: row.device_id,
        patientRef: null,
        details: { bindingHash: row.binding_hash, keyId: row.key_id },
      });
      await this.membership.deviceRevoked(tx, r.tenantId, row.device_id);
    }
  }
}
