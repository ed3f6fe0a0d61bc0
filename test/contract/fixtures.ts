import type { Insertable } from 'kysely';
import type { Database } from '../../src/store/schema.js';
import { newDeliveryRow } from '../../src/core/notification-service.js';

/** Plain rows for the repositories (no service logic): the contract is about what the store does with them. */
export function notificationRow(
  id: string,
  over: Partial<Insertable<Database['notifications']>> = {},
): Insertable<Database['notifications']> {
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

/** A queued delivery built the way the notification service builds one (`newDeliveryRow`), with overrides. */
export function deliveryRow(
  id: string,
  over: Partial<Insertable<Database['deliveries']>> = {},
): Insertable<Database['deliveries']> {
  return {
    ...newDeliveryRow(id, { id: 'n1', tenant_id: 't1', patient_id: 'p1', priority: 'normal' }, 'sms', 'c1', 0, 0, 0, 5),
    ...over,
  };
}

/** Every byte value, plus a NUL in the middle and a high bit at the end: binary must survive untouched. */
export const ALL_BYTES = Buffer.concat([
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.from([0, 0xff, 0x00, 0x80]),
]);
