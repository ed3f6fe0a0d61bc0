import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** Read queries over audit entries for people: event search and accounting of disclosures. */
export class AuditQueryRepository {
  constructor(private readonly db: Kysely<Database>) {}
}
