/** The cipher suites Sealpost conversations use; both sign with Ed25519 (one device key serves both). */
export const CIPHER_SUITES = [
  'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
  // X-Wing: the hybrid of X25519 and ML-KEM-768, secure while either holds.
  'MLS_256_XWING_AES256GCM_SHA512_Ed25519',
] as const;
export type CipherSuiteName = (typeof CIPHER_SUITES)[number];
export const DEFAULT_CIPHER_SUITE: CipherSuiteName = CIPHER_SUITES[0];
export const POST_QUANTUM_CIPHER_SUITE: CipherSuiteName = CIPHER_SUITES[1];
