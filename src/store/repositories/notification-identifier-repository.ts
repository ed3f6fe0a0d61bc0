import type { Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { insertRows, selectIn } from '../sql.js';
import { columns } from './columns.js';

export type NotificationIdentifierRow = Selectable<Database['notification_identifiers']>;

const IDENTIFIER_COLUMNS = columns('notification_identifiers', [
  'tenant_id',
  'identifier_bidx',
  'notification_id',
  'patient_id',
  'identifier_ct',
  'created_at',
]);

/**
 * Business identifiers of notifications created as FHIR CommunicationRequests. Found by a keyed
 * blind index of `system|value` (the caller computes it; never the identifier in clear), the
 * identifier itself sealed under the patient's data key.
 */
export interface NotificationIdentifierRepository {
  /**
   * Inserts new identifiers; an identifier (tenant, blind index) already recorded, by a concurrent
   * command too, fails with a unique violation and the caller's transaction rolls back.
   */
  insertMany(rows: readonly NotificationIdentifierRow[]): Promise<void>;
  /** The tenant's records among `bidxs` (any order; several candidates while a blind-index key rotates). */
  find(tenantId: string, bidxs: readonly string[]): Promise<NotificationIdentifierRow[]>;
  /** The identifiers of the given notifications (any order). */
  forNotifications(notificationIds: readonly string[]): Promise<NotificationIdentifierRow[]>;
}

export class SqlNotificationIdentifierRepository implements NotificationIdentifierRepository {
  constructor(private readonly sql: Sql) {}

  async insertMany(rows: readonly NotificationIdentifierRow[]): Promise<void> {
    await insertRows(this.sql, 'notification_identifiers', IDENTIFIER_COLUMNS, rows);
  }

  find(tenantId: string, bidxs: readonly string[]): Promise<NotificationIdentifierRow[]> {
    return selectIn<NotificationIdentifierRow>(
      this.sql,
      'select * from notification_identifiers where tenant_id = ? and',
      'identifier_bidx',
      bidxs,
      [tenantId],
    );
  }

  forNotifications(notificationIds: readonly string[]): Promise<NotificationIdentifierRow[]> {
    return selectIn<NotificationIdentifierRow>(
      this.sql,
      'select * from notification_identifiers where',
      'notification_id',
      notificationIds,
    );
  }
}
