import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { AppointmentBody, AppointmentView, problems } from '../schemas.js';
import type { AppointmentService } from '../../core/appointment-service.js';
import type { PatientAccess } from '../../auth/patient-access.js';

const ExternalId = Type.Object({
  externalId: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' }),
});

export interface AppointmentRouteOptions {
  appointments: AppointmentService;
  access: PatientAccess;
}

/** `access`: the patient relationship for physicians and nurses (the appointment's patient and the body's). */
export const appointmentRoutes: RoutePlugin<AppointmentRouteOptions> = async (app, { appointments, access }) => {
  app.put(
    '/:externalId',
    {
      config: { permission: 'appointment.write' },
      schema: {
        tags: ['appointments'],
        summary: 'Book or move an appointment; (re)schedules its reminder series',
        description:
          'Reminders go out at the tenant policy offsets (default 7d, 1d, 2h) before start, in the patient time zone. Reminders whose time has passed are not created.',
        params: ExternalId,
        body: AppointmentBody,
        response: { 200: AppointmentView, 201: AppointmentView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const ctx = await access.appointment(
        req.principal!,
        requestContext(req),
        req.params.externalId,
        req.body.patientId,
      );
      const { created, answer } = await appointments.upsert(ctx, req.params.externalId, req.body);
      return reply.code(created ? 201 : 200).send(answer);
    },
  );

  app.get(
    '/:externalId',
    {
      config: { permission: 'appointment.read' },
      schema: {
        tags: ['appointments'],
        summary: 'An appointment and its reminders',
        params: ExternalId,
        response: { 200: AppointmentView, ...problems(401, 403, 404) },
      },
    },
    async (req) =>
      appointments.get(
        await access.appointment(req.principal!, requestContext(req), req.params.externalId),
        req.params.externalId,
      ),
  );

  app.delete(
    '/:externalId',
    {
      config: { permission: 'appointment.write' },
      schema: {
        tags: ['appointments'],
        summary: 'Cancel an appointment and its pending reminders',
        params: ExternalId,
        response: { 200: AppointmentView, ...problems(401, 403, 404) },
      },
    },
    async (req) =>
      appointments.remove(
        await access.appointment(req.principal!, requestContext(req), req.params.externalId),
        req.params.externalId,
      ),
  );
};
