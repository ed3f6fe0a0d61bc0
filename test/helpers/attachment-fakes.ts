import type {
  ConversationReader,
  DeviceDirectory,
  MessagingDevice,
  Person,
} from '../../src/messaging/messaging-types.js';

/** Fakes of the ports the service needs: devices (H1) and conversation membership (H2). */
export function fakePorts() {
  const devices = new Map<string, MessagingDevice>();
  const members = new Map<string, string[]>();
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
    eventsFor: async () => [],
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
  return { directory, reader, addDevice, setMembers };
}
