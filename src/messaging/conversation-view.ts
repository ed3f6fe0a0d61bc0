import type { StoreTx } from '../store/store.js';
import type { ConversationRow } from '../store/repositories/conversation-repository.js';
import type { CipherSuiteName, Person } from './messaging-types.js';
import type { ConversationDeps } from './conversation-access.js';

export interface ConversationView {
  id: string;
  kind: 'direct' | 'group' | 'patient';
  cipherSuite: CipherSuiteName;
  epoch: number;
  members: { kind: Person['kind']; id: string; devices: string[] }[];
  patientId: string | null;
  lifespanSeconds: number | null;
  externalSender: { signatureKey: string; identity: string };
  createdAt: string;
  latestSeq: number;
}

/**
 * A conversation as its members see it. `members[].devices` are each person's active messaging
 * devices now (what a committer adds), not only those already in the group.
 */
export async function conversationView(
  tx: StoreTx,
  deps: Pick<ConversationDeps, 'devices' | 'externalSenders'>,
  conv: ConversationRow,
): Promise<ConversationView> {
  const members = (await tx.conversations.members(conv.tenant_id, conv.id)).filter((m) => m.removed_at === null);
  const out: ConversationView['members'] = [];
  for (const m of members) {
    const person: Person = { kind: m.person_kind as Person['kind'], id: m.person_id };
    const devices = await deps.devices.activeDevices(tx, conv.tenant_id, person);
    out.push({ ...person, devices: devices.map((d) => d.deviceId) });
  }
  const es = await deps.externalSenders.publicOf(tx, conv.tenant_id, conv.cipher_suite as CipherSuiteName);
  return {
    id: conv.id,
    kind: conv.kind as ConversationView['kind'],
    cipherSuite: conv.cipher_suite as CipherSuiteName,
    epoch: conv.epoch,
    members: out,
    patientId: conv.patient_id,
    lifespanSeconds: conv.lifespan_seconds,
    externalSender: {
      signatureKey: Buffer.from(es.signatureKey).toString('base64'),
      identity: Buffer.from(es.identity).toString('base64'),
    },
    createdAt: new Date(conv.created_at).toISOString(),
    latestSeq: conv.latest_seq,
  };
}
