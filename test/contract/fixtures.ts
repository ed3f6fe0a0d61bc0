import type { Insertable } from 'kysely';
import type { Database } from '../../src/store/schema.js';

/** Plain rows for the repositories (no service logic): the contract is about what the store does with them. */
export function notificationRow(id: string, over: Partial<Insertable<Database['notifications']>> = {}): Insertable<Database['notifications']> {
  return {
    id,
    tenant_id: 't1',
    patient_id: 'p1',
    type: 'follow_up',
    priority: 'normal',
    data_ct: Buffer.from([1, 2, 3]),
    appointment_id: null,
    send_at: 0,
    created_at: 0,
    cancelled_at: null,
    acknowledged_at: null,
    ...over,
  };
}

export function deliveryRow(id: string, over: Partial<Insertable<Database['deliveries']>> = {}): Insertable<Database['deliveries']> {
  return {
    id,
    tenant_id: 't1',
    notification_id: 'n1',
    patient_id: 'p1',
    channel: 'sms',
    contact_point_id: 'c1',
    seq: 0,
    status: 'queued',
    priority: 'normal',
    run_at: 0,
    attempts: 0,
    max_attempts: 5,
    lease_owner: null,
    lease_until: null,
    last_error_code: null,
    provider: null,
    provider_message_id: null,
    link_ct: null,
    created_at: 0,
    updated_at: 0,
    sent_at: null,
    delivered_at: null,
    read_at: null,
    failed_at: null,
    cancelled_at: null,
    ...over,
  };
}

/** Every byte value, plus a NUL in the middle and a high bit at the end: binary must survive untouched. */
export const ALL_BYTES = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from([0, 0xff, 0x00, 0x80])]);
