import { createHash, createPrivateKey, createPublicKey, hkdfSync, sign as edSign } from 'node:crypto';
import type { KeyProvider } from './key-provider.js';
import type { PublishedSigningKey, Signer } from './signer.js';

/** PKCS#8 prefix of an Ed25519 private key (RFC 8410 §7): node:crypto loads a raw 32-byte seed through it. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * The notary signing key of a provider that does not hold one of its own (the local keyring before
 * it grows `signer()`). The Ed25519 seed is derived with HKDF-SHA256 (RFC 5869) from the keyring's
 * MAC secret under a purpose label, so existing keyring files need no rewrite and every node with
 * the same keyring signs with the same key. One version only: rotation belongs to the key provider.
 */
export function localSigner(keys: Pick<KeyProvider, 'macKey'>): Signer {
  const ikm = keys.macKey('sealpost/notary-signing');
  const seed = Buffer.from(hkdfSync('sha256', ikm, Buffer.alloc(0), 'sealpost notary ed25519 seed v1', 32));
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  seed.fill(0);
  const publicKey = createPublicKey(privateKey);
  return {
    keyId: signingKeyId(publicKey),
    alg: 'EdDSA',
    publicKey,
    // Ed25519 takes no separate digest (RFC 8032 "pure" mode): the algorithm argument must be null.
    sign: async (data: Buffer) => edSign(null, data, privateKey),
  };
}

/**
 * A key id derived from the public key itself (first 16 bytes of SHA-256 of its SPKI encoding), so
 * ids never collide across installations and a proof's key id says which key it needs.
 */
export function signingKeyId(publicKey: ReturnType<typeof createPublicKey>): string {
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return `ed25519-${createHash('sha256').update(spki).digest('hex').slice(0, 32)}`;
}

/** The published form of a single, never-retired local key; `createdAt` is when this database first used it. */
export function localPublishedKeys(signer: Signer, createdAt: string): PublishedSigningKey[] {
  return [{ keyId: signer.keyId, alg: 'EdDSA', publicKey: signer.publicKey, status: 'current', createdAt }];
}

/** The signing half of a key provider, as core receives it (CoreDeps.signing). */
export interface SigningKeys {
  signer: () => Signer;
  publishedKeys: () => PublishedSigningKey[];
}

/**
 * The provider's own signing keys when it has them (`signer()`, `publishedSigningKeys()`: versions,
 * rotation, HSM), else the single derived local key above, published as created when the keyring
 * file was (`keyringCreatedAt`), which is before anything it could have signed.
 */
export function signingKeysOf(provider: Pick<KeyProvider, 'macKey'>, keyringCreatedAt: () => string): SigningKeys {
  const p = provider as Partial<{ signer(): Signer; publishedSigningKeys(): PublishedSigningKey[] }>;
  if (typeof p.signer === 'function' && typeof p.publishedSigningKeys === 'function') {
    return { signer: () => p.signer!(), publishedKeys: () => p.publishedSigningKeys!() };
  }
  const signer = localSigner(provider);
  let published: PublishedSigningKey[] | null = null;
  return { signer: () => signer, publishedKeys: () => (published ??= localPublishedKeys(signer, keyringCreatedAt())) };
}
