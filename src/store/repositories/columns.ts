import type { Database } from '../schema.js';

/** The columns of a table, in the order the compiled inserts bind them (checked against the schema type). */
export const columns = <T extends keyof Database>(_table: T, cols: readonly (keyof Database[T] & string)[]) => cols;

export const NOTIFICATION_COLUMNS = columns('notifications', [
  'id',
  'tenant_id',
  'patient_id',
  'type',
  'priority',
  'data_ct',
  'appointment_id',
  'send_at',
  'created_at',
  'cancelled_at',
  'acknowledged_at',
]);

export const DELIVERY_COLUMNS = columns('deliveries', [
  'id',
  'tenant_id',
  'notification_id',
  'patient_id',
  'channel',
  'contact_point_id',
  'seq',
  'status',
  'priority',
  'run_at',
  'attempts',
  'max_attempts',
  'lease_owner',
  'lease_until',
  'last_error_code',
  'provider',
  'provider_message_id',
  'link_ct',
  'created_at',
  'updated_at',
  'sent_at',
  'delivered_at',
  'read_at',
  'failed_at',
  'cancelled_at',
]);

export const ACCESS_LINK_COLUMNS = columns('access_links', [
  'token_hash',
  'tenant_id',
  'notification_id',
  'delivery_id',
  'patient_id',
  'expires_at',
  'failed_attempts',
  'burned_at',
  'used_at',
  'otp_hash',
  'otp_expires_at',
  'created_at',
]);

export const IDEMPOTENCY_COLUMNS = columns('idempotency_keys', [
  'tenant_id',
  'key',
  'request_hash',
  'status_code',
  'response',
  'created_at',
]);

export const SIGNATURE_COLUMNS = columns('notification_signatures', [
  'notification_id',
  'tenant_id',
  'key_id',
  'alg',
  'signed',
  'signature',
  'secret_ct',
  'sender_signer_id',
  'sender_request_bidx',
  'created_at',
]);

export const OUTBOX_COLUMNS = columns('dev_outbox', [
  'delivery_id',
  'tenant_id',
  'channel',
  'recipient_ct',
  'subject',
  'body_ct',
  'created_at',
]);
