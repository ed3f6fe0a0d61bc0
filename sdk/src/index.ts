/** The Sealpost SDK: a typed REST client and end-to-end encrypted messaging (MLS, RFC 9420). */
export {
  CIPHER_SUITES,
  DEFAULT_CIPHER_SUITE,
  POST_QUANTUM_CIPHER_SUITE,
  type CipherSuiteName,
} from './cipher-suites.js';
