import type { KeyProvider } from '../../crypto/key-provider.js';
import type { OutboxSealer } from './dev-outbox-channel.js';
import { open, seal } from '../../crypto/aead.js';

/** Seals dev-outbox fields under a key derived from the key provider's MAC secret. */
export function outboxSealer(keys: KeyProvider): OutboxSealer {
  const key = keys.macKey('sealpost/dev-outbox');
  const aad = (id: string, field: string) => `sealpost/v1|dev_outbox|${id}|${field}`;
  return {
    seal: (id, field, value) => seal(key, Buffer.from(value, 'utf8'), aad(id, field)),
    open: (id, field, sealed) => open(key, sealed, aad(id, field)).toString('utf8'),
  };
}
