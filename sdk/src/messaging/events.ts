/**
 * What a messaging client tells the application, and the application payloads it puts inside MLS
 * (the server sees none of them). Payloads are JSON: `{ t: 'text', body, replyTo?, attachments? }`
 * and `{ t: 'read', seq }` (an end-to-end read receipt: "I read up to seq").
 */
import type { DeviceVerificationError } from '../transparency/device-verifier.js';

/** An attachment as a message names it: the server id plus what opens it (base64). */
export interface AttachmentRef {
  id: string;
  /** base64 raw AES-256 key. */
  key: string;
  /** base64 SHA-256 of the ciphertext. */
  digest: string;
  size: number;
  name: string;
  type: string;
}

export type Payload =
  { t: 'text'; body: string; replyTo?: number; attachments?: AttachmentRef[] } | { t: 'read'; seq: number };

/** A message as this device keeps it (its local copy, deleted on recall). */
export interface StoredMessage {
  conversationId: string;
  seq: number;
  /** The sending device. */
  senderDevice: string;
  /** The sending person, as the device's verified binding names it. */
  sender: { kind: 'user' | 'patient'; id: string };
  body: string;
  replyTo: number | null;
  urgent: boolean;
  attachments: AttachmentRef[];
  /** ISO 8601, the server's time of arrival. */
  at: string;
  /** True for this device's own messages. */
  mine: boolean;
}

export interface MessagingEvents {
  /** A text message arrived (or was sent by this device). */
  message: StoredMessage;
  /** A member read up to `seq` (end-to-end read receipt). */
  read: { conversationId: string; seq: number; reader: { kind: 'user' | 'patient'; id: string }; device: string };
  /** A message was recalled by its sender; the local copy is gone. */
  recalled: { conversationId: string; seq: number };
  /** The group changed (epoch, members); `joined` when this device was welcomed, `removed` when removed. */
  membership: { conversationId: string; epoch: number; change: 'joined' | 'commit' | 'removed' };
  /** A device failed key-transparency checks and was not added / its commit not processed. */
  'device-refused': { conversationId: string; error: DeviceVerificationError };
  /** Something went wrong in the background (live connection, a conversation that cannot advance). */
  error: { conversationId?: string; error: Error };
  /** The live connection opened or closed. */
  connection: { state: 'open' | 'closed' };
  /** The server says this device's key packages run low (the client replenishes them itself). */
  'key-packages-low': { cipherSuite: string };
}

type Handler<T> = (payload: T) => void;

/** A tiny typed event emitter (no Node EventEmitter: the SDK runs in browsers too). */
export class Emitter {
  private readonly handlers = new Map<keyof MessagingEvents, Set<Handler<never>>>();

  on<K extends keyof MessagingEvents>(event: K, handler: Handler<MessagingEvents[K]>): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler as Handler<never>);
    return () => set!.delete(handler as Handler<never>);
  }

  emit<K extends keyof MessagingEvents>(event: K, payload: MessagingEvents[K]): void {
    for (const h of this.handlers.get(event) ?? []) {
      try {
        (h as Handler<MessagingEvents[K]>)(payload);
      } catch {
        // A failing handler must not stop message processing.
      }
    }
  }
}

/** Parses an application payload; null for anything this SDK does not know. */
export function parsePayload(bytes: Uint8Array): Payload | null {
  try {
    const p = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Payload;
    if (p?.t === 'text' && typeof p.body === 'string') return p;
    if (p?.t === 'read' && Number.isSafeInteger(p.seq)) return p;
    return null;
  } catch {
    return null;
  }
}

export const encodePayload = (p: Payload): Uint8Array => new TextEncoder().encode(JSON.stringify(p));
