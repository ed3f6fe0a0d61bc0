/**
 * The SDK as browsers load it: Sealpost serves this entry bundled into one ES module at
 * `/portal/assets/sealpost-sdk.js` (src/api/sdk-bundle.ts). It re-exports what a page needs —
 * the messaging client, the REST client, the IndexedDB key store, attachment encryption, device
 * verification — and nothing that needs Node (the file key store lives in `@sealpost/sdk/node`).
 */
export {
  CIPHER_SUITES,
  DEFAULT_CIPHER_SUITE,
  POST_QUANTUM_CIPHER_SUITE,
  type CipherSuiteName,
} from './cipher-suites.js';
export { createRestClient, type RestClientOptions, type SealpostRestClient } from './rest-client.js';
export { IndexedDbKeyStore, type IndexedDbKeyStoreOptions } from './keystore/indexeddb-key-store.js';
export { MemoryKeyStore, type KeyStore } from './keystore/key-store.js';
export {
  ATTACHMENT_CHUNK_BYTES,
  AttachmentError,
  decryptAttachment,
  encryptAttachment,
  type AttachmentSecrets,
  type EncryptedAttachment,
} from './attachments.js';
export {
  DeviceVerificationError,
  verifyDevice,
  type TrustAnchors,
  type VerifiedDevice,
} from './transparency/device-verifier.js';
export { MessagingClient, type MessagingClientOptions, type NewConversation } from './messaging/messaging-client.js';
export { SealpostApiError } from './messaging/http.js';
export type { AttachmentRef, MessagingEvents, StoredMessage } from './messaging/events.js';
export type { ConversationView, Person } from './messaging/wire-types.js';
