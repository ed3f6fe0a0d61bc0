import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../../types.js';
import { requestContext } from '../../types.js';
import { AppError } from '../../../core/errors.js';
import type { RequestContext } from '../../../core/context.js';
import type { Permission } from '../../../auth/permissions.js';
import { assertNotificationType, needsRelationship, type PatientAccess } from '../../../auth/patient-access.js';
import { DATA_LIMITS, jsonShapeProblem } from '../../json-limits.js';
import {
  CommunicationRequestService,
  parseCommunicationRequest,
  type FhirIdentifier,
} from '../../../ehr/fhir/communication-request.js';
import { COMMUNICATION_CODE_SYSTEMS, parseCursor } from '../../../ehr/fhir/channels.js';
import { searchset } from '../../../ehr/fhir/bundle.js';
import { NOTIFICATION_TYPE_SYSTEM } from '../../../ehr/fhir/capability.js';
import {
  FHIR_ID,
  fhirCount,
  fhirDoc,
  fhirReference,
  fhirToken,
  fhirSearchRoutes,
  installFhirSupport,
  searchParams,
  sendResource,
} from './fhir-support.js';

const NOTIFICATION_CREATE: Permission[] = [
  'notification.create.scheduling',
  'notification.create.clinical',
  'notification.create.billing',
];
const REQUEST_STATUSES = ['draft', 'active', 'on-hold', 'revoked', 'completed', 'entered-in-error', 'unknown'];
const IdParam = Type.Object({ id: Type.String({ pattern: FHIR_ID.source }) });

export interface CommunicationRequestRouteOptions {
  communicationRequests: CommunicationRequestService;
  access: PatientAccess;
  publicUrl: string;
}

/** `identifier=system|value` (the one conditional-create criterion supported): If-None-Exist. */
function ifNoneExist(header: string | string[] | undefined): FhirIdentifier | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (h === undefined) return undefined;
  const params = new URLSearchParams(h);
  const keys = [...params.keys()];
  if (keys.length !== 1 || keys[0] !== 'identifier' || params.getAll('identifier').length !== 1)
    throw new AppError('SP_FHIR_INVALID_SEARCH', 'If-None-Exist: only identifier=system|value is supported');
  return identifierToken(params.get('identifier')!, 'If-None-Exist');
}

/** An identifier token: the blind index needs the system (`|value` means "no system"). */
function identifierToken(raw: string, where = 'identifier'): FhirIdentifier {
  const t = fhirToken(raw, where);
  if (t.system === undefined) throw new AppError('SP_FHIR_INVALID_SEARCH', `${where}: must be system|value`);
  return { system: t.system, value: t.value };
}

/**
 * FHIR CommunicationRequest (`/fhir/R4/CommunicationRequest`): create (a notification, with the
 * permissions, care-team check and audit of POST /v1/notifications), read, search by patient, status
 * and identifier, and update to `status: revoked` (cancel, as POST /v1/notifications/{id}/cancel).
 */
export const communicationRequestRoutes: RoutePlugin<CommunicationRequestRouteOptions> = async (app, o) => {
  installFhirSupport(app);
  const { communicationRequests: service, access } = o;
  const base = `${o.publicUrl.replace(/\/+$/, '')}/fhir/R4`;

  app.post(
    '/CommunicationRequest',
    {
      config: { permission: NOTIFICATION_CREATE },
      schema: { ...fhirDoc('Create a notification as a FHIR CommunicationRequest (idempotent by identifier)') },
    },
    async (req, reply) => {
      const parsed = parseCommunicationRequest(req.body, 'create');
      const bad = jsonShapeProblem(parsed.input.data, DATA_LIMITS, 'CommunicationRequest.payload[0].contentString');
      if (bad) throw new AppError('SP_FHIR_INVALID_RESOURCE', bad);
      const condition = ifNoneExist(req.headers['if-none-exist']);
      const ctx = await access.newNotifications(req.principal!, requestContext(req), [parsed.input]);
      const { created, resource } = await service.create(ctx, parsed, condition);
      return sendResource(reply, resource as never, { status: created ? 201 : 200, base });
    },
  );

  // The vocabulary of these resources, public as FHIR servers publish their CodeSystems (no data).
  for (const [id, resource] of Object.entries(COMMUNICATION_CODE_SYSTEMS)) {
    const text = JSON.stringify(resource);
    app.get(
      `/CodeSystem/${id}`,
      {
        config: { permission: 'public' },
        schema: {
          ...fhirDoc('A Sealpost FHIR CodeSystem (public)'),
          querystring: Type.Object({}, { additionalProperties: false }),
        },
      },
      async (_req, reply) => reply.type('application/fhir+json; charset=utf-8').send(text),
    );
  }

  app.get(
    '/CommunicationRequest/:id',
    {
      config: { permission: 'notification.read' },
      schema: { ...fhirDoc('Read a FHIR CommunicationRequest (no payload content)'), params: IdParam },
    },
    async (req, reply) => {
      const ctx = await access.notification(req.principal!, requestContext(req), req.params.id);
      return sendResource(reply, (await service.read(ctx, req.params.id)) as never);
    },
  );

  app.put(
    '/CommunicationRequest/:id',
    {
      config: { permission: 'notification.cancel' },
      schema: {
        ...fhirDoc('Revoke a FHIR CommunicationRequest (status revoked cancels its pending deliveries)'),
        params: IdParam,
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const ctx = await access.notification(req.principal!, requestContext(req), id);
      const parsed = parseCommunicationRequest(req.body, 'update');
      const body = req.body as { id?: string; status?: string };
      if (body.id !== id) throw new AppError('SP_FHIR_ID_MISMATCH', 'CommunicationRequest.id');
      const current = (await service.read(ctx, id)) as { subject: { reference: string }; category: unknown[] };
      const type = (current.category[0] as { coding: { code: string }[] }).coding[0]!.code;
      if (body.status !== 'revoked')
        throw new AppError('SP_FHIR_CHANGE_UNSUPPORTED', 'CommunicationRequest: only status=revoked can be set');
      if (`Patient/${parsed.input.patientId}` !== current.subject.reference)
        throw new AppError('SP_FHIR_CHANGE_UNSUPPORTED', 'CommunicationRequest.subject: cannot change');
      if (parsed.input.type !== type)
        throw new AppError('SP_FHIR_CHANGE_UNSUPPORTED', 'CommunicationRequest.category: cannot change');
      return sendResource(reply, (await service.revoke(ctx, id)) as never);
    },
  );

  const search = async (req: FastifyRequest, reply: Parameters<typeof sendResource>[0]) => {
    const params = searchParams(req, ['patient', 'status', 'identifier', '_cursor']);
    const one = (name: string) => {
      const v = params.get(name);
      if (v && v.length > 1) throw new AppError('SP_FHIR_INVALID_SEARCH', `${name}: give it once`);
      return v?.[0];
    };
    const patientRaw = one('patient');
    const patientId = patientRaw === undefined ? undefined : fhirReference(patientRaw, 'Patient');
    const identifierRaw = one('identifier');
    const identifier = identifierRaw === undefined ? undefined : identifierToken(identifierRaw);
    const status = params.get('status')?.flatMap((s) => s.split(','));
    for (const s of status ?? [])
      if (!REQUEST_STATUSES.includes(s))
        throw new AppError('SP_FHIR_INVALID_SEARCH', 'status: not a request-status code');
    const count = fhirCount(one('_count'), 50, 100);
    const cursor = parseCursor(one('_cursor'));
    const p = req.principal!;
    let ctx: RequestContext = requestContext(req);
    if (patientId !== undefined) ctx = await access.patient(p, ctx, patientId);
    else if (needsRelationship(p) && !identifier)
      throw new AppError('SP_FHIR_INVALID_SEARCH', 'patient: is required (care-team access is per patient)');
    const page = await service.search(ctx, { patientId, status, identifier, count, cursor });
    let resources = page.resources;
    if (p.kind === 'user') {
      // People see the types they may send; clinicians, patients of their care team only.
      const visible = [];
      for (const r of resources) {
        const type = ((r.category as { coding: { system: string; code: string }[] }[])[0]!.coding.find(
          (c) => c.system === NOTIFICATION_TYPE_SYSTEM,
        )?.code ?? '') as string;
        try {
          assertNotificationType(p, type);
          if (patientId === undefined) await access.notification(p, ctx, r.id as string);
          visible.push(r);
        } catch (e) {
          if (!(e instanceof AppError)) throw e;
        }
      }
      resources = visible;
    }
    const query = (cursorValue?: string) => {
      const q = new URLSearchParams();
      if (patientRaw !== undefined) q.set('patient', patientRaw);
      if (identifierRaw !== undefined) q.set('identifier', identifierRaw);
      if (status) q.set('status', status.join(','));
      q.set('_count', String(count));
      if (cursorValue) q.set('_cursor', cursorValue);
      return `${base}/CommunicationRequest?${q.toString()}`;
    };
    const bundle = searchset(base, resources, query(one('_cursor')), {
      total: page.next ? undefined : resources.length,
      nextUrl: page.next ? query(page.next) : undefined,
    });
    // `total` counts every match only when this one page holds them all.
    if (page.next || cursor) delete (bundle as { total?: number }).total;
    return reply.type('application/fhir+json; charset=utf-8').send(JSON.stringify(bundle));
  };

  fhirSearchRoutes(
    app,
    'CommunicationRequest',
    { permission: 'notification.read', summary: 'Search FHIR CommunicationRequests by patient, status, identifier' },
    (req, reply) => search(req, reply),
  );
};
