import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { PatientIdString, PatientParam, problems } from '../schemas.js';
import type { ContactPointReveal } from '../../core/contact-point-reveal.js';
import type { PatientAccess } from '../../auth/patient-access.js';
import { assertPatientAccess } from '../../auth/patient-access.js';
import { AppError } from '../../core/errors.js';
import type { Permission } from '../../auth/permissions.js';

const ContactId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._-]+$' });

/** Who may turn an identifier into the opaque id: whoever works with a patient by id afterwards. */
const LOOKUP: Permission[] = ['patient.read', 'patient.erase', 'careteam.manage', 'consent.read'];

export interface PatientLookupRouteOptions {
  contacts: ContactPointReveal;
  access: PatientAccess;
  /** For the relationship check in the lookup's transaction (a break-glass grant is live until a time). */
  clock: () => Date;
}

/**
 * Lookup by identifier (in the body: identifiers are PHI and never go in a URL), contact points
 * masked, and the explicit, audited reveal of one. Physicians and nurses need the patient
 * relationship for each, as for reading the patient.
 */
export const patientLookupRoutes: RoutePlugin<PatientLookupRouteOptions> = async (app, { contacts, access, clock }) => {
  app.post(
    '/v1/patients/lookup',
    {
      config: { permission: LOOKUP },
      schema: {
        tags: ['patients'],
        summary: 'Find the patient holding an identifier (MRN…); answers the opaque patient id (audited)',
        description:
          'The identifier travels in the body, never in the URL. 404 `SP_PATIENT_NOT_FOUND` alike when no patient holds ' +
          "it, when the patient is outside the caller's relationship (physicians and nurses: care team or live " +
          'break-glass grant) and when it belonged to an erased patient; only callers with `patient.erase` get ' +
          '`erased: true` for the latter. Every lookup, found or not, is audited (`patient.looked_up`: a keyed hash of the ' +
          'identifier, never the identifier, and the outcome).',
        body: Type.Object(
          {
            system: Type.String({ minLength: 1, maxLength: 256 }),
            value: Type.String({ minLength: 1, maxLength: 128 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ patientId: PatientIdString, erased: Type.Boolean() }),
          ...problems(400, 401, 403, 404),
        },
      },
    },
    async (req) => {
      // The relationship is checked on the patient the identifier names, in the lookup's transaction;
      // a clinician outside the care team gets the same 404 as for an unknown identifier.
      const p = req.principal!;
      const now = clock().getTime();
      return contacts.lookup(requestContext(req), req.body, {
        showErased: p.permissions.has('patient.erase'),
        access: (tx, patientId) =>
          assertPatientAccess(tx, p, patientId, now).then(
            (grantId) => ({ allowed: true, grantId }),
            (e: unknown) => {
              if (e instanceof AppError && e.code === 'SP_AUTH_NO_RELATIONSHIP')
                return { allowed: false, grantId: null };
              throw e;
            },
          ),
      });
    },
  );

  app.get(
    '/v1/patients/:id/contact-points',
    {
      config: { permission: 'patient.read' },
      schema: {
        tags: ['patients'],
        summary: "A patient's contact points, masked (e.g. `+1 415 ••• ••71`); reveal one with POST …/reveal",
        params: PatientParam,
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                id: Type.String(),
                system: Type.String(),
                rank: Type.Integer(),
                masked: Type.String(),
                optedOut: Type.Boolean(),
              }),
            ),
          }),
          ...problems(401, 403, 404),
        },
      },
    },
    async (req) => {
      const ctx = await access.patient(req.principal!, requestContext(req), req.params.id);
      return { items: await contacts.masked(ctx, req.params.id) };
    },
  );

  app.post(
    '/v1/patients/:id/contact-points/:contactPointId/reveal',
    {
      config: { permission: 'patient.read' },
      schema: {
        tags: ['patients'],
        summary: 'Reveal one contact point in the clear (audited: `patient.contact_point_revealed`)',
        params: Type.Object({ id: PatientIdString, contactPointId: ContactId }),
        response: {
          200: Type.Object({ id: Type.String(), system: Type.String(), value: Type.String() }),
          ...problems(401, 403, 404),
        },
      },
    },
    async (req) => {
      const ctx = await access.patient(req.principal!, requestContext(req), req.params.id);
      return contacts.reveal(ctx, req.params.id, req.params.contactPointId);
    },
  );
};
