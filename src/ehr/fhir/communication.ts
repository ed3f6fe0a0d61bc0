import type { CoreDeps, RequestContext } from '../../core/context.js';
import { AppError } from '../../core/errors.js';
import type { ChannelKind, DeliveryStatus } from '../../core/domain.js';
import { viewStatus } from '../../core/notification-service.js';
import type { DeliveryRow } from '../../store/rows.js';
import { ERROR_CODE_SYSTEM, channelConcept, cursorOf, instant, reference } from './channels.js';

/**
 * FHIR R4 Communication ↔ a Sealpost delivery (docs/integrations.md, "Communication"): one
 * Communication per delivery attempt on one channel (its id is the delivery id), based on the
 * CommunicationRequest of its notification. Read-only: deliveries change only by the worker, the
 * provider's callbacks, the reader and cancellation.
 */

export type EventStatus = 'preparation' | 'in-progress' | 'completed' | 'not-done' | 'stopped';

/** R4 event-status of each delivery status (as the REST API shows it: a due `scheduled` is `queued`). */
export const EVENT_STATUS: Record<DeliveryStatus, EventStatus> = {
  scheduled: 'preparation',
  queued: 'in-progress',
  sending: 'in-progress',
  sent: 'completed',
  delivered: 'completed',
  read: 'completed',
  failed: 'not-done',
  dead: 'not-done',
  suppressed: 'not-done',
  cancelled: 'stopped',
};

/** The stored delivery statuses that may show as each event-status (before the due-`scheduled` rule). */
function storedStatuses(status: string): DeliveryStatus[] {
  if (status === 'in-progress') return ['queued', 'sending', 'scheduled'];
  return (Object.keys(EVENT_STATUS) as DeliveryStatus[]).filter((s) => EVENT_STATUS[s] === status);
}

export const EVENT_STATUSES = [
  'preparation',
  'in-progress',
  'completed',
  'not-done',
  'stopped',
  'on-hold',
  'entered-in-error',
  'unknown',
];

export function toFhirCommunication(d: DeliveryRow, now: Date): Record<string, unknown> {
  const status = EVENT_STATUS[viewStatus(d, now)];
  const received = d.read_at ?? d.delivered_at;
  return {
    resourceType: 'Communication',
    id: d.id,
    meta: { lastUpdated: instant(d.updated_at) },
    basedOn: [reference('CommunicationRequest', d.notification_id)],
    status,
    ...(d.last_error_code && (status === 'not-done' || status === 'stopped' || status === 'in-progress')
      ? {
          statusReason: {
            coding: [{ system: ERROR_CODE_SYSTEM, code: d.last_error_code }],
            text: d.last_error_code,
          },
        }
      : {}),
    subject: reference('Patient', d.patient_id),
    medium: [channelConcept(d.channel as ChannelKind)],
    ...(d.sent_at != null ? { sent: instant(d.sent_at) } : {}),
    ...(received != null ? { received: instant(received) } : {}),
  };
}

export class CommunicationService {
  constructor(private readonly deps: Pick<CoreDeps, 'store' | 'clock'>) {}

  /** One delivery as a Communication, with its notification id (for the access check). SP_DELIVERY_NOT_FOUND. */
  async get(ctx: RequestContext, id: string): Promise<{ resource: Record<string, unknown>; notificationId: string }> {
    const d = await this.deps.store.read.deliveries.get(id);
    if (!d || d.tenant_id !== ctx.tenantId) throw new AppError('SP_DELIVERY_NOT_FOUND');
    return { resource: toFhirCommunication(d, this.deps.clock()), notificationId: d.notification_id };
  }

  /** Newest first; `status` values are R4 event-status codes (any of them). */
  async search(
    ctx: RequestContext,
    q: {
      patientId?: string;
      notificationIds?: string[];
      status?: string[];
      count: number;
      cursor?: { createdAt: number; id: string };
      /** People see deliveries of the notification types they may read only (auth/patient-access.ts). */
      mayReadType?: (type: string) => boolean;
    },
  ): Promise<{ resources: Record<string, unknown>[]; next?: string }> {
    const wanted = q.status ? new Set(q.status) : undefined;
    const rows = await this.deps.store.read.deliveries.search(ctx.tenantId, {
      patientId: q.patientId,
      notificationIds: q.notificationIds,
      statuses: wanted ? [...new Set([...wanted].flatMap(storedStatuses))] : undefined,
      after: q.cursor,
      limit: q.count,
    });
    const now = this.deps.clock();
    let visible = rows;
    if (q.mayReadType) {
      const types = new Map(
        (await this.deps.store.read.notifications.getMany([...new Set(rows.map((d) => d.notification_id))])).map(
          (n) => [n.id, n.type],
        ),
      );
      visible = rows.filter((d) => q.mayReadType!(types.get(d.notification_id) ?? ''));
    }
    const resources = visible
      .map((d) => toFhirCommunication(d, now))
      .filter((r) => !wanted || wanted.has(r.status as string));
    return { resources, next: rows.length === q.count ? cursorOf(rows.at(-1)!) : undefined };
  }
}
