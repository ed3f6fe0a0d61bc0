import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { requestContext } from '../types.js';
import { IdParam, problems } from '../schemas.js';
import type { ScheduleService } from '../../alerting/schedules/schedule-service.js';
import { MAX_LAYERS, MAX_ROTATION_USERS } from '../../alerting/schedules/schedule-validation.js';

export const UserId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' });
// Formats are checked by the service, so a bad hand-off time or zone gets its own error code.
const Layer = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    userIds: Type.Array(UserId, { maxItems: MAX_ROTATION_USERS, description: 'The rotation, in order' }),
    kind: Type.Union([Type.Literal('daily'), Type.Literal('weekly'), Type.Literal('custom')]),
    shiftHours: Type.Optional(Type.Integer({ description: 'custom: shift length in wall-clock hours (1-744)' })),
    rrule: Type.Optional(
      Type.String({
        maxLength: 500,
        description: 'custom: RFC 5545 RRULE of the hand-offs, e.g. FREQ=WEEKLY;BYDAY=MO,TH (no DTSTART, COUNT, UNTIL)',
      }),
    ),
    handoffTime: Type.String({ maxLength: 16, description: 'Wall-clock HH:MM in the schedule zone' }),
    startDate: Type.String({ maxLength: 16, description: 'YYYY-MM-DD of the first hand-off' }),
    restrictions: Type.Optional(
      Type.Array(
        Type.Object(
          {
            days: Type.Optional(Type.Array(Type.Integer(), { maxItems: 7, description: 'ISO weekdays, 1 = Monday' })),
            start: Type.String({ maxLength: 16, description: 'HH:MM' }),
            end: Type.String({ maxLength: 16, description: 'HH:MM; at or before start: the next day' }),
          },
          { additionalProperties: false },
        ),
        { maxItems: 14, description: 'The layer has someone only inside these wall-clock windows' },
      ),
    ),
  },
  { additionalProperties: false },
);
const ScheduleBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    timeZone: Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. Europe/Madrid' }),
    layers: Type.Array(Layer, { maxItems: MAX_LAYERS, description: 'Later layers win where they have someone' }),
  },
  { additionalProperties: false },
);
const ScheduleView = Type.Object({
  id: Type.String(),
  ...ScheduleBody.properties,
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
const Instant = Type.String({ minLength: 1, maxLength: 40, description: 'ISO 8601 with offset or Z' });
const RangeQuery = Type.Object({ from: Instant, to: Instant }, { additionalProperties: false });
const Span = Type.Object({ userId: UserId, start: Instant, end: Instant }, { additionalProperties: false });
const OverrideView = Type.Object({
  id: Type.String(),
  userId: Type.String(),
  start: Type.String({ format: 'date-time' }),
  end: Type.String({ format: 'date-time' }),
  swapId: Type.Union([Type.String(), Type.Null()]),
  createdBy: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
});
const ShiftView = Type.Object({
  start: Type.String({ format: 'date-time' }),
  end: Type.String({ format: 'date-time' }),
  userIds: Type.Array(Type.String(), { description: 'Empty in a gap' }),
  layer: Type.Optional(Type.Integer()),
  overrideId: Type.Optional(Type.String()),
});
const OnCallView = Type.Object({
  at: Type.String({ format: 'date-time' }),
  userIds: Type.Array(Type.String()),
  start: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  end: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  empty: Type.Optional(Type.Literal('no_one_on_call')),
});
const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,200}$' })),
  },
  { additionalProperties: false },
);
const OverrideParams = Type.Object({ ...IdParam.properties, overrideId: IdParam.properties.id });
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export interface ScheduleRouteOptions {
  schedules: ScheduleService;
}

/**
 * `/v1/schedules`: on-call schedules (layers of rotations with wall-clock hand-offs in an IANA zone),
 * overrides and swaps; who is on call, the shifts of a range and their iCalendar export.
 */
export const scheduleRoutes: RoutePlugin<ScheduleRouteOptions> = async (app, { schedules }) => {
  const tags = ['schedules'];
  const read = { permission: 'schedule.read' as const };
  const manage = { permission: 'schedule.manage' as const };

  app.get(
    '',
    {
      config: read,
      schema: {
        tags,
        summary: 'On-call schedules',
        querystring: ListQuery,
        response: {
          200: Type.Object({ items: Type.Array(ScheduleView), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => schedules.list(requestContext(req), req.query.limit ?? 50, req.query.cursor),
  );
  app.post(
    '',
    {
      config: manage,
      schema: {
        tags,
        summary: 'Create an on-call schedule',
        body: ScheduleBody,
        response: { 201: ScheduleView, ...problems(400, 401, 403) },
      },
    },
    async (req, reply) => reply.code(201).send(await schedules.create(requestContext(req), req.body)),
  );
  app.get(
    '/:id',
    {
      config: read,
      schema: {
        tags,
        summary: 'One schedule',
        params: IdParam,
        response: { 200: ScheduleView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => schedules.get(requestContext(req), req.params.id),
  );
  app.put(
    '/:id',
    {
      config: manage,
      schema: {
        tags,
        summary: "Replace a schedule's name, zone and layers (overrides stay)",
        params: IdParam,
        body: ScheduleBody,
        response: { 200: ScheduleView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => schedules.update(requestContext(req), req.params.id, req.body),
  );
  app.delete(
    '/:id',
    {
      config: manage,
      schema: {
        tags,
        summary: 'Delete a schedule and its overrides (targets naming it then resolve empty)',
        params: IdParam,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await schedules.remove(requestContext(req), req.params.id);
      return reply.code(204).send(null);
    },
  );
  app.get(
    '/:id/on-call',
    {
      config: read,
      schema: {
        tags,
        summary: 'Who is on call at `at` (default now) and the shift they are in',
        params: IdParam,
        querystring: Type.Object({ at: Type.Optional(Instant) }, { additionalProperties: false }),
        response: { 200: OnCallView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const r = await schedules.onCall(requestContext(req), req.params.id, req.query.at);
      return { ...r, at: iso(r.at)!, start: iso(r.start), end: iso(r.end) };
    },
  );
  app.get(
    '/:id/shifts',
    {
      config: read,
      schema: {
        tags,
        summary: 'The shifts of [from, to) (at most 62 days), gaps included with no user',
        params: IdParam,
        querystring: RangeQuery,
        response: { 200: Type.Object({ items: Type.Array(ShiftView) }), ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => ({
      items: await schedules.shifts(requestContext(req), req.params.id, req.query.from, req.query.to),
    }),
  );
  app.get(
    '/:id/calendar.ics',
    {
      config: read,
      schema: {
        tags,
        summary: 'The staffed shifts of [from, to) as iCalendar (RFC 5545, UTC times)',
        params: IdParam,
        querystring: RangeQuery,
        produces: ['text/calendar'],
      },
    },
    async (req, reply) => {
      const text = await schedules.calendar(requestContext(req), req.params.id, req.query.from, req.query.to);
      return reply.type('text/calendar; charset=utf-8').send(text);
    },
  );
  app.get(
    '/:id/overrides',
    {
      config: read,
      schema: {
        tags,
        summary: 'Overrides (and swap halves) overlapping [from, to)',
        params: IdParam,
        querystring: RangeQuery,
        response: { 200: Type.Object({ items: Type.Array(OverrideView) }), ...problems(400, 401, 403, 404) },
      },
    },
    async (req) => ({
      items: await schedules.overrides(requestContext(req), req.params.id, req.query.from, req.query.to),
    }),
  );
  app.post(
    '/:id/overrides',
    {
      config: manage,
      schema: {
        tags,
        summary: 'A user takes [start, end) over every layer (at most 62 days)',
        params: IdParam,
        body: Span,
        response: { 201: OverrideView, ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) =>
      reply.code(201).send(await schedules.addOverride(requestContext(req), req.params.id, req.body)),
  );
  app.post(
    '/:id/swaps',
    {
      config: manage,
      schema: {
        tags,
        summary: "Two users exchange shifts: b takes a's range and a takes b's (two linked overrides)",
        params: IdParam,
        body: Type.Object({ a: Span, b: Span }, { additionalProperties: false }),
        response: { 201: Type.Object({ items: Type.Array(OverrideView) }), ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) =>
      reply
        .code(201)
        .send({ items: await schedules.addSwap(requestContext(req), req.params.id, req.body.a, req.body.b) }),
  );
  app.delete(
    '/:id/overrides/:overrideId',
    {
      config: manage,
      schema: {
        tags,
        summary: 'Remove an override (both halves of a swap)',
        params: OverrideParams,
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await schedules.removeOverride(requestContext(req), req.params.id, req.params.overrideId);
      return reply.code(204).send(null);
    },
  );
};
