import type { StoreTx } from '../../src/store/store.js';
import type {
  ConversationReader,
  DeviceDirectory,
  MessagingDevice,
  Person,
} from '../../src/messaging/messaging-types.js';

/** Fakes of the ports the service needs: the messaging devices and conversation membership. */
export function fakePorts() {
  const devices = new Map<string, MessagingDevice>();
  const members = new Map<string, string[]>();
  /** Per `tenant/conversation/device`: the seqs the device is served (default: all). */
  const windows = new Map<string, { from: number; until: number | null }>();
  const directory: DeviceDirectory = {
    device: async (_tx, tenantId, deviceId) => {
      const d = devices.get(deviceId);
      return d && d.tenantId === tenantId ? d : null;
    },
    activeDevices: async (_tx, tenantId, person) =>
      [...devices.values()].filter(
        (d) =>
          d.tenantId === tenantId &&
          d.status === 'active' &&
          d.person.kind === person.kind &&
          d.person.id === person.id,
      ),
    claimKeyPackages: async () => [],
  };
  const reader: ConversationReader = {
    memberDevices: async (tenantId, conversationId) => members.get(`${tenantId}/${conversationId}`) ?? [],
    // One application event per seq the device's window holds (enough for who-may-read checks).
    eventsFor: async (tenantId, conversationId, deviceId, after, limit) => {
      if (limit < 1 || !(members.get(`${tenantId}/${conversationId}`) ?? []).includes(deviceId)) return [];
      const w = windows.get(`${tenantId}/${conversationId}/${deviceId}`) ?? { from: 1, until: null };
      const seq = Math.max(after + 1, w.from);
      if (w.until !== null && seq > w.until) return [];
      return [
        {
          conversationId,
          seq,
          kind: 'application',
          epoch: 1,
          sender: { external: true },
          data: null,
          urgent: false,
          attachments: [],
          recalledSeq: null,
          createdAt: new Date(0).toISOString(),
        },
      ];
    },
    conversationsOf: async () => [],
    acknowledge: async () => undefined,
  };
  const addDevice = (tenantId: string, deviceId: string, person: Person, status: 'active' | 'revoked' = 'active') =>
    devices.set(deviceId, {
      tenantId,
      deviceId,
      person,
      signatureKey: new Uint8Array(32),
      status,
      registeredAt: 0,
      revokedAt: null,
    });
  const setMembers = (tenantId: string, conversationId: string, ids: string[]) =>
    members.set(`${tenantId}/${conversationId}`, ids);
  const setWindow = (
    tenantId: string,
    conversationId: string,
    deviceId: string,
    from: number,
    until: number | null = null,
  ) => windows.set(`${tenantId}/${conversationId}/${deviceId}`, { from, until });
  return { directory, reader, addDevice, setMembers, setWindow };
}

/**
 * An application message of `senderDeviceId` at `seq` in the conversation's log, as the
 * conversations part appends it before linking the attachments it names (the sender is read back).
 */
export async function messageEvent(
  tx: StoreTx,
  tenantId: string,
  conversationId: string,
  seq: number,
  senderDeviceId: string,
): Promise<void> {
  await tx.conversationEvents.insert([
    {
      tenant_id: tenantId,
      conversation_id: conversationId,
      seq,
      kind: 'application',
      epoch: 1,
      sender_device_id: senderDeviceId,
      data: new Uint8Array([1]),
      size: 1,
      data_hash: `hash-${tenantId}-${conversationId}-${seq}`,
      client_message_id: `m-${seq}`,
      urgent: 0,
      attachments: '[]',
      recipients: null,
      recalled_seq: null,
      recalled_at: null,
      purged_at: null,
      created_at: 0,
    },
  ]);
}
