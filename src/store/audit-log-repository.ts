import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** Queries of the Merkle log: leaves, subtree nodes, integrator state, checkpoints. */
export class AuditLogRepository {
  constructor(private readonly db: Kysely<Database>) {}
}
