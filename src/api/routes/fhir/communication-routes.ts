import { Type } from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../../types.js';
import { requestContext } from '../../types.js';
import { AppError } from '../../../core/errors.js';
import type { RequestContext } from '../../../core/context.js';
import { assertNotificationType, needsRelationship, type PatientAccess } from '../../../auth/patient-access.js';
import { EVENT_STATUSES, type CommunicationService } from '../../../ehr/fhir/communication.js';
import { parseCursor } from '../../../ehr/fhir/channels.js';
import { searchset } from '../../../ehr/fhir/bundle.js';
import {
  FHIR_ID,
  FHIR_JSON,
  fhirCount,
  fhirDoc,
  fhirReference,
  fhirSearchRoutes,
  installFhirSupport,
  searchParams,
  sendResource,
} from './fhir-support.js';

const IdParam = Type.Object({ id: Type.String({ pattern: FHIR_ID.source }) });

export interface CommunicationRouteOptions {
  communications: CommunicationService;
  access: PatientAccess;
  publicUrl: string;
}

/**
 * FHIR Communication (`/fhir/R4/Communication`), read-only: one per delivery, read and search by
 * `based-on` (CommunicationRequest), `patient` and `status`, with notification.read and the
 * notification's access rules (clinicians: the patient's care team).
 */
export const communicationRoutes: RoutePlugin<CommunicationRouteOptions> = async (app, o) => {
  installFhirSupport(app);
  const { communications, access } = o;
  const base = `${o.publicUrl.replace(/\/+$/, '')}/fhir/R4`;

  app.get(
    '/Communication/:id',
    {
      config: { permission: 'notification.read' },
      schema: { ...fhirDoc('Read a FHIR Communication (one delivery)'), params: IdParam },
    },
    async (req, reply) => {
      const ctx = requestContext(req);
      const { resource, notificationId } = await communications.get(ctx, req.params.id);
      await access.notification(req.principal!, ctx, notificationId);
      return sendResource(reply, resource as never);
    },
  );

  const search = async (req: FastifyRequest, reply: FastifyReply) => {
    const params = searchParams(req, ['based-on', 'patient', 'status', '_cursor']);
    const one = (name: string) => {
      const v = params.get(name);
      if (v && v.length > 1) throw new AppError('SP_FHIR_INVALID_SEARCH', `${name}: give it once`);
      return v?.[0];
    };
    const patientRaw = one('patient');
    const patientId = patientRaw === undefined ? undefined : fhirReference(patientRaw, 'Patient');
    const basedOn = params
      .get('based-on')
      ?.flatMap((v) => v.split(','))
      .map((v) => fhirReference(v, 'CommunicationRequest', 'based-on'));
    if (basedOn && basedOn.length > 100) throw new AppError('SP_FHIR_INVALID_SEARCH', 'based-on: at most 100');
    const status = params.get('status')?.flatMap((s) => s.split(','));
    for (const s of status ?? [])
      if (!EVENT_STATUSES.includes(s)) throw new AppError('SP_FHIR_INVALID_SEARCH', 'status: not an event-status code');
    const count = fhirCount(one('_count'), 50, 200);
    const cursor = parseCursor(one('_cursor'));
    const p = req.principal!;
    let ctx: RequestContext = requestContext(req);
    if (patientId !== undefined) ctx = await access.patient(p, ctx, patientId);
    // Clinicians and type-bounded staff: each notification named is checked as a read of it would be.
    if (p.kind === 'user') for (const id of basedOn ?? []) ctx = await access.notification(p, ctx, id);
    if (needsRelationship(p) && patientId === undefined && !basedOn)
      throw new AppError(
        'SP_FHIR_INVALID_SEARCH',
        'patient or based-on: is required (care-team access is per patient)',
      );
    const mayReadType =
      p.kind === 'user'
        ? (type: string) => {
            try {
              assertNotificationType(p, type);
              return true;
            } catch {
              return false;
            }
          }
        : undefined;
    const page = await communications.search(ctx, {
      patientId,
      notificationIds: basedOn,
      status,
      count,
      cursor,
      mayReadType,
    });
    const query = (cursorValue?: string) => {
      const q = new URLSearchParams();
      if (patientRaw !== undefined) q.set('patient', patientRaw);
      if (basedOn) q.set('based-on', basedOn.map((id) => `CommunicationRequest/${id}`).join(','));
      if (status) q.set('status', status.join(','));
      q.set('_count', String(count));
      if (cursorValue) q.set('_cursor', cursorValue);
      return `${base}/Communication?${q.toString()}`;
    };
    const bundle = searchset(base, page.resources, query(one('_cursor')), {
      nextUrl: page.next ? query(page.next) : undefined,
    });
    // `total` counts every match only when this one page holds them all.
    if (page.next || cursor) delete (bundle as { total?: number }).total;
    return reply.type(FHIR_JSON).send(JSON.stringify(bundle));
  };

  fhirSearchRoutes(
    app,
    'Communication',
    {
      permission: 'notification.read',
      summary: 'Search FHIR Communications (deliveries) by based-on, patient, status',
    },
    (req, reply) => search(req, reply),
  );
};
