import type { TypedApp } from '../types.js';
import { requestContext } from '../types.js';
import { PatientBody, PatientView, problems } from '../schemas.js';
import { Type } from 'typebox';
import type { PatientService } from '../../core/patient-service.js';

const PatientParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }) });

export function patientRoutes(app: TypedApp, patients: PatientService): void {
  app.put(
    '/v1/patients/:id',
    {
      schema: {
        tags: ['patients'],
        summary: 'Register or replace a patient (PHI is stored encrypted)',
        description: 'Use an opaque id (not an MRN): ids appear in URLs and URLs are never PHI.',
        params: PatientParam,
        body: PatientBody,
        response: { 200: PatientView, 201: PatientView, ...problems(400, 401, 413) },
      },
    },
    async (req, reply) => {
      const { created, patient } = await patients.upsert(requestContext(req), req.params.id, req.body);
      return reply.code(created ? 201 : 200).send(patient);
    },
  );

  app.get(
    '/v1/patients/:id',
    { schema: { tags: ['patients'], summary: 'Read a patient (audited)', params: PatientParam, response: { 200: PatientView, ...problems(401, 404) } } },
    async (req) => patients.get(requestContext(req), req.params.id),
  );
}
