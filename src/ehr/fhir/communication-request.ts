import type { CoreDeps, RequestContext } from '../../core/context.js';
import { requirePatientDataKey } from '../../core/context.js';
import { AppError } from '../../core/errors.js';
import { NOTIFICATION_TYPES, PRIORITIES, type ChannelKind, type NotificationType } from '../../core/domain.js';
import type {
  CreateNotificationInput,
  NotificationService,
  NotificationView,
} from '../../core/notification-service.js';
import type { StoreTx } from '../../store/store.js';
import type { NotificationRow, DeliveryRow } from '../../store/rows.js';
import { NOTIFICATION_TYPE_SYSTEM } from './capability.js';
import { validateResource } from './validation.js';
import {
  channelConcept,
  channelOf,
  cursorOf,
  instant,
  onlyElements,
  reference,
  referencedId,
  type CodeableConcept,
} from './channels.js';

/**
 * FHIR R4 CommunicationRequest ↔ a Sealpost notification (docs/integrations.md, "CommunicationRequest").
 * A create is a notification created as POST /v1/notifications would (same validation, template
 * check, channels, quiet hours, audit), plus its business identifiers, stored as keyed blind indexes
 * (the identifier itself sealed under the patient's data key): a second create with an identifier
 * already known answers the first notification and creates nothing.
 */

/** Where a terminal notification's Sealpost status is coded (CommunicationRequest.statusReason). */
export const NOTIFICATION_STATUS_SYSTEM = 'https://sealpost.dev/fhir/CodeSystem/sealpost-notification-status';
const IDENTIFIER_FIELD = 'fhir.communication-request.identifier';

/** Elements a CommunicationRequest may carry; anything else R4 allows is refused, not ignored. */
const ACCEPTED = [
  'resourceType',
  'id',
  'meta',
  'text',
  'identifier',
  'status',
  'category',
  'priority',
  'subject',
  'payload',
  'occurrenceDateTime',
  'authoredOn',
  'requester',
  'medium',
] as const;

/** The R4 request-status of a notification's Sealpost status (notification-service.ts aggregateStatus). */
export function requestStatus(sealpostStatus: string): 'active' | 'completed' | 'revoked' {
  switch (sealpostStatus) {
    case 'scheduled':
    case 'queued':
    case 'sending':
      return 'active';
    case 'cancelled':
      return 'revoked';
    default:
      // sent, delivered, read, acknowledged; and failed, dead, suppressed (with a statusReason)
      return 'completed';
  }
}

/** Business identifier of a CommunicationRequest. */
export interface FhirIdentifier {
  system: string;
  value: string;
}

/** What a CommunicationRequest body asks for. */
export interface ParsedCommunicationRequest {
  input: CreateNotificationInput;
  identifiers: FhirIdentifier[];
}

interface CrBody {
  resourceType: 'CommunicationRequest';
  id?: string;
  status?: string;
  identifier?: { system?: string; value?: string }[];
  category?: CodeableConcept[];
  priority?: string;
  subject?: { reference?: string };
  payload?: { contentString?: string; contentAttachment?: unknown; contentReference?: unknown }[];
  occurrenceDateTime?: string;
  medium?: CodeableConcept[];
}

const FULL_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Validates a CommunicationRequest body (R4 structure, then what Sealpost can honour) and maps it
 * to a notification. `purpose`: `create` needs status `active`; `update` (revoke) is checked by the caller.
 */
export function parseCommunicationRequest(body: unknown, purpose: 'create' | 'update'): ParsedCommunicationRequest {
  validateResource('CommunicationRequest', body);
  const cr = body as CrBody;
  const T = 'CommunicationRequest';
  onlyElements(T, cr, ACCEPTED);
  if (purpose === 'create' && cr.status !== 'active')
    throw new AppError('SP_FHIR_INVALID_RESOURCE', `${T}.status: must be active on create`);
  const identifiers: FhirIdentifier[] = [];
  for (const [i, id] of (cr.identifier ?? []).entries()) {
    if (!id.system || !id.value)
      throw new AppError('SP_FHIR_INVALID_RESOURCE', `${T}.identifier[${i}]: needs a system and a value`);
    identifiers.push({ system: id.system, value: id.value });
  }
  if (!cr.category?.length) throw new AppError('SP_FHIR_INVALID_RESOURCE', `${T}.category: is required`);
  if (cr.category.length > 1) throw new AppError('SP_FHIR_INVALID_RESOURCE', `${T}.category: exactly one`);
  const type = cr.category[0]!.coding?.find(
    (c) => c.system === NOTIFICATION_TYPE_SYSTEM && (NOTIFICATION_TYPES as readonly string[]).includes(c.code ?? ''),
  )?.code;
  if (!type) throw new AppError('SP_FHIR_UNKNOWN_CODE', `${T}.category[0]: no code of ${NOTIFICATION_TYPE_SYSTEM}`);
  if (cr.priority !== undefined && !(PRIORITIES as readonly string[]).includes(cr.priority))
    throw new AppError('SP_FHIR_UNKNOWN_CODE', `${T}.priority`);
  if (!cr.subject) throw new AppError('SP_FHIR_INVALID_RESOURCE', `${T}.subject: is required`);
  const patientId = referencedId(cr.subject, 'Patient', `${T}.subject`);
  let data: unknown = {};
  if (cr.payload) {
    if (cr.payload.length > 1 || cr.payload[0]!.contentString === undefined)
      throw new AppError(
        'SP_FHIR_INVALID_RESOURCE',
        `${T}.payload: one item of contentString holding the notification data as a JSON object`,
      );
    try {
      data = JSON.parse(cr.payload[0]!.contentString);
    } catch {
      throw new AppError('SP_FHIR_INVALID_RESOURCE', `${T}.payload[0].contentString: is not JSON`);
    }
    if (data === null || typeof data !== 'object' || Array.isArray(data))
      throw new AppError('SP_FHIR_INVALID_RESOURCE', `${T}.payload[0].contentString: must be a JSON object`);
  }
  if (cr.occurrenceDateTime !== undefined && !FULL_DATE_TIME.test(cr.occurrenceDateTime))
    throw new AppError(
      'SP_FHIR_INVALID_RESOURCE',
      `${T}.occurrenceDateTime: must be a date-time to the second with a time zone`,
    );
  const channels = (cr.medium ?? []).map((m, i) => channelOf(m, `${T}.medium[${i}]`));
  const input: CreateNotificationInput = {
    type,
    patientId,
    data,
    ...(channels.length ? { channels } : {}),
    ...(cr.occurrenceDateTime ? { sendAt: cr.occurrenceDateTime } : {}),
    ...(cr.priority ? { priority: cr.priority as CreateNotificationInput['priority'] } : {}),
  };
  return { input, identifiers };
}

/** The resource of a notification (no payload: notification.read grants no content). */
export function toFhirCommunicationRequest(
  view: NotificationView,
  identifiers: FhirIdentifier[],
): Record<string, unknown> {
  const status = requestStatus(view.status);
  const channels = [...new Set(view.deliveries.map((d) => d.channel))] as ChannelKind[];
  const lastUpdated = [
    view.createdAt,
    view.cancelledAt,
    view.acknowledgedAt,
    ...view.deliveries.map((d) => d.updatedAt),
  ]
    .filter((x): x is string => !!x)
    .sort()
    .at(-1)!;
  return {
    resourceType: 'CommunicationRequest',
    id: view.id,
    meta: { lastUpdated },
    ...(identifiers.length ? { identifier: identifiers } : {}),
    status,
    ...(status === 'completed' && ['failed', 'dead', 'suppressed'].includes(view.status)
      ? { statusReason: { coding: [{ system: NOTIFICATION_STATUS_SYSTEM, code: view.status }], text: view.status } }
      : {}),
    category: [{ coding: [{ system: NOTIFICATION_TYPE_SYSTEM, code: view.type as NotificationType }] }],
    priority: view.priority,
    subject: reference('Patient', view.patientId),
    ...(view.appointmentId ? { about: [reference('Appointment', view.appointmentId)] } : {}),
    occurrenceDateTime: view.sendAt,
    authoredOn: view.createdAt,
    ...(channels.length ? { medium: channels.map(channelConcept) } : {}),
  };
}

export interface CommunicationRequestPage {
  resources: Record<string, unknown>[];
  /** The `_cursor` of the next page, when there may be one. */
  next?: string;
}

/** CommunicationRequest create, read, search and revoke over NotificationService. */
export class CommunicationRequestService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly notifications: NotificationService,
  ) {}

  private candidates(tenantId: string, id: FhirIdentifier): string[] {
    return this.deps.cipher.blindIndexCandidates(tenantId, IDENTIFIER_FIELD, `${id.system}|${id.value}`);
  }

  private async findByIdentifiers(tx: StoreTx, tenantId: string, ids: FhirIdentifier[]): Promise<string | undefined> {
    if (!ids.length) return undefined;
    const rows = await tx.notificationIdentifiers.find(
      tenantId,
      ids.flatMap((i) => this.candidates(tenantId, i)),
    );
    return rows[0]?.notification_id;
  }

  /**
   * Creates the notification, or answers the one an identifier (of the body, or of `ifNoneExist`)
   * already names (`created: false`, nothing written). One transaction: notification, deliveries,
   * identifiers and audit entry commit together, durably, before this resolves.
   */
  async create(
    ctx: RequestContext,
    parsed: ParsedCommunicationRequest,
    ifNoneExist?: FhirIdentifier,
  ): Promise<{ created: boolean; resource: Record<string, unknown> }> {
    const subjectNotFound = (e: unknown) =>
      e instanceof AppError && e.code === 'SP_PATIENT_NOT_FOUND'
        ? new AppError('SP_FHIR_REFERENCE_NOT_FOUND', 'CommunicationRequest.subject')
        : e;
    if (!parsed.identifiers.length && !ifNoneExist) {
      // Nothing to look up or record beside the notification: the REST API's own (batchable) create.
      let id: string;
      try {
        id = (await this.notifications.create(ctx, parsed.input)).body.id;
      } catch (e) {
        throw subjectNotFound(e);
      }
      return { created: true, resource: toFhirCommunicationRequest(await this.notifications.get(ctx, id), []) };
    }
    const { store, clock, cipher } = this.deps;
    const lookFor = [...(ifNoneExist ? [ifNoneExist] : []), ...parsed.identifiers];
    // One row per distinct identifier (a body may repeat one).
    const identifiers = [
      ...new Map(
        parsed.identifiers.map((i) => [cipher.blindIndex(ctx.tenantId, IDENTIFIER_FIELD, `${i.system}|${i.value}`), i]),
      ),
    ];
    const attempt = () =>
      store.transaction(async (tx) => {
        const existing = await this.findByIdentifiers(tx, ctx.tenantId, lookFor);
        if (existing) return { existing };
        let made: { notification: NotificationRow; deliveries: DeliveryRow[] };
        try {
          made = await this.notifications.createInTx(tx, ctx, parsed.input, null);
        } catch (e) {
          throw subjectNotFound(e);
        }
        if (identifiers.length) {
          const key = await requirePatientDataKey(this.deps, tx, ctx.tenantId, parsed.input.patientId);
          const ref = {
            tenantId: ctx.tenantId,
            table: 'notification_identifiers',
            rowId: made.notification.id,
            field: 'identifier',
          };
          await tx.notificationIdentifiers.insertMany(
            identifiers.map(([bidx, id]) => ({
              tenant_id: ctx.tenantId,
              identifier_bidx: bidx,
              notification_id: made.notification.id,
              patient_id: parsed.input.patientId,
              identifier_ct: cipher.encryptJson(key, ref, id),
              created_at: clock().getTime(),
            })),
          );
        }
        return { made };
      });
    let out: Awaited<ReturnType<typeof attempt>>;
    try {
      out = await attempt();
    } catch (e) {
      // Two creates with one identifier at once: the unique index lets one commit; the other answers it.
      if (!parsed.identifiers.length || e instanceof AppError) throw e;
      const winner = await this.findByIdentifiers(store.read, ctx.tenantId, parsed.identifiers);
      if (!winner) throw e;
      out = { existing: winner };
    }
    if (out.existing) {
      const view = await this.notifications.get(ctx, out.existing);
      // The access check covered the body's patient and type: an identifier of another patient's (or
      // another type's) request must not hand that one out.
      if (view.patientId !== parsed.input.patientId || view.type !== parsed.input.type)
        throw new AppError('SP_IDEMPOTENCY_KEY_REUSED', 'identifier: names a request for another patient or type');
      return { created: false, resource: toFhirCommunicationRequest(view, await this.identifiersOf(ctx, [view])[0]!) };
    }
    await store.durable();
    const made = out.made!;
    if (made.deliveries.some((d) => d.status === 'queued')) this.deps.wake();
    // Answered from the rows just written: nothing to read back.
    const view = this.notifications.view(made.notification, made.deliveries);
    return {
      created: true,
      resource: toFhirCommunicationRequest(
        view,
        identifiers.map(([, id]) => id),
      ),
    };
  }

  /** One CommunicationRequest (SP_NOTIFICATION_NOT_FOUND, or SP_PATIENT_ERASED once erased). */
  async read(ctx: RequestContext, id: string): Promise<Record<string, unknown>> {
    const view = await this.notifications.get(ctx, id);
    return toFhirCommunicationRequest(view, await this.identifiersOf(ctx, [view])[0]!);
  }

  /** The patient id behind a notification id (for the access check before reading), if it exists. */
  async subjectOf(ctx: RequestContext, id: string): Promise<string | undefined> {
    return (await this.deps.store.read.notifications.get(ctx.tenantId, id))?.patient_id;
  }

  /** Cancels what is still pending (as POST /v1/notifications/{id}/cancel) and answers the resource. */
  async revoke(ctx: RequestContext, id: string): Promise<Record<string, unknown>> {
    await this.notifications.cancel(ctx, id);
    return this.read(ctx, id);
  }

  /**
   * Newest first. `identifier` finds at most one; `status` (request-status) filters a page of the
   * tenant's (or the patient's) notifications, so a page may hold fewer than `count` and still have a next.
   */
  async search(
    ctx: RequestContext,
    q: {
      patientId?: string;
      status?: string[];
      identifier?: FhirIdentifier;
      count: number;
      cursor?: { createdAt: number; id: string };
    },
  ): Promise<CommunicationRequestPage> {
    const tx = this.deps.store.read;
    let rows: NotificationRow[];
    let next: string | undefined;
    if (q.identifier) {
      const id = await this.findByIdentifiers(tx, ctx.tenantId, [q.identifier]);
      const n = id ? await tx.notifications.get(ctx.tenantId, id) : undefined;
      rows = n && (q.patientId === undefined || n.patient_id === q.patientId) ? [n] : [];
    } else {
      rows = await tx.notifications.search(ctx.tenantId, { patientId: q.patientId, after: q.cursor, limit: q.count });
      if (rows.length === q.count) next = cursorOf(rows.at(-1)!);
    }
    // Erased patients' notifications are tombstones (no content, nothing to report).
    rows = rows.filter((n) => n.data_ct.length > 0);
    const deliveries = await tx.deliveries.search(ctx.tenantId, {
      notificationIds: rows.map((n) => n.id),
      limit: rows.length * 20 + 1,
    });
    const views = rows.map((n) =>
      this.notifications.view(
        n,
        deliveries.filter((d) => d.notification_id === n.id).sort((a, b) => a.seq - b.seq || (a.id < b.id ? -1 : 1)),
      ),
    );
    const wanted = q.status ? new Set(q.status) : undefined;
    const kept = views.filter((v) => !wanted || wanted.has(requestStatus(v.status)));
    const idents = await Promise.all(this.identifiersOf(ctx, kept));
    return { resources: kept.map((v, i) => toFhirCommunicationRequest(v, idents[i]!)), next };
  }

  /** The identifiers of each notification, unsealed (a notification of an erased patient has none left). */
  private identifiersOf(ctx: RequestContext, views: NotificationView[]): Promise<FhirIdentifier[]>[] {
    const all = views.length
      ? this.deps.store.read.notificationIdentifiers.forNotifications(views.map((v) => v.id))
      : Promise.resolve([]);
    return views.map(async (v) => {
      const rows = (await all).filter((r) => r.notification_id === v.id);
      if (!rows.length) return [];
      const key = await this.deps.store.read.dataKeys.get(ctx.tenantId, v.patientId);
      if (!key) return [];
      const dataKey = await this.deps.cipher.dataKey(ctx.tenantId, v.patientId, {
        keyId: key.key_id,
        wrapped: Buffer.from(key.wrapped),
      });
      return rows.map((r) =>
        this.deps.cipher.decryptJson<FhirIdentifier>(
          dataKey,
          { tenantId: ctx.tenantId, table: 'notification_identifiers', rowId: v.id, field: 'identifier' },
          r.identifier_ct,
        ),
      );
    });
  }
}
