import { Type } from 'typebox';
import type { RoutePlugin } from '../types.js';
import { problems } from '../schemas.js';
import { AppError } from '../../core/errors.js';
import { rolePermissions } from '../../auth/permissions.js';
import type { Store } from '../../store/store.js';
import { callerOf } from './conversation-schemas.js';

const Colleague = Type.Object({
  kind: Type.Literal('user'),
  id: Type.String(),
  displayName: Type.String(),
  reachable: Type.Boolean({
    description: 'Has an active messaging device: a conversation opened now reaches them (else once they register one)',
  }),
});

export interface MessagingDirectoryRouteOptions {
  store: Store;
}

/** Users read per page of the users table (the directory of one tenant is read whole, in pages). */
const PAGE = 500;

/**
 * The colleagues a staff member may message (direct and group conversations are staff to staff,
 * any active staff user of the tenant: conversation-service.ts `initialRoster`). Names only, no
 * e-mail or roles: what a person needs to pick a colleague and to name a conversation's members.
 * Patients message their care team through patient conversations and get no staff directory.
 */
export const messagingDirectoryRoutes: RoutePlugin<MessagingDirectoryRouteOptions> = async (app, { store }) => {
  app.get(
    '/directory',
    {
      config: { permission: 'message.use' },
      schema: {
        tags: ['messaging'],
        summary: 'The staff of the caller’s tenant who take part in messaging (staff callers only)',
        description:
          'Active staff users whose roles grant message.use (the archive member excluded), with whether each has an active messaging device. The caller is included (to name their own messages).',
        response: {
          200: Type.Object({ items: Type.Array(Colleague) }),
          ...problems(401, 403),
        },
      },
    },
    async (req) => {
      const c = callerOf(req);
      if (c.person.kind !== 'user') throw new AppError('SP_AUTH_FORBIDDEN');
      const read = store.read;
      const items: { kind: 'user'; id: string; displayName: string; reachable: boolean }[] = [];
      for (let after = ''; ;) {
        const rows = await read.users.list(c.tenantId, after, PAGE);
        for (const u of rows) {
          const roles = u.roles.split(' ').filter(Boolean);
          if (u.status !== 'active' || roles.includes('archiver')) continue;
          if (!rolePermissions(roles).has('message.use')) continue;
          const devices = await read.messagingDevices.activeOf(c.tenantId, 'user', u.id);
          items.push({ kind: 'user', id: u.id, displayName: u.display_name, reachable: devices.length > 0 });
        }
        if (rows.length < PAGE) break;
        after = rows[rows.length - 1].id;
      }
      items.sort((a, b) => a.displayName.localeCompare(b.displayName));
      return { items };
    },
  );
};
