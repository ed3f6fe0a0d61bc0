import type { Insertable, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { Sql } from '../sql.js';
import { insertRows, stmt } from '../sql.js';
import { SIGNATURE_COLUMNS } from './columns.js';
import { revokeOnce } from './revoke-once.js';

export type SignerRow = Selectable<Database['signers']>;
export type NotificationSignatureRow = Selectable<Database['notification_signatures']>;

/** Persons' device-held signing keys and each notification's notary (and sender) signature. */
export interface SignerRepository {
  insert(row: SignerRow): Promise<void>;
  get(tenantId: string, id: string): Promise<SignerRow | undefined>;
  findByThumbprint(tenantId: string, thumbprint: string): Promise<SignerRow | undefined>;
  /** Marks a signer revoked (first time only); true when this call revoked it. */
  revoke(tenantId: string, id: string, now: number): Promise<boolean>;
  /** Inserts notifications' signatures; a sender's identical signed request twice fails with a unique violation. */
  insertSignatures(rows: readonly Insertable<Database['notification_signatures']>[]): Promise<void>;
  getSignature(tenantId: string, notificationId: string): Promise<NotificationSignatureRow | undefined>;
  /** The notification already created from this signer's identical signed request, if any. */
  findSignedRequest(tenantId: string, signerId: string, requestBidx: string): Promise<string | undefined>;
}

const GET = stmt('select * from signers where tenant_id = ? and id = ?');
const BY_THUMBPRINT = stmt('select * from signers where tenant_id = ? and thumbprint = ?');
const GET_SIGNATURE = stmt('select * from notification_signatures where tenant_id = ? and notification_id = ?');
const SIGNED_REQUEST = stmt(
  'select notification_id from notification_signatures where tenant_id = ? and sender_signer_id = ? and sender_request_bidx = ?',
);

export class SqlSignerRepository implements SignerRepository {
  constructor(private readonly sql: Sql) {}

  async insert(row: SignerRow): Promise<void> {
    await this.sql.db.insertInto('signers').values(row).execute();
  }

  get(tenantId: string, id: string): Promise<SignerRow | undefined> {
    return this.sql.get<SignerRow>(GET, [tenantId, id]);
  }

  findByThumbprint(tenantId: string, thumbprint: string): Promise<SignerRow | undefined> {
    return this.sql.get<SignerRow>(BY_THUMBPRINT, [tenantId, thumbprint]);
  }

  revoke(tenantId: string, id: string, now: number): Promise<boolean> {
    return revokeOnce(this.sql.db, 'signers', tenantId, id, now);
  }

  async insertSignatures(rows: readonly Insertable<Database['notification_signatures']>[]): Promise<void> {
    await insertRows(this.sql, 'notification_signatures', SIGNATURE_COLUMNS, rows);
  }

  getSignature(tenantId: string, notificationId: string): Promise<NotificationSignatureRow | undefined> {
    return this.sql.get<NotificationSignatureRow>(GET_SIGNATURE, [tenantId, notificationId]);
  }

  async findSignedRequest(tenantId: string, signerId: string, requestBidx: string): Promise<string | undefined> {
    return (await this.sql.get<{ notification_id: string }>(SIGNED_REQUEST, [tenantId, signerId, requestBidx]))
      ?.notification_id;
  }
}
