/** Node-only parts of the SDK (`@sealpost/sdk/node`): the passphrase-encrypted file key store. */
export { FileKeyStore } from './file-key-store.js';
