import { Type } from 'typebox';
import { CHANNEL_KINDS, DELIVERY_STATUSES, LANGUAGES, NOTIFICATION_TYPES, PRIORITIES } from '../core/domain.js';

const str = (o: Record<string, unknown> = {}) => Type.String({ maxLength: 1000, ...o });

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String({ description: 'Stable error code SP_<AREA>_<WHAT>; see docs/errors.md' }),
    detail: Type.Optional(Type.String()),
    requestId: Type.String(),
  },
  { $id: 'Problem' },
);

export const PatientBody = Type.Object(
  {
    name: Type.Object(
      {
        given: Type.Optional(Type.Array(str({ minLength: 1, maxLength: 100 }), { maxItems: 5 })),
        family: Type.Optional(str({ minLength: 1, maxLength: 100 })),
        text: Type.Optional(str({ minLength: 1, maxLength: 200 })),
      },
      { additionalProperties: false },
    ),
    birthDate: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'YYYY-MM-DD' }),
    telecom: Type.Array(
      Type.Object(
        {
          system: Type.Enum([...CHANNEL_KINDS]),
          value: str({ minLength: 1, maxLength: 2048 }),
          rank: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 100, description: '1 = preferred (FHIR ContactPoint.rank)' }),
          ),
        },
        { additionalProperties: false },
      ),
      { maxItems: 10 },
    ),
    language: Type.Optional(Type.Enum([...LANGUAGES])),
    timeZone: Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. America/New_York' }),
    identifiers: Type.Optional(
      Type.Array(
        Type.Object(
          {
            system: Type.String({
              minLength: 1,
              maxLength: 256,
              description: 'Assigning authority (HL7 CX-4), URI or OID; not PHI',
            }),
            value: Type.String({
              minLength: 1,
              maxLength: 128,
              description: 'The MRN or other identifier; stored sealed',
            }),
          },
          { additionalProperties: false },
        ),
        {
          maxItems: 20,
          description:
            'Identifiers from the EHR (MRN…), each held by one patient of the tenant. Given, they replace the stored set; omitted, the stored set is kept.',
        },
      ),
    ),
  },
  { additionalProperties: false },
);

export const PatientView = Type.Object({
  id: Type.String(),
  name: Type.Object({
    given: Type.Optional(Type.Array(Type.String())),
    family: Type.Optional(Type.String()),
    text: Type.Optional(Type.String()),
  }),
  birthDate: Type.String(),
  telecom: Type.Array(Type.Object({ system: Type.String(), value: Type.String(), rank: Type.Integer() })),
  language: Type.String(),
  timeZone: Type.String(),
  identifiers: Type.Array(Type.Object({ system: Type.String(), value: Type.String() })),
});

/** Identifiers callers choose (patient and appointment ids): no control characters (PostgreSQL refuses NUL in text). */
const NO_CONTROL = '^[^\\x00-\\x1F\\x7F]+$';

/** Patient ids: 1-64 of [A-Za-z0-9._-], but never `.` or `..` (path segments with a meaning of their own). */
export const PATIENT_ID_PATTERN = '^(?!\\.\\.?$)[A-Za-z0-9._-]{1,64}$';
export const PatientIdString = Type.String({ minLength: 1, maxLength: 64, pattern: PATIENT_ID_PATTERN });
export const PatientParam = Type.Object({ id: PatientIdString });

export const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, pattern: NO_CONTROL }) });

export const NotificationBody = Type.Object(
  {
    type: Type.String({ maxLength: 64, description: NOTIFICATION_TYPES.join(' | ') }),
    patientId: Type.String({ minLength: 1, maxLength: 64, pattern: NO_CONTROL }),
    data: Type.Record(Type.String(), Type.Unknown(), {
      description:
        'Template variables of the type (PHI, stored encrypted). At most 4 levels deep, 50 keys per object and 2,000 characters per string; well-formed Unicode only.',
    }),
    channels: Type.Optional(Type.Array(Type.Enum([...CHANNEL_KINDS]), { minItems: 1, maxItems: CHANNEL_KINDS.length })),
    sendAt: Type.Optional(Type.String({ format: 'date-time' })),
    priority: Type.Optional(Type.Enum([...PRIORITIES])),
  },
  { additionalProperties: false },
);

const DeliveryStatus = Type.Enum([...DELIVERY_STATUSES]);
const nullableTime = Type.Union([Type.String(), Type.Null()]);

export const CreatedNotification = Type.Object({
  id: Type.String(),
  status: Type.String(),
  deliveries: Type.Array(
    Type.Object({ id: Type.String(), channel: Type.String(), status: DeliveryStatus, runAt: Type.String() }),
  ),
});

export const NotificationView = Type.Object({
  id: Type.String(),
  type: Type.String(),
  priority: Type.String(),
  status: Type.String(),
  patientId: Type.String(),
  appointmentId: Type.Union([Type.String(), Type.Null()]),
  sendAt: Type.String(),
  createdAt: Type.String(),
  cancelledAt: nullableTime,
  acknowledgedAt: nullableTime,
  deliveries: Type.Array(
    Type.Object({
      id: Type.String(),
      channel: Type.String(),
      status: DeliveryStatus,
      runAt: Type.String(),
      attempts: Type.Integer(),
      lastErrorCode: Type.Union([Type.String(), Type.Null()]),
      createdAt: Type.String(),
      updatedAt: Type.String(),
      sentAt: nullableTime,
      deliveredAt: nullableTime,
      readAt: nullableTime,
      failedAt: nullableTime,
      cancelledAt: nullableTime,
    }),
  ),
});

export const AppointmentBody = Type.Object(
  {
    patientId: Type.String({ minLength: 1, maxLength: 64 }),
    start: Type.String({ format: 'date-time' }),
    end: Type.Optional(Type.String({ format: 'date-time' })),
    location: Type.Optional(str({ minLength: 1, maxLength: 500 })),
    clinicianName: Type.Optional(str({ minLength: 1, maxLength: 200 })),
    instructions: Type.Optional(str({ minLength: 1, maxLength: 1000 })),
  },
  { additionalProperties: false },
);

export const AppointmentView = Type.Object({
  externalId: Type.String(),
  status: Type.String(),
  start: Type.String(),
  reminders: Type.Array(Type.Object({ notificationId: Type.String(), runAt: Type.String(), status: Type.String() })),
  /** The patient's answer to a reminder (a reply code by SMS); null until one. */
  patientResponse: Type.Union([
    Type.Object({
      response: Type.Union([Type.Literal('confirmed'), Type.Literal('declined')]),
      at: Type.String(),
      channel: Type.String(),
    }),
    Type.Null(),
  ]),
});

export const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
  },
  { additionalProperties: false },
);

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7E]+$' })),
});

export const problems = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, { $ref: 'Problem#' }]));
