/**
 * The JSON the messaging routes exchange, as the contract of the feature pins it. Kept by hand
 * (and small) so the messaging client reads naturally; the generated `paths` types cover every
 * route for callers of the REST client.
 */
import type { CipherSuiteName } from '../cipher-suites.js';

/** A person who messages: a staff user id, or a patient ACCOUNT id. */
export interface Person {
  kind: 'user' | 'patient';
  id: string;
}

/** A registration or revocation audit entry's place in a signed checkpoint, or not yet. */
export type Anchor =
  | {
      status: 'anchored';
      /** The audit entry (RFC 8785 canonical JSON). */
      entry: string;
      index: number;
      treeSize: number;
      /** RFC 9162 audit path, bottom-up, base64. */
      inclusion: string[];
      /** C2SP signed note of the checkpoint. */
      checkpoint: string;
    }
  | { status: 'pending' };

/** `GET /v1/messaging/devices/{deviceId}`. */
export interface MessagingDeviceView {
  deviceId: string;
  tenantId: string;
  person: Person;
  /** base64 of UTF-8 `sealpost:v1:<tenant>:<device>`. */
  identity: string;
  /** base64 raw Ed25519 public key. */
  signatureKey: string;
  status: 'active' | 'revoked';
  /** The binding: canonical JSON the notary key signed. */
  binding: string;
  /** base64 Ed25519 signature over the UTF-8 binding. */
  signature: string;
  keyId: string;
  registeredAt: string;
  revokedAt: string | null;
  registration: Anchor;
  revocation: Anchor | null;
}

/** `GET /.well-known/sealpost-keys.json`. */
export interface PublishedKeys {
  keys: {
    kid?: string;
    kty?: string;
    crv?: string;
    x?: string;
    status?: string;
    notBefore?: string;
    createdAt?: string;
    retiredAt?: string;
  }[];
  checkpointKey?: string;
}

export interface ConversationMember {
  kind: 'user' | 'patient';
  id: string;
  devices: string[];
}

export interface ConversationView {
  id: string;
  kind: 'direct' | 'group' | 'patient';
  cipherSuite: CipherSuiteName;
  epoch: number;
  members: ConversationMember[];
  patientId: string | null;
  lifespanSeconds: number | null;
  externalSender: { signatureKey: string; identity: string };
  createdAt: string;
  latestSeq: number;
}

export interface ConversationEvent {
  conversationId: string;
  seq: number;
  kind: 'commit' | 'application' | 'proposal' | 'welcome' | 'recall';
  epoch: number;
  sender: { deviceId: string } | { external: true };
  data: string | null;
  urgent: boolean;
  attachments: string[];
  recalledSeq: number | null;
  createdAt: string;
}

/** Frames the live WebSocket sends. */
export type LiveFrame =
  | { type: 'event'; event: ConversationEvent }
  | { type: 'key-packages-low'; deviceId: string; cipherSuite: CipherSuiteName }
  | { type: 'revoked' };
