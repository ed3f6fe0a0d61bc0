import type { Kysely } from 'kysely';

/**
 * How staff are told of clinical alerts:
 * - `alert_notifications`: one row per nudge (alert × step × repeat × recipient × channel), which is
 *   also the dispatcher's queue: rows are written `sending` and leased to the node that planned them,
 *   and a node's sweep re-sends rows whose lease expired (at least once). Ids, codes and times only,
 *   plus what a re-send needs without the alerts table: the priority, the PHI-free summary, the
 *   language and the staff address (work contact data, not PHI, kept in clear as users.email is).
 *   `address_ref` is the blind index of the address, which an SMS reply is matched by; `reply_code`
 *   binds "reply 1" to this alert and this recipient. No foreign key to `alerts` (migration 015):
 *   the two migrations may land in either order.
 * - `staff_contacts`: a staff user's contact methods for alerts (sms, email, paging, webhook), ranked.
 * - `staff_alert_settings`: language, time zone, quiet hours and do-not-disturb of a staff user.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('alert_notifications')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('alert_id', 'text', (c) => c.notNull())
    .addColumn('step', 'integer', (c) => c.notNull())
    .addColumn('repeat', 'integer', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('priority', 'text', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('language', 'text', (c) => c.notNull())
    .addColumn('address', 'text')
    .addColumn('address_ref', 'text')
    .addColumn('reply_code', 'integer')
    .addColumn('replies_until', 'bigint')
    .addColumn('provider', 'text')
    .addColumn('provider_message_id', 'text')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'bigint')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('sent_at', 'bigint')
    .addColumn('delivered_at', 'bigint')
    .addColumn('read_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('alert_notifications_alert')
    .on('alert_notifications')
    .columns(['tenant_id', 'alert_id'])
    .execute();
  await db.schema
    .createIndex('alert_notifications_due')
    .on('alert_notifications')
    .columns(['status', 'lease_until'])
    .execute();
  await db.schema
    .createIndex('alert_notifications_provider')
    .on('alert_notifications')
    .columns(['provider', 'provider_message_id'])
    .execute();
  await db.schema
    .createIndex('alert_notifications_reply')
    .on('alert_notifications')
    .columns(['tenant_id', 'address_ref', 'reply_code'])
    .execute();
  await db.schema
    .createIndex('alert_notifications_user')
    .on('alert_notifications')
    .columns(['tenant_id', 'user_id', 'created_at'])
    .execute();
  // Reply-code allocation: is code c bound for this recipient (a seek per code), the highest bound code.
  await db.schema
    .createIndex('alert_notifications_user_code')
    .on('alert_notifications')
    .columns(['tenant_id', 'user_id', 'reply_code', 'created_at'])
    .execute();

  await db.schema
    .createTable('staff_contacts')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('rank', 'integer', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('staff_contacts_pk', ['tenant_id', 'user_id', 'rank'])
    .execute();

  await db.schema
    .createTable('staff_alert_settings')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('language', 'text', (c) => c.notNull())
    .addColumn('time_zone', 'text', (c) => c.notNull())
    .addColumn('quiet_hours', 'text')
    .addColumn('dnd_until', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('staff_alert_settings_pk', ['tenant_id', 'user_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('staff_alert_settings').execute();
  await db.schema.dropTable('staff_contacts').execute();
  await db.schema.dropTable('alert_notifications').execute();
}
