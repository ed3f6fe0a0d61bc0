import { api, ok, raw } from '../../app/api';

/**
 * What this screen asks of the API. The typed client where the SDK knows the route; `raw` for the
 * routes added with this screen (a user's sessions). Answers are the API's own shapes.
 */

export const STAFF_ROLES = [
  'admin',
  'physician',
  'nurse',
  'receptionist',
  'billing',
  'auditor',
  'privacy_officer',
] as const;

export interface User {
  id: string;
  email: string;
  displayName: string;
  roles: string[];
  status: 'invited' | 'active' | 'locked' | 'disabled';
  lockedUntil: string | null;
  createdAt: string;
  updatedAt: string;
}
export interface Invited {
  user: User;
  enrolmentUrl: string;
}
export interface UserSession {
  id: string;
  transport: string;
  stage: string;
  amr: string[];
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
}
export interface ApiKey {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  rotatedFrom: string | null;
  clientCert: { fingerprintSha256: string } | { issuerCaSha256: string } | null;
}
export interface Client {
  clientId: string;
  name: string;
  scopes: string[];
  jwks: { keys: Record<string, string>[] } | null;
  jwksUrl: string | null;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}
export interface Grant {
  id: string;
  userId: string;
  patientId: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  reason?: string | null;
  reviewedAt: string | null;
  reviewedBy: string | null;
  reviewOutcome: 'justified' | 'unjustified' | null;
  reviewNote?: string | null;
}
export interface SecurityAlert {
  id: string;
  kind: string;
  actor: string;
  targetType: string;
  targetId: string;
  createdAt: string;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  closedAt: string | null;
  closedBy: string | null;
  closeNote?: string | null;
}
type Page<T> = { items: T[]; nextCursor: string | null };
const id = (v: string) => ({ params: { path: { id: v } } });

/** Every page of a list (the lists of this screen are short: a tenant's staff, keys, clients). */
async function all<T>(page: (cursor?: string) => Promise<Page<T>>): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 50; i++) {
    const p = await page(cursor);
    out.push(...p.items);
    if (!p.nextCursor) break;
    cursor = p.nextCursor;
  }
  return out;
}

export const users = {
  list: () =>
    all<User>(
      async (cursor) =>
        (await ok(api.GET('/v1/users', { params: { query: { limit: 500, cursor } } }))) as unknown as Page<User>,
    ),
  get: async (v: string) => (await ok(api.GET('/v1/users/{id}', id(v)))) as unknown as User,
  invite: async (body: { email: string; displayName: string; roles: string[] }) =>
    (await ok(api.POST('/v1/users', { body: body as never }))) as unknown as Invited,
  update: async (v: string, body: { displayName?: string; roles?: string[] }) =>
    (await ok(api.PATCH('/v1/users/{id}', { ...id(v), body: body as never }))) as unknown as User,
  disable: (v: string) => ok(api.POST('/v1/users/{id}/disable', id(v))),
  enable: (v: string) => ok(api.POST('/v1/users/{id}/enable', id(v))),
  unlock: (v: string) => ok(api.POST('/v1/users/{id}/unlock', id(v))),
  wipe: async (v: string) =>
    (await ok(api.POST('/v1/users/{id}/revoke-sessions', id(v)))) as unknown as { sessions: number; devices: number },
  reinvite: async (v: string) => (await ok(api.POST('/v1/users/{id}/invite', id(v)))) as unknown as Invited,
  sessions: async (v: string) =>
    ((await raw('GET', `/v1/users/${encodeURIComponent(v)}/sessions`)) as { items: UserSession[] }).items,
  endSession: (v: string, s: string) =>
    raw('DELETE', `/v1/users/${encodeURIComponent(v)}/sessions/${encodeURIComponent(s)}`),
};

export const apiKeys = {
  list: () =>
    all<ApiKey>(
      async (cursor) =>
        (await ok(api.GET('/v1/api-keys', { params: { query: { limit: 500, cursor } } }))) as unknown as Page<ApiKey>,
    ),
  create: async (body: { name: string; scopes: string[]; expiresInDays?: number }) =>
    (await ok(api.POST('/v1/api-keys', { body: body as never }))) as unknown as { key: string; apiKey: ApiKey },
  rotate: async (v: string, graceHours: number) =>
    (await ok(api.POST('/v1/api-keys/{id}/rotate', { ...id(v), body: { graceHours } as never }))) as unknown as {
      key: string;
      apiKey: ApiKey;
    },
  revoke: (v: string) => ok(api.POST('/v1/api-keys/{id}/revoke', id(v))),
};

export const clients = {
  list: () =>
    all<Client>(
      async (cursor) =>
        (await ok(
          api.GET('/v1/oauth-clients', { params: { query: { limit: 500, cursor } } }),
        )) as unknown as Page<Client>,
    ),
  register: async (body: { name: string; scopes: string[]; jwks?: unknown; jwksUrl?: string }) =>
    (await ok(api.POST('/v1/oauth-clients', { body: body as never }))) as unknown as Client,
  revoke: (v: string) => ok(api.POST('/v1/oauth-clients/{id}/revoke', id(v))),
};

export const breakGlass = {
  grants: async () =>
    ((await ok(api.GET('/v1/break-glass', { params: { query: { limit: 100 } } }))) as unknown as Page<Grant>).items,
  revoke: (v: string) => ok(api.POST('/v1/break-glass/{id}/revoke', id(v))),
  alerts: async () =>
    (
      (await ok(
        api.GET('/v1/security-alerts', { params: { query: { limit: 100 } } }),
      )) as unknown as Page<SecurityAlert>
    ).items,
  acknowledge: (v: string) => ok(api.POST('/v1/security-alerts/{id}/acknowledge', id(v))),
  // Added with this screen: not in the SDK's generated types yet.
  review: (v: string, outcome: string, note: string) =>
    raw('POST', `/v1/break-glass/${encodeURIComponent(v)}/review`, { outcome, ...(note.trim() ? { note } : {}) }),
  close: (v: string, note: string) =>
    raw('POST', `/v1/security-alerts/${encodeURIComponent(v)}/close`, note.trim() ? { note } : {}),
};
