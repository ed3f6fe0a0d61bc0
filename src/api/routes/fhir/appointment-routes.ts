import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { Appointment } from 'fhir/r4.js';
import type { RoutePlugin } from '../../types.js';
import { requestContext } from '../../types.js';
import { AppError, isAppError } from '../../../core/errors.js';
import type { RequestContext } from '../../../core/context.js';
import type { PatientAccess } from '../../../auth/patient-access.js';
import { externalIdOf, fhirAppointmentId, type FhirAppointments } from '../../../ehr/fhir/fhir-appointments.js';
import { validateResource } from '../../../ehr/fhir/validation.js';
import { searchset } from '../../../ehr/fhir/bundle.js';
import {
  FHIR_JSON,
  fhirPage,
  fhirReference,
  fhirToken,
  ifMatchVersion,
  fhirSearchRoutes,
  installFhirSupport,
  fhirDoc,
  searchParams,
  sendResource,
} from './fhir-support.js';

export interface FhirAppointmentRouteOptions {
  appointments: FhirAppointments;
  access: PatientAccess;
  publicUrl: string;
}

const IdParam = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9.-]{1,64}$' }) }, { additionalProperties: false });

const SEARCH_PARAMS = ['identifier', 'patient'] as const;

/**
 * FHIR R4 Appointment (registered under `/fhir/R4`): create, read, update, search by identifier and
 * patient (GET and POST _search). Permissions are the REST API's (appointment.write,
 * appointment.read); clinicians need the care-team relationship to the appointment's patient.
 */
export const fhirAppointmentRoutes: RoutePlugin<FhirAppointmentRouteOptions> = async (app, o) => {
  installFhirSupport(app);
  const base = `${o.publicUrl.replace(/\/+$/, '')}/fhir/R4`;
  const patientOfBody = (b: Appointment) =>
    b.participant
      .map((p) => /^(?:.*\/)?Patient\/([A-Za-z0-9._-]{1,64})$/.exec(p.actor?.reference ?? '')?.[1])
      .find((x) => x !== undefined);

  const createDoc = fhirDoc(
    'Create a FHIR Appointment: schedules the reminder series of PUT /v1/appointments',
    'An identifier Sealpost already holds updates that appointment (200).',
  );
  app.post('/Appointment', { config: { permission: 'appointment.write' }, schema: createDoc }, async (req, reply) => {
    validateResource('Appointment', req.body);
    const body = req.body as Appointment;
    const externalId = o.appointments.keyOf(req.principal!.tenantId, body);
    const ctx = await o.access.appointment(req.principal!, requestContext(req), externalId, patientOfBody(body));
    const { created, resource } = await o.appointments.create(ctx, externalId, body);
    return sendResource(reply, resource, { status: created ? 201 : 200, base });
  });

  app.put(
    '/Appointment/:id',
    {
      config: { permission: 'appointment.write' },
      schema: {
        ...fhirDoc('Replace a FHIR Appointment; status cancelled or noshow cancels its reminders'),
        params: IdParam,
      },
    },
    async (req, reply) => {
      validateResource('Appointment', req.body);
      const body = req.body as Appointment;
      if (body.id !== req.params.id)
        throw new AppError('SP_FHIR_ID_MISMATCH', 'Appointment.id: must be present and equal the id in the URL');
      const ifMatch = ifMatchVersion(req.headers['if-match']);
      const externalId = externalIdOf(req.params.id);
      const ctx = await o.access.appointment(req.principal!, requestContext(req), externalId, patientOfBody(body));
      return sendResource(reply, await o.appointments.update(ctx, externalId, body, ifMatch));
    },
  );

  app.get(
    '/Appointment/:id',
    {
      config: { permission: 'appointment.read' },
      schema: { ...fhirDoc('Read a FHIR Appointment (audited)'), params: IdParam },
    },
    async (req, reply) => {
      const externalId = externalIdOf(req.params.id);
      const ctx = await o.access.appointment(req.principal!, requestContext(req), externalId);
      return sendResource(reply, await o.appointments.read(ctx, externalId));
    },
  );

  const search = async (req: FastifyRequest) => {
    const params = searchParams(req, SEARCH_PARAMS);
    const page = fhirPage(params);
    const identifiers = params.get('identifier') ?? [];
    const patients = params.get('patient') ?? [];
    if (!identifiers.length && !patients.length)
      throw new AppError('SP_FHIR_INVALID_SEARCH', 'identifier or patient: one is required');
    if (patients.length > 1) throw new AppError('SP_FHIR_INVALID_SEARCH', 'patient: give it once');
    const tenantId = req.principal!.tenantId;
    let candidates = null as Set<string> | null;
    for (const value of identifiers) {
      const anyOf = new Set<string>();
      for (const raw of value.split(',')) {
        const t = fhirToken(raw);
        if (t.system === undefined)
          throw new AppError('SP_FHIR_INVALID_SEARCH', 'identifier: give the system as system|value');
        if (t.system) anyOf.add(o.appointments.externalIdFor(tenantId, { system: t.system, value: t.value }));
      }
      candidates = candidates === null ? anyOf : new Set([...candidates].filter((x) => anyOf.has(x)));
    }
    let ctx: RequestContext = requestContext(req);
    const allowed: { externalId: string; ctx: RequestContext }[] = [];
    if (patients.length) {
      const patientId = fhirReference(patients[0]!, 'Patient');
      // Asking for one patient's appointments is access to that patient: outside the care team, 403.
      ctx = await o.access.patient(req.principal!, ctx, patientId);
      const ids = await o.appointments.listForPatient(ctx, patientId);
      for (const id of ids) if (candidates === null || candidates.has(id)) allowed.push({ externalId: id, ctx });
    } else {
      for (const externalId of candidates ?? []) {
        if ((await o.appointments.patientOf(tenantId, externalId)) === undefined) continue;
        try {
          allowed.push({ externalId, ctx: await o.access.appointment(req.principal!, ctx, externalId) });
        } catch (e) {
          if (!(isAppError(e) && e.code === 'SP_AUTH_NO_RELATIONSHIP')) throw e;
        }
      }
    }
    const visible = allowed.filter((a) => fhirAppointmentId(a.externalId) !== null);
    const resources: Appointment[] = [];
    for (const a of visible.slice(page.offset, page.offset + page.count))
      resources.push(...(await o.appointments.readMany(a.ctx, [a.externalId])));
    const query = new URLSearchParams();
    for (const v of identifiers) query.append('identifier', v);
    for (const v of patients) query.append('patient', v);
    const { selfUrl, nextUrl } = page.links(`${base}/Appointment`, query, visible.length);
    return searchset(base, resources, selfUrl, { total: visible.length, ...(nextUrl ? { nextUrl } : {}) });
  };

  fhirSearchRoutes(
    app,
    'Appointment',
    {
      permission: 'appointment.read',
      summary: 'Search FHIR Appointments',
      description: '`identifier=system|value` and/or `patient`, `_count`, `_offset`.',
    },
    async (req, reply) => reply.type(FHIR_JSON).send(JSON.stringify(await search(req))),
  );
};
