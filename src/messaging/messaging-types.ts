import type { StoreTx } from '../store/store.js';

/**
 * The vocabulary of end-to-end encrypted messaging and the ports between its parts. The server is the
 * MLS (RFC 9420) Delivery Service and Authentication Service: it binds devices to people, hands out
 * key packages, orders commits (one per epoch) and stores and forwards ciphertext. It never holds a
 * key that decrypts a message. The parts meet only through these ports, so each is tested with fakes
 * of the others.
 */

/** The cipher suites a conversation may use; both sign with Ed25519, so one device key serves both. */
export const CIPHER_SUITES = [
  'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
  // X-Wing: the hybrid of X25519 and ML-KEM-768, secure while either holds.
  'MLS_256_XWING_AES256GCM_SHA512_Ed25519',
] as const;
export type CipherSuiteName = (typeof CIPHER_SUITES)[number];
export const DEFAULT_CIPHER_SUITE: CipherSuiteName = CIPHER_SUITES[0];
export const POST_QUANTUM_CIPHER_SUITE: CipherSuiteName = CIPHER_SUITES[1];

export function isCipherSuite(s: string): s is CipherSuiteName {
  return (CIPHER_SUITES as readonly string[]).includes(s);
}

/** A person who messages: a staff user (user id) or a patient account (account id, not the patient record). */
export interface Person {
  kind: 'user' | 'patient';
  id: string;
}

export function samePerson(a: Person, b: Person): boolean {
  return a.kind === b.kind && a.id === b.id;
}

/** The MLS credential identity of a device (`basic` credential): what every member's SDK looks up. */
export function deviceIdentity(tenantId: string, deviceId: string): string {
  return `sealpost:v1:${tenantId}:${deviceId}`;
}

/** The inverse of `deviceIdentity`; null for anything else. */
export function parseDeviceIdentity(identity: string): { tenantId: string; deviceId: string } | null {
  const m = /^sealpost:v1:([^:]+):([^:]+)$/.exec(identity);
  return m ? { tenantId: m[1], deviceId: m[2] } : null;
}

/** A device with an MLS binding (a row of `devices` plus its signature key). */
export interface MessagingDevice {
  tenantId: string;
  deviceId: string;
  person: Person;
  /** Raw 32-byte Ed25519 public key of the device's MLS signature key. */
  signatureKey: Uint8Array;
  status: 'active' | 'revoked';
  /** Epoch milliseconds. */
  registeredAt: number;
  revokedAt: number | null;
}

export interface ClaimedKeyPackage {
  deviceId: string;
  /** The encoded MLSMessage (wire format mls_key_package). */
  keyPackage: Uint8Array;
  /** The device's last-resort package: handed out again until replaced. */
  lastResort: boolean;
}

/** Devices and their key packages (devices part). */
export interface DeviceDirectory {
  /** The device, active or revoked; null when the tenant has no such messaging device. */
  device(tx: StoreTx, tenantId: string, deviceId: string): Promise<MessagingDevice | null>;
  /** A person's active messaging devices, oldest first. */
  activeDevices(tx: StoreTx, tenantId: string, person: Person): Promise<MessagingDevice[]>;
  /**
   * Claims one key package of `suite` for each active device in `deviceIds`, in `tx`: a claimed
   * package is deleted (single use; two concurrent claims never get the same one); a device with no
   * package left gets its last-resort one (kept). Devices with neither, or not active, are absent.
   */
  claimKeyPackages(
    tx: StoreTx,
    tenantId: string,
    deviceIds: readonly string[],
    suite: CipherSuiteName,
  ): Promise<ClaimedKeyPackage[]>;
}

/** Conversations, as the devices part needs them. */
export interface ConversationMembership {
  /**
   * A device was revoked (remote wipe, deletion): in `tx`, the server stops serving it events and
   * proposes its removal (MLS external Remove) in every conversation it is a member of.
   */
  deviceRevoked(tx: StoreTx, tenantId: string, deviceId: string): Promise<void>;
}

/** What a device reads: one event of a conversation's ordered log. */
export interface ConversationEvent {
  conversationId: string;
  seq: number;
  kind: 'commit' | 'application' | 'proposal' | 'welcome' | 'recall';
  epoch: number;
  sender: { deviceId: string } | { external: true };
  /** The MLSMessage (base64); null once recalled or purged. */
  data: string | null;
  urgent: boolean;
  attachments: string[];
  recalledSeq: number | null;
  /** ISO 8601. */
  createdAt: string;
}

/** Live delivery: told after a commit that a conversation has new events (every node hears it). */
export interface MessageFeed {
  /** Called after the transaction that appended events up to `seq` committed; never throws. */
  published(tenantId: string, conversationId: string, seq: number): void;
  /** A device's key packages run low (told to its live connection, if any). */
  keyPackagesLow?(tenantId: string, deviceId: string, suite: CipherSuiteName): void;
}

/** What live delivery reads (conversations part). */
export interface ConversationReader {
  /** Active member devices of the conversation (those that may read its next events). */
  memberDevices(tenantId: string, conversationId: string): Promise<string[]>;
  /** The events `deviceId` may read after `afterSeq`, oldest first, at most `limit`. */
  eventsFor(
    tenantId: string,
    conversationId: string,
    deviceId: string,
    afterSeq: number,
    limit: number,
  ): Promise<ConversationEvent[]>;
  /** Conversations of a device with their latest seq and the device's cursor. */
  conversationsOf(
    tenantId: string,
    deviceId: string,
  ): Promise<{ conversationId: string; latestSeq: number; cursor: number; epoch: number }[]>;
  /** Records that `deviceId` stored everything up to `seq` (monotonic; clamped to the latest seq). */
  acknowledge(tenantId: string, conversationId: string, deviceId: string, seq: number): Promise<void>;
}

/** Encrypted attachments (opaque blobs), as conversations need them. */
export interface AttachmentStore {
  /**
   * Links uploaded attachments to the message `seq`, in `tx`. Refuses (AppError
   * SP_MESSAGING_ATTACHMENT_NOT_FOUND) an id that is unknown, of another conversation, or already linked.
   */
  attach(tx: StoreTx, tenantId: string, conversationId: string, seq: number, ids: readonly string[]): Promise<void>;
  /** Deletes the attachments of these messages, in `tx`; returns how many. */
  deleteForMessages(tx: StoreTx, tenantId: string, conversationId: string, seqs: readonly number[]): Promise<number>;
}
