import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { Patient } from 'fhir/r4.js';
import type { RoutePlugin } from '../../types.js';
import { requestContext } from '../../types.js';
import { AppError, isAppError } from '../../../core/errors.js';
import type { RequestContext } from '../../../core/context.js';
import type { PatientAccess } from '../../../auth/patient-access.js';
import type { FhirPatients, IdentifierToken } from '../../../ehr/fhir/fhir-patients.js';
import { validateResource } from '../../../ehr/fhir/validation.js';
import { searchset } from '../../../ehr/fhir/bundle.js';
import {
  fhirPage,
  fhirToken,
  ifMatchVersion,
  fhirSearchRoutes,
  installFhirSupport,
  fhirDoc,
  searchParams,
  sendResource,
  FHIR_JSON,
} from './fhir-support.js';

export interface FhirPatientRouteOptions {
  patients: FhirPatients;
  access: PatientAccess;
  publicUrl: string;
}

/** Sealpost patient ids (a superset of FHIR ids: ids registered through /v1 may hold `_`). */
export const IdParam = Type.Object(
  { id: Type.String({ pattern: '^(?!\\.\\.?$)[A-Za-z0-9._-]{1,64}$' }) },
  { additionalProperties: false },
);

const SEARCH_PARAMS = ['identifier'] as const;

/** `identifier` values of a search or an If-None-Exist: each parameter an OR list (`a|1,b|2`). */
function identifierTokens(values: string[]): IdentifierToken[][] {
  return values.map((v) => v.split(',').map((t) => fhirToken(t)));
}

/**
 * FHIR R4 Patient (registered under `/fhir/R4`): read, create (conditional with If-None-Exist),
 * update, search by identifier (GET and POST _search). Permissions are the REST API's for the same
 * action (patient.read, patient.write), and clinicians need the care-team relationship.
 */
export const fhirPatientRoutes: RoutePlugin<FhirPatientRouteOptions> = async (app, o) => {
  installFhirSupport(app);
  const base = `${o.publicUrl.replace(/\/+$/, '')}/fhir/R4`;

  /** The ids among `ids` the caller may read; others are left out of a search (no 403 that would confirm a match). */
  const readable = async (req: FastifyRequest, ids: string[]) => {
    const out: { id: string; ctx: RequestContext }[] = [];
    for (const id of ids) {
      try {
        out.push({ id, ctx: await o.access.patient(req.principal!, requestContext(req), id) });
      } catch (e) {
        if (!(isAppError(e) && e.code === 'SP_AUTH_NO_RELATIONSHIP')) throw e;
      }
    }
    return out;
  };

  app.get(
    '/Patient/:id',
    {
      config: { permission: 'patient.read' },
      schema: { ...fhirDoc('Read a FHIR Patient (audited)'), params: IdParam },
    },
    async (req, reply) => {
      const ctx = await o.access.patient(req.principal!, requestContext(req), req.params.id);
      return sendResource(reply, await o.patients.read(ctx, req.params.id));
    },
  );

  const createDoc = fhirDoc(
    'Create a FHIR Patient (server-assigned id)',
    'Conditional with `If-None-Exist: identifier=system|value`: one match answers it (200), several 412.',
  );
  app.post('/Patient', { config: { permission: 'patient.write' }, schema: createDoc }, async (req, reply) => {
    validateResource('Patient', req.body);
    const body = req.body as Patient;
    const condition = req.headers['if-none-exist'];
    if (typeof condition === 'string') {
      const params = new URLSearchParams(condition.replace(/^.*\?/, ''));
      const keys = [...new Set(params.keys())];
      if (!keys.length || keys.some((k) => k !== 'identifier'))
        throw new AppError('SP_FHIR_INVALID_SEARCH', 'If-None-Exist: only identifier=system|value is supported');
      const matches = await o.patients.matchIdentifiers(
        requestContext(req),
        identifierTokens(params.getAll('identifier')),
      );
      if (matches.length > 1) throw new AppError('SP_FHIR_MULTIPLE_MATCHES', 'If-None-Exist');
      if (matches.length === 1) {
        const id = matches[0]!;
        const ctx = await o.access.patient(req.principal!, requestContext(req), id);
        return sendResource(reply, await o.patients.read(ctx, id));
      }
    }
    const id = o.patients.newId();
    const ctx = await o.access.patient(req.principal!, requestContext(req), id, true);
    const created = await o.patients.create(ctx, id, body, {
      mayAddWebhooks: req.principal!.permissions.has('contact.webhook'),
    });
    return sendResource(reply, created, { status: 201, base });
  });

  app.put(
    '/Patient/:id',
    {
      config: { permission: 'patient.write' },
      schema: { ...fhirDoc('Replace a FHIR Patient (never creates; If-Match honoured)'), params: IdParam },
    },
    async (req, reply) => {
      // The id is checked against the URL's: ids registered through /v1 may hold `_`, which R4's id type does not.
      const { id: _id, ...rest } = (req.body ?? {}) as Record<string, unknown>;
      validateResource('Patient', Array.isArray(req.body) ? req.body : rest);
      const body = req.body as Patient;
      if (body.id !== req.params.id)
        throw new AppError('SP_FHIR_ID_MISMATCH', 'Patient.id: must be present and equal the id in the URL');
      const ifMatch = ifMatchVersion(req.headers['if-match']);
      const ctx = await o.access.patient(req.principal!, requestContext(req), req.params.id, true);
      const updated = await o.patients.update(ctx, req.params.id, body, {
        mayAddWebhooks: req.principal!.permissions.has('contact.webhook'),
        ...(ifMatch !== undefined ? { ifMatch } : {}),
      });
      return sendResource(reply, updated);
    },
  );

  const search = async (req: FastifyRequest) => {
    const params = searchParams(req, SEARCH_PARAMS);
    const page = fhirPage(params);
    const identifiers = params.get('identifier');
    if (!identifiers?.length)
      throw new AppError('SP_FHIR_INVALID_SEARCH', 'identifier: is required (Sealpost does not list all patients)');
    const matches = await o.patients.matchIdentifiers(requestContext(req), identifierTokens(identifiers));
    const allowed = await readable(req, matches);
    const resources: Patient[] = [];
    for (const { id, ctx } of allowed.slice(page.offset, page.offset + page.count))
      resources.push(await o.patients.read(ctx, id));
    const query = new URLSearchParams();
    for (const v of identifiers) query.append('identifier', v);
    const { selfUrl, nextUrl } = page.links(`${base}/Patient`, query, allowed.length);
    return searchset(base, resources, selfUrl, { total: allowed.length, ...(nextUrl ? { nextUrl } : {}) });
  };

  fhirSearchRoutes(
    app,
    'Patient',
    {
      permission: 'patient.read',
      summary: 'Search FHIR Patients by identifier',
      description: '`identifier=system|value` (required), `_count`, `_offset`.',
    },
    async (req, reply) => reply.type(FHIR_JSON).send(JSON.stringify(await search(req))),
  );
};
