import { Type } from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../../types.js';
import { requestContext } from '../../types.js';
import { AppError } from '../../../core/errors.js';
import type { PatientAccess } from '../../../auth/patient-access.js';
import type { ConsentService } from '../../../core/consent-service.js';
import { parseConsent, toFhirConsent } from '../../../ehr/fhir/consent.js';
import { searchset } from '../../../ehr/fhir/bundle.js';
import {
  FHIR_ID,
  FHIR_JSON,
  fhirDoc,
  fhirReference,
  fhirSearchRoutes,
  installFhirSupport,
  searchParams,
  sendResource,
} from './fhir-support.js';

const IdParam = Type.Object({ id: Type.String({ pattern: FHIR_ID.source }) });

export interface ConsentRouteOptions {
  consents: ConsentService;
  access: PatientAccess;
  publicUrl: string;
}

/**
 * FHIR Consent (`/fhir/R4/Consent`): a patient's permit or deny of a channel, recorded in the
 * consent ledger and honoured at send time. Create needs patient.write, read and search
 * patient.read, with the patient's care-team check (as GET/PUT /v1/patients/{id}).
 */
export const consentRoutes: RoutePlugin<ConsentRouteOptions> = async (app, o) => {
  installFhirSupport(app);
  const { consents, access } = o;
  const base = `${o.publicUrl.replace(/\/+$/, '')}/fhir/R4`;

  app.post(
    '/Consent',
    {
      config: { permission: 'consent.write' },
      schema: { ...fhirDoc("Record a patient's consent (permit or deny per channel)") },
    },
    async (req, reply) => {
      const parsed = parseConsent(req.body);
      const ctx = await access.patient(req.principal!, requestContext(req), parsed.patientId);
      try {
        const record = await consents.record(ctx, { ...parsed, source: 'fhir' });
        return sendResource(reply, toFhirConsent(record) as never, { status: 201, base });
      } catch (e) {
        if (e instanceof AppError && e.code === 'SP_PATIENT_NOT_FOUND')
          throw new AppError('SP_FHIR_REFERENCE_NOT_FOUND', 'Consent.patient');
        throw e;
      }
    },
  );

  app.get(
    '/Consent/:id',
    { config: { permission: 'consent.read' }, schema: { ...fhirDoc('Read a FHIR Consent'), params: IdParam } },
    async (req, reply) => {
      const record = await consents.get(requestContext(req), req.params.id);
      await access.patient(req.principal!, requestContext(req), record.patientId);
      return sendResource(reply, toFhirConsent(record) as never);
    },
  );

  const search = async (req: FastifyRequest, reply: FastifyReply) => {
    const params = searchParams(req, ['patient']);
    const raw = params.get('patient');
    if (!raw || raw.length !== 1) throw new AppError('SP_FHIR_INVALID_SEARCH', 'patient: is required, once');
    const patientId = fhirReference(raw[0]!, 'Patient');
    const ctx = await access.patient(req.principal!, requestContext(req), patientId);
    const records = await consents.listForPatient(ctx, patientId);
    const bundle = searchset(
      base,
      records.map((r) => toFhirConsent(r)),
      `${base}/Consent?${new URLSearchParams({ patient: raw[0]! }).toString()}`,
    );
    return reply.type(FHIR_JSON).send(JSON.stringify(bundle));
  };

  fhirSearchRoutes(
    app,
    'Consent',
    { permission: 'consent.read', summary: 'Search FHIR Consents by patient' },
    (req, reply) => search(req, reply),
  );
};
