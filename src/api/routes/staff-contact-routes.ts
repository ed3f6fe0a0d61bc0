import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { problems } from '../schemas.js';
import { AppError } from '../../core/errors.js';
import { LANGUAGES } from '../../core/domain.js';
import { MAX_STAFF_CONTACTS, STAFF_CONTACT_KINDS, type StaffContactService } from '../../alerting/staff-contacts.js';

const Contact = Type.Object(
  {
    kind: Type.Enum([...STAFF_CONTACT_KINDS]),
    value: Type.String({ minLength: 1, maxLength: 2048 }),
  },
  { additionalProperties: false },
);
const Settings = Type.Object(
  {
    language: Type.Enum([...LANGUAGES]),
    timeZone: Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. America/New_York' }),
    quietHours: Type.Union([
      Type.String({ maxLength: 11, description: 'HH:MM-HH:MM, may cross midnight' }),
      Type.Null(),
    ]),
    doNotDisturbUntil: Type.Union([Type.String({ format: 'date-time', maxLength: 40 }), Type.Null()]),
  },
  { additionalProperties: false },
);
const AlertContacts = Type.Object(
  {
    contacts: Type.Array(Contact, {
      maxItems: MAX_STAFF_CONTACTS,
      description: 'In rank order: the first method of a kind is the one its channel uses',
    }),
    settings: Settings,
  },
  { additionalProperties: false },
);
/** A PUT replaces the contact methods, and the settings only when they are given. */
const AlertContactsInput = Type.Object(
  {
    contacts: AlertContacts.properties.contacts,
    settings: Type.Optional(Settings),
  },
  { additionalProperties: false },
);
const UserParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }) });

const DESCRIPTION =
  'Contact methods are staff work contact data (not PHI), stored as the user e-mail is. Medium and low alerts ' +
  'are suppressed during quiet hours and do-not-disturb; high alerts always go. Every change is audited.';

/** The signed-in staff user (patients and systems have no alert contacts). */
function self(req: FastifyRequest): string {
  const p = req.principal!;
  if (p.kind !== 'user') throw new AppError('SP_AUTH_FORBIDDEN');
  return p.id;
}

export interface StaffContactRouteOptions {
  contacts: StaffContactService;
}

/** How a staff user is reached by clinical alerts: by administrators, and by the user themself. */
export const staffContactRoutes: RoutePlugin<StaffContactRouteOptions> = async (app, { contacts }) => {
  app.get(
    '/users/:id/alert-contacts',
    {
      config: { permission: ['alert.manage', 'user.manage'] },
      schema: {
        tags: ['alerts'],
        summary: "A staff user's alert contact methods and settings",
        params: UserParam,
        response: { 200: AlertContacts, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => contacts.get(requestContext(req), req.params.id),
  );

  app.put(
    '/users/:id/alert-contacts',
    {
      config: { permission: ['alert.manage', 'user.manage'] },
      schema: {
        tags: ['alerts'],
        summary: "Replace a staff user's alert contact methods and settings",
        description: DESCRIPTION,
        params: UserParam,
        body: AlertContactsInput,
        response: { 200: AlertContacts, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => contacts.put(requestContext(req), req.params.id, req.body),
  );

  app.get(
    '/me/alert-contacts',
    {
      config: { permission: 'authenticated' },
      schema: {
        tags: ['alerts'],
        summary: "The signed-in staff user's alert contact methods and settings",
        response: { 200: AlertContacts, ...problems(401, 403) },
      },
    },
    async (req) => contacts.get(requestContext(req), self(req)),
  );

  app.put(
    '/me/alert-contacts',
    {
      config: { permission: 'authenticated' },
      schema: {
        tags: ['alerts'],
        summary: "Replace the signed-in staff user's alert contact methods and settings",
        description: DESCRIPTION,
        body: AlertContactsInput,
        response: { 200: AlertContacts, ...problems(400, 401, 403) },
      },
    },
    async (req) => contacts.put(requestContext(req), self(req), req.body),
  );
};
