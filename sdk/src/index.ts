/**
 * The Sealpost SDK: a typed REST client and end-to-end encrypted messaging (MLS, RFC 9420) for Node
 * and browsers. Only WebCrypto, fetch and a WebSocket are needed; the Node-only file key store is
 * loaded on demand (`FileKeyStore.open`), so a browser bundle never pulls node: modules.
 */
export {
  CIPHER_SUITES,
  DEFAULT_CIPHER_SUITE,
  POST_QUANTUM_CIPHER_SUITE,
  type CipherSuiteName,
} from './cipher-suites.js';
export {
  createRestClient,
  type RestClientOptions,
  type SealpostRestClient,
  type paths,
  type components,
} from './rest-client.js';
export { MessagingClient, type MessagingClientOptions, type NewConversation } from './messaging/messaging-client.js';
export type { MessagingEvents, StoredMessage, AttachmentRef, Payload } from './messaging/events.js';
export type { SendOptions, OutgoingAttachment } from './messaging/message-sender.js';
export type { WebSocketFactory, WebSocketLike } from './messaging/live.js';
export type {
  ConversationView,
  ConversationEvent,
  MessagingDeviceView,
  Person,
  Anchor,
} from './messaging/wire-types.js';
export { SealpostApiError } from './messaging/http.js';
export { MemoryKeyStore, type KeyStore } from './keystore/key-store.js';
export { IndexedDbKeyStore, type IndexedDbKeyStoreOptions } from './keystore/indexeddb-key-store.js';
export {
  verifyDevice,
  DeviceVerificationError,
  type TrustAnchors,
  type VerifiedDevice,
} from './transparency/device-verifier.js';
export {
  encryptAttachment,
  decryptAttachment,
  AttachmentError,
  ATTACHMENT_CHUNK_BYTES,
  type AttachmentSecrets,
  type EncryptedAttachment,
} from './attachments.js';

/** The Node file key store (one passphrase-encrypted file); loaded only when used. */
export type FileKeyStore = import('./node/file-key-store.js').FileKeyStore;
export const FileKeyStore = {
  /** Opens (creating) the store at `path`; see `sdk/src/node/file-key-store.ts`. */
  async open(path: string, passphrase: string): Promise<FileKeyStore> {
    const mod = await import('./node/file-key-store.js');
    return mod.FileKeyStore.open(path, passphrase);
  },
};
