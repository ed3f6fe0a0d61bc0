// Temporary: the dev outbox's sealer moved to channels/dev-outbox/outbox-sealer.ts; this re-export
// stays until the CLI and the composition root import it there.
export { outboxSealer } from '../channels/dev-outbox/outbox-sealer.js';
