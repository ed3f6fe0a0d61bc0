import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { httpsJson, type Harness } from './sealpost-harness.js';

/** A password no policy rule refuses (tests vary it per user). */
export const strongPassword = (tag: string) => `violet harbour lantern ${tag}`;

/** A request with no credentials (public sign-in routes), or with the given bearer token. */
export const anon = (h: Harness, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  httpsJson(h.url, h.cert, method, path, body, { authorization: '', ...headers });

export const asBearer = (h: Harness, token: string, method: string, path: string, body?: unknown) =>
  httpsJson(h.url, h.cert, method, path, body, { authorization: `Bearer ${token}` });

/** Invites a user with the admin API key; returns their id and the enrolment token from the link's fragment. */
export async function invite(
  h: Harness,
  email: string,
  roles: string[] = ['nurse'],
  displayName = 'Test Person',
): Promise<{ id: string; token: string; url: string }> {
  const r = await h.request('POST', '/v1/users', { email, displayName, roles });
  if (r.status !== 201) throw new Error(`invite answered ${r.status}: ${r.text}`);
  const url: string = r.body.enrolmentUrl;
  return { id: r.body.user.id, token: url.slice(url.indexOf('#') + 1), url };
}

/** Invites and enrols a user; returns the enrolment session's bearer token too. */
export async function enrolledUser(
  h: Harness,
  email: string,
  password: string,
  roles: string[] = ['nurse'],
): Promise<{ id: string; session: string }> {
  const { id, token } = await invite(h, email, roles);
  const r = await anon(h, 'POST', '/v1/auth/enrol', { token, password });
  if (r.status !== 200) throw new Error(`enrol answered ${r.status}: ${r.text}`);
  return { id, session: r.body.token };
}

export const login = (
  h: Harness,
  email: string,
  password: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) => anon(h, 'POST', '/v1/auth/login', { email, password, ...extra }, headers);

/** A problem body without its per-request id, to compare two refusals. */
export const sansRequestId = (body: Record<string, unknown>) => {
  const { requestId: _ignored, ...rest } = body;
  return rest;
};

/** Audit entries of the default tenant with `action`, read through the audit API with the admin key. */
export async function auditEvents(
  h: Harness,
  action: string,
): Promise<
  {
    actor: string;
    action: string;
    outcome: string;
    target: { type: string; id: string | null } | null;
    details: Record<string, unknown> | null;
  }[]
> {
  const r = await h.request('GET', `/v1/audit/events?action=${encodeURIComponent(action)}&limit=500`);
  if (r.status !== 200) throw new Error(`audit query answered ${r.status}: ${r.text}`);
  return r.body.items;
}

/** Everything the server wrote to disk that a secret must never be found in: the log, the database file and its WAL. */
export function persistedText(h: Harness): string {
  const files = [h.logFile, join(h.dataDir, 'sealpost.db'), join(h.dataDir, 'sealpost.db-wal')];
  return files
    .filter(existsSync)
    .map((f) => readFileSync(f).toString('latin1'))
    .join('\n');
}
