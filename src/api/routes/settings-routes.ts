import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { problems } from '../schemas.js';
import { NOTIFICATION_TYPES } from '../../core/domain.js';
import type { SettingsOverview } from '../../core/settings-overview.js';

const Nudge = Type.Object({
  sms: Type.String(),
  emailSubject: Type.String(),
  email: Type.String(),
  webhook: Type.String(),
  push: Type.String(),
});
const Rendered = Type.Object({ secure: Type.Object({ title: Type.String(), body: Type.String() }), nudge: Nudge });

export interface SettingsRouteOptions {
  settings: SettingsOverview;
}

/**
 * What the console's Settings screen reads besides branding: delivery settings (installation-wide,
 * with the variables that set them), channel configuration status (no secrets) and template
 * previews rendered with invented sample data. Mounted under /v1/settings.
 */
export const settingsRoutes: RoutePlugin<SettingsRouteOptions> = async (app, { settings }) => {
  app.get(
    '',
    {
      config: { permission: 'settings.read' },
      schema: {
        tags: ['settings'],
        summary: 'Reminder offsets, quiet hours and channel configuration status (no secrets)',
        response: {
          200: Type.Object({
            delivery: Type.Object({
              reminderOffsetsMinutes: Type.Array(Type.Integer()),
              quietHours: Type.Union([Type.Object({ start: Type.String(), end: Type.String() }), Type.Null()]),
              scope: Type.String(),
              sources: Type.Object({ reminderOffsets: Type.String(), quietHours: Type.String() }),
            }),
            channels: Type.Array(
              Type.Object({
                channel: Type.String(),
                provider: Type.String(),
                live: Type.Boolean(),
                facts: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
                variables: Type.Array(Type.String()),
              }),
            ),
            notificationTypes: Type.Array(Type.String()),
          }),
          ...problems(401, 403),
        },
      },
    },
    async () => ({
      delivery: settings.delivery(),
      channels: settings.channels(),
      notificationTypes: [...NOTIFICATION_TYPES],
    }),
  );

  app.get(
    '/templates/:type/preview',
    {
      config: { permission: 'settings.read' },
      schema: {
        tags: ['settings'],
        summary:
          "A notification type's secure text and PHI-free nudge in every language, rendered with invented sample data",
        params: Type.Object({ type: Type.Union(NOTIFICATION_TYPES.map((t) => Type.Literal(t))) }),
        response: {
          200: Type.Object({
            type: Type.String(),
            sample: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()])),
            organisation: Type.String(),
            languages: Type.Object({ en: Rendered, es: Rendered }),
          }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (req) => settings.preview(req.params.type),
  );
};
