import type { StoreTx } from '../store/store.js';
import type {
  CipherSuiteName,
  ClaimedKeyPackage,
  DeviceDirectory,
  MessagingDevice,
  Person,
} from './messaging-types.js';
import { messagingDevice } from './device-registry.js';
import type { KeyPackageService } from './key-packages.js';

/**
 * The devices part as the conversations part sees it (the `DeviceDirectory` port), on the store.
 * Claims are audited as `system:messaging` (the conversation's own entry names who asked), and a
 * device left low is told at once rather than after the caller's commit: the nudge only asks for
 * more packages, so one told for a claim that then rolled back costs nothing.
 */
export class StoreDeviceDirectory implements DeviceDirectory {
  constructor(private readonly keyPackages: KeyPackageService) {}

  async device(tx: StoreTx, tenantId: string, deviceId: string): Promise<MessagingDevice | null> {
    const r = await tx.messagingDevices.get(tenantId, deviceId);
    return r ? messagingDevice(r) : null;
  }

  async activeDevices(tx: StoreTx, tenantId: string, person: Person): Promise<MessagingDevice[]> {
    return (await tx.messagingDevices.activeOf(tenantId, person.kind, person.id)).map(messagingDevice);
  }

  async claimKeyPackages(
    tx: StoreTx,
    tenantId: string,
    deviceIds: readonly string[],
    suite: CipherSuiteName,
  ): Promise<ClaimedKeyPackage[]> {
    const { items, low } = await this.keyPackages.claimInTx(
      tx,
      { tenantId, actor: 'system:messaging' },
      deviceIds,
      suite,
    );
    for (const id of low) this.keyPackages.tellLow(tenantId, id, suite);
    return items;
  }
}
