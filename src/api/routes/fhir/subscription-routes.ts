import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { RoutePlugin } from '../../types.js';
import { requestContext } from '../../types.js';
import { AppError } from '../../../core/errors.js';
import { needsRelationship, type PatientAccess } from '../../../auth/patient-access.js';
import { validateResource } from '../../../ehr/fhir/validation.js';
import { parseSubscription } from '../../../ehr/fhir/subscription.js';
import { focusReadPermission, type SubscriptionService } from '../../../ehr/fhir/subscription-service.js';
import { searchset } from '../../../ehr/fhir/bundle.js';
import {
  FHIR_ID,
  FHIR_JSON,
  fhirCount,
  fhirDoc,
  fhirSearchRoutes,
  installFhirSupport,
  searchParams,
} from './fhir-support.js';

export interface FhirSubscriptionRouteOptions {
  subscriptions: SubscriptionService;
  access: PatientAccess;
}

const IdParam = Type.Object({ id: Type.String({ pattern: FHIR_ID.source }) });
const AnyQuery = Type.Record(Type.String(), Type.Unknown());
const STATUSES = ['requested', 'active', 'error', 'off'];

/**
 * FHIR R4 Subscription (R5 Backport IG, topic-based; registered under `/fhir/R4`): create, read,
 * search, update, delete and `$status`, all under `subscription.manage`. A patient filter also
 * needs what reading that patient needs (patient.read and the care team), a based-on filter what
 * reading that notification needs (notification.read, its type, the care team). The subscription
 * then acts with its creator's (or last replacer's) authority, judged again at every send.
 */
export const fhirSubscriptionRoutes: RoutePlugin<FhirSubscriptionRouteOptions> = async (
  app,
  { subscriptions, access },
) => {
  installFhirSupport(app);
  const base = subscriptions.base;

  const parse = async (req: FastifyRequest, body: unknown) => {
    validateResource('Subscription', body);
    const spec = parseSubscription(body);
    const p = req.principal!;
    // A full-resource feed shows what the focus reads show: only to a caller allowed those reads,
    // and to a person on care teams only for a patient (or notification) whose team they are on.
    const read = focusReadPermission(spec.topic.resource);
    if (spec.payloadContent === 'full-resource') {
      if (!p.permissions.has(read))
        throw new AppError('SP_AUTH_FORBIDDEN', `full-resource needs the ${read} permission`);
      if (needsRelationship(p) && !spec.filters.patient && !spec.filters.basedOn)
        throw new AppError('SP_AUTH_FORBIDDEN', 'full-resource needs a patient or based-on filter');
    }
    // A filter follows one patient's or one notification's events: it needs what reading that
    // patient (GET /v1/patients/{id}) or that notification (GET /v1/notifications/{id}) needs.
    let ctx = requestContext(req);
    let grants = {};
    if (spec.filters.patient) {
      if (!p.permissions.has('patient.read'))
        throw new AppError('SP_AUTH_FORBIDDEN', 'a patient filter needs the patient.read permission');
      const c = await access.patient(p, ctx, spec.filters.patient);
      grants = { ...grants, ...c.breakGlassGrants };
    }
    if (spec.filters.basedOn) {
      if (!p.permissions.has('notification.read'))
        throw new AppError('SP_AUTH_FORBIDDEN', 'a based-on filter needs the notification.read permission');
      const c = await access.notification(p, ctx, spec.filters.basedOn);
      grants = { ...grants, ...c.breakGlassGrants };
    }
    if (Object.keys(grants).length) ctx = { ...ctx, breakGlassGrants: grants };
    return { spec, ctx };
  };

  app.post(
    '/Subscription',
    {
      config: { permission: 'subscription.manage' },
      schema: { ...fhirDoc('Create a FHIR Subscription (topic-based, rest-hook; handshake before active)') },
    },
    async (req, reply) => {
      const body = req.body as { id?: unknown } | undefined;
      const { spec, ctx } = await parse(req, body);
      const resource = await subscriptions.create(ctx, spec);
      return reply
        .code(201)
        .header('location', `${base}/Subscription/${String(resource.id)}`)
        .type(FHIR_JSON)
        .send(JSON.stringify(resource));
    },
  );

  app.get(
    '/Subscription/$status',
    {
      config: { permission: 'subscription.manage' },
      schema: { ...fhirDoc("Status of the caller's FHIR Subscriptions ($status)"), querystring: AnyQuery },
    },
    async (req, reply) => {
      const q = searchParams(req, ['id', 'status']);
      const ids = q.get('id')?.flatMap((v) => v.split(','));
      if (ids?.some((id) => !FHIR_ID.test(id))) throw new AppError('SP_FHIR_INVALID_SEARCH', 'id: malformed');
      const status = q.get('status')?.flatMap((v) => v.split(','));
      if (status?.some((s) => !STATUSES.includes(s)))
        throw new AppError('SP_FHIR_INVALID_SEARCH', `status: must be among ${STATUSES.join(', ')}`);
      const bundle = await subscriptions.status(requestContext(req), { ids, status });
      return reply.type(FHIR_JSON).send(JSON.stringify(bundle));
    },
  );

  app.get(
    '/Subscription/:id/$status',
    {
      config: { permission: 'subscription.manage' },
      schema: { ...fhirDoc('Status of one FHIR Subscription ($status)'), params: IdParam, querystring: AnyQuery },
    },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      searchParams(req, []);
      const ctx = requestContext(req);
      await subscriptions.read(ctx, id); // 404 for an id of another tenant or none
      return reply.type(FHIR_JSON).send(JSON.stringify(await subscriptions.status(ctx, { ids: [id] })));
    },
  );

  app.get(
    '/Subscription/:id',
    {
      config: { permission: 'subscription.manage' },
      schema: { ...fhirDoc('Read a FHIR Subscription (header values redacted)'), params: IdParam },
    },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      return reply.type(FHIR_JSON).send(JSON.stringify(await subscriptions.read(requestContext(req), id)));
    },
  );

  const search = async (req: FastifyRequest) => {
    const q = searchParams(req, ['status', 'criteria']);
    const status = q.get('status')?.flatMap((v) => v.split(','));
    if (status?.some((s) => !STATUSES.includes(s)))
      throw new AppError('SP_FHIR_INVALID_SEARCH', `status: must be among ${STATUSES.join(', ')}`);
    const limit = fhirCount(q.get('_count')?.[0]);
    const resources = await subscriptions.search(requestContext(req), { status, criteria: q.get('criteria'), limit });
    return searchset(base, resources, `${base}/Subscription`);
  };

  fhirSearchRoutes(
    app,
    'Subscription',
    { permission: 'subscription.manage', summary: 'Search FHIR Subscriptions', querystring: AnyQuery },
    async (req, reply) => reply.type(FHIR_JSON).send(JSON.stringify(await search(req))),
  );

  app.put(
    '/Subscription/:id',
    {
      config: { permission: 'subscription.manage' },
      schema: { ...fhirDoc('Update a FHIR Subscription (status, endpoint, filters)'), params: IdParam },
    },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      const body = req.body as { id?: unknown } | undefined;
      if (body && typeof body === 'object' && body.id !== undefined && body.id !== id)
        throw new AppError('SP_FHIR_ID_MISMATCH');
      const { spec, ctx } = await parse(req, body);
      return reply.type(FHIR_JSON).send(JSON.stringify(await subscriptions.update(ctx, id, spec)));
    },
  );

  app.delete(
    '/Subscription/:id',
    {
      config: { permission: 'subscription.manage' },
      schema: { ...fhirDoc('Delete a FHIR Subscription'), params: IdParam },
    },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      await subscriptions.delete(requestContext(req), id);
      return reply.code(204).send();
    },
  );
};
