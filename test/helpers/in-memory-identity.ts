import type { Selectable } from 'kysely';
import type { Database } from '../../src/store/schema.js';
import type { TenantRepository } from '../../src/store/repositories/tenant-repository.js';
import type { UserRepository } from '../../src/store/repositories/user-repository.js';
import type { SessionRepository } from '../../src/store/repositories/session-repository.js';
import type { ChallengeRepository } from '../../src/store/repositories/challenge-repository.js';
import type { MfaRepository } from '../../src/store/repositories/mfa-repository.js';
import type { AccessRepository } from '../../src/store/repositories/access-repository.js';

type Row<T extends keyof Database> = Selectable<Database[T]>;

/**
 * The identity tables (migration 008) the sign-in and second-factor paths touch, keyed as their
 * primary keys are. Like the other in-memory tables, rows are replaced, never changed in place.
 */
export interface IdentityTables {
  tenants: Map<string, Row<'tenants'>>;
  /** By id. */
  users: Map<string, Row<'users'>>;
  /** By id. */
  userTokens: Map<string, Row<'user_tokens'>>;
  /** By id. */
  sessions: Map<string, Row<'sessions'>>;
  /** By user id. */
  mfaTotp: Map<string, Row<'mfa_totp'>>;
  /** By id. */
  recoveryCodes: Map<string, Row<'recovery_codes'>>;
  /** By id (credential ids are global). */
  webauthnCredentials: Map<string, Row<'webauthn_credentials'>>;
  /** `auth_challenges`, by id. */
  challenges: Map<string, Row<'auth_challenges'>>;
  /** `auth_throttle`, by key. */
  throttle: Map<string, Row<'auth_throttle'>>;
  /** By id. */
  adminAlerts: Map<string, Row<'admin_alerts'>>;
}

export const emptyIdentityTables = (): IdentityTables => ({
  tenants: new Map(),
  users: new Map(),
  userTokens: new Map(),
  sessions: new Map(),
  mfaTotp: new Map(),
  recoveryCodes: new Map(),
  webauthnCredentials: new Map(),
  challenges: new Map(),
  throttle: new Map(),
  adminAlerts: new Map(),
});

/** A column: NOT NULL without a default, nullable (NULL when omitted), or NOT NULL with a default. */
type Column = 'required' | 'nullable' | { default: unknown };

/** The columns of each table as the migration declares them: a write naming another column fails, as SQL would. */
const COLUMNS = {
  tenants: { id: 'required', name: 'required', created_at: 'required' },
  users: {
    id: 'required',
    tenant_id: 'required',
    email: 'required',
    display_name: 'required',
    roles: 'required',
    status: 'required',
    password_hash: 'nullable',
    failed_logins: { default: 0 },
    locked_until: 'nullable',
    sso_issuer: 'nullable',
    sso_subject: 'nullable',
    created_at: 'required',
    updated_at: 'required',
  },
  user_tokens: {
    id: 'required',
    tenant_id: 'required',
    user_id: 'required',
    purpose: 'required',
    token_hash: 'required',
    created_at: 'required',
    expires_at: 'required',
    used_at: 'nullable',
  },
  sessions: {
    id: 'required',
    tenant_id: 'required',
    subject_type: 'required',
    subject_id: 'required',
    token_hash: 'required',
    transport: 'required',
    stage: 'required',
    amr: 'required',
    created_at: 'required',
    last_seen_at: 'required',
    expires_at: 'required',
    mfa_at: 'nullable',
    revoked_at: 'nullable',
    revoked_reason: 'nullable',
  },
  mfa_totp: {
    user_id: 'required',
    tenant_id: 'required',
    secret_ct: 'required',
    confirmed_at: 'nullable',
    last_step: 'nullable',
    created_at: 'required',
  },
  recovery_codes: {
    id: 'required',
    tenant_id: 'required',
    user_id: 'required',
    code_hash: 'required',
    created_at: 'required',
    used_at: 'nullable',
  },
  webauthn_credentials: {
    id: 'required',
    tenant_id: 'required',
    user_id: 'required',
    public_key: 'required',
    counter: 'required',
    transports: 'required',
    name: 'required',
    created_at: 'required',
    last_used_at: 'nullable',
  },
  auth_challenges: {
    id: 'required',
    tenant_id: 'required',
    purpose: 'required',
    subject: 'required',
    challenge: 'required',
    attempts: { default: 0 },
    created_at: 'required',
    expires_at: 'required',
    used_at: 'nullable',
  },
  auth_throttle: {
    key: 'required',
    failures: 'required',
    first_failure_at: 'required',
    blocked_until: 'nullable',
    updated_at: 'required',
  },
  admin_alerts: {
    id: 'required',
    tenant_id: 'required',
    kind: 'required',
    actor: 'required',
    target_type: 'required',
    target_id: 'required',
    created_at: 'required',
    acknowledged_at: 'nullable',
    acknowledged_by: 'nullable',
    closed_at: 'nullable',
    closed_by: 'nullable',
    close_note_ct: 'nullable',
  },
} satisfies { [T in keyof Database]?: Record<keyof Database[T], Column> };

type Spec = keyof typeof COLUMNS;

function sqlError(message: string, code: string): Error {
  return Object.assign(new Error(`in-memory store: ${message}`), { code });
}

/** The full row an INSERT would store: defaults and NULLs filled in; unknown columns and missing NOT NULLs refused. */
function fullRow<T extends Spec>(table: T, row: object): Row<T> {
  const columns = COLUMNS[table] as Record<string, Column>;
  for (const c of Object.keys(row))
    if (!(c in columns)) throw sqlError(`table ${table} has no column named ${c}`, 'SQLITE_ERROR');
  const out: Record<string, unknown> = {};
  for (const [c, kind] of Object.entries(columns)) {
    const v = (row as Record<string, unknown>)[c];
    if (v !== undefined) out[c] = v;
    else if (kind === 'nullable') out[c] = null;
    else if (kind !== 'required') out[c] = kind.default;
    if (kind !== 'nullable' && out[c] == null)
      throw sqlError(`NOT NULL constraint failed: ${table}.${c}`, 'SQLITE_CONSTRAINT_NOTNULL');
  }
  return out as Row<T>;
}

/** The checks of an UPDATE's SET: known columns only, no NULL into a NOT NULL column. */
function checkSet(table: Spec, set: object): void {
  const columns = COLUMNS[table] as Record<string, Column>;
  for (const [c, v] of Object.entries(set)) {
    if (!(c in columns)) throw sqlError(`table ${table} has no column named ${c}`, 'SQLITE_ERROR');
    if (v === null && columns[c] !== 'nullable')
      throw sqlError(`NOT NULL constraint failed: ${table}.${c}`, 'SQLITE_CONSTRAINT_NOTNULL');
  }
}

const unique = (table: string) =>
  sqlError(`UNIQUE constraint failed: ${table}`, 'SQLITE_CONSTRAINT_UNIQUE') as Error & { code: string };
const foreignKey = (table: string) =>
  sqlError(`FOREIGN KEY constraint failed: ${table}`, 'SQLITE_CONSTRAINT_FOREIGNKEY');

const copy = <T extends object>(r: T | undefined): T | undefined => (r ? { ...r } : undefined);
const copies = <T extends object>(rs: Iterable<T>): T[] => [...rs].map((r) => ({ ...r }));
const desc = (a: string | number, b: string | number) => (a < b ? 1 : a > b ? -1 : 0);
const asc = (a: string | number, b: string | number) => -desc(a, b);

/** Replaces the rows matching `where` by `set` applied to them; returns how many changed (numUpdatedRows). */
function updateWhere<T extends object>(
  m: Map<string, T>,
  table: Spec,
  where: (r: T) => boolean,
  set: Partial<T> | ((r: T) => Partial<T>),
): number {
  let n = 0;
  for (const [k, r] of m) {
    if (!where(r)) continue;
    const s = typeof set === 'function' ? set(r) : set;
    checkSet(table, s);
    m.set(k, { ...r, ...s });
    n++;
  }
  return n;
}

function deleteWhere<T>(m: Map<string, T>, where: (r: T) => boolean): number {
  let n = 0;
  for (const [k, r] of m)
    if (where(r)) {
      m.delete(k);
      n++;
    }
  return n;
}

/**
 * The identity repositories over `t`, each implementing what the sign-in, second-factor and session
 * paths use, with the semantics of their SQL statements: conditional updates return whether (or how
 * many) rows they changed, unique indexes and foreign keys (SQLite runs with `foreign_keys = ON`)
 * refuse as the database would, and NULLs never collide in a unique index.
 */
export function identityRepositories(t: IdentityTables) {
  const tenantExists = (id: string) => {
    if (!t.tenants.has(id)) throw foreignKey('tenants');
  };
  const userExists = (id: string) => {
    if (!t.users.has(id)) throw foreignKey('users');
  };

  const tenants = {
    ensure: async (id, name, now) => {
      if (!t.tenants.has(id)) t.tenants.set(id, fullRow('tenants', { id, name, created_at: now }));
    },
    exists: async (id) => t.tenants.has(id),
    listIds: async () => [...t.tenants.keys()].sort(asc),
  } satisfies TenantRepository;

  const ofUser = (tenantId: string, id: string) => (u: Row<'users'>) => u.tenant_id === tenantId && u.id === id;

  const reserveThrottle = async (key: string, now: number, windowStart: number) => {
    const r = t.throttle.get(key);
    const next = !r
      ? fullRow('auth_throttle', { key, failures: 1, first_failure_at: now, blocked_until: null, updated_at: now })
      : {
          ...r,
          failures: Number(r.updated_at) < windowStart ? 1 : r.failures + 1,
          first_failure_at: Number(r.updated_at) < windowStart ? now : r.first_failure_at,
          updated_at: now,
        };
    t.throttle.set(key, next);
    return { failures: next.failures, blockedUntil: next.blocked_until == null ? null : Number(next.blocked_until) };
  };

  const users = {
    insert: async (row) => {
      const u = fullRow('users', row);
      tenantExists(u.tenant_id);
      const all = [...t.users.values()];
      if (t.users.has(u.id)) throw unique('users.id');
      if (all.some((o) => o.tenant_id === u.tenant_id && o.email === u.email))
        throw unique('users.tenant_id, users.email');
      if (
        u.sso_issuer != null &&
        u.sso_subject != null &&
        all.some((o) => o.tenant_id === u.tenant_id && o.sso_issuer === u.sso_issuer && o.sso_subject === u.sso_subject)
      )
        throw unique('users.tenant_id, users.sso_issuer, users.sso_subject');
      t.users.set(u.id, u);
    },
    byId: async (tenantId, id) => copy([...t.users.values()].find(ofUser(tenantId, id))),
    byEmail: async (tenantId, email) =>
      copy([...t.users.values()].find((u) => u.tenant_id === tenantId && u.email === email)),
    activeWithRole: async (tenantId, role) =>
      copies(
        [...t.users.values()]
          .filter((u) => u.tenant_id === tenantId && u.status === 'active' && u.roles.split(' ').includes(role))
          .sort((a, b) => asc(a.id, b.id)),
      ),
    list: async (tenantId, afterId, limit) =>
      copies(
        [...t.users.values()]
          .filter((u) => u.tenant_id === tenantId && u.id > afterId)
          .sort((a, b) => asc(a.id, b.id))
          .slice(0, limit),
      ),
    resetFailedLogins: async (tenantId, id) =>
      void updateWhere(t.users, 'users', (u) => ofUser(tenantId, id)(u) && u.failed_logins !== 0, {
        failed_logins: 0,
      }),
    update: async (tenantId, id, set) => void updateWhere(t.users, 'users', ofUser(tenantId, id), set as object),
    updateIfStatus: async (tenantId, id, status, set) =>
      updateWhere(t.users, 'users', (u) => ofUser(tenantId, id)(u) && u.status === status, set as object) > 0,
    addFailedLogin: async (tenantId, id, now) => {
      updateWhere(t.users, 'users', ofUser(tenantId, id), (u) => ({
        failed_logins: u.failed_logins + 1,
        updated_at: now,
      }));
      return Number([...t.users.values()].find(ofUser(tenantId, id))?.failed_logins ?? 0);
    },
    releaseFailedLogin: async (tenantId, id) =>
      void updateWhere(
        t.users,
        'users',
        (u) => ofUser(tenantId, id)(u) && u.failed_logins > 0,
        (u) => ({ failed_logins: u.failed_logins - 1 }),
      ),
    releaseFailedLoginIfActive: async (tenantId, id) =>
      updateWhere(
        t.users,
        'users',
        (u) => ofUser(tenantId, id)(u) && u.status === 'active',
        (u) => ({ failed_logins: u.failed_logins > 0 ? u.failed_logins - 1 : 0 }),
      ) > 0,

    insertToken: async (row) => {
      const r = fullRow('user_tokens', row);
      tenantExists(r.tenant_id);
      userExists(r.user_id);
      if (t.userTokens.has(r.id)) throw unique('user_tokens.id');
      if ([...t.userTokens.values()].some((o) => o.token_hash === r.token_hash)) throw unique('user_tokens.token_hash');
      t.userTokens.set(r.id, r);
    },
    tokenByHash: async (tokenHash) => copy([...t.userTokens.values()].find((r) => r.token_hash === tokenHash)),
    burnToken: async (id, now) =>
      updateWhere(t.userTokens, 'user_tokens', (r) => r.id === id && r.used_at == null, { used_at: now }) > 0,
    voidTokens: async (tenantId, userId, purpose, now) =>
      updateWhere(
        t.userTokens,
        'user_tokens',
        (r) =>
          r.tenant_id === tenantId && r.user_id === userId && r.used_at == null && (!purpose || r.purpose === purpose),
        { used_at: now },
      ),
    latestToken: async (tenantId, userId, purpose) =>
      copy(
        [...t.userTokens.values()]
          .filter((r) => r.tenant_id === tenantId && r.user_id === userId && r.purpose === purpose)
          // SQL orders by created_at only; ties are the database's choice (here: the later id).
          .sort((a, b) => desc(Number(a.created_at), Number(b.created_at)) || desc(a.id, b.id))[0],
      ),

    secondFactors: async (tenantId, userId) => {
      const mine = <R extends { tenant_id: string; user_id: string }>(r: R) =>
        r.tenant_id === tenantId && r.user_id === userId;
      return {
        totp: [...t.mfaTotp.values()].some((r) => mine(r) && r.confirmed_at != null),
        webauthn: [...t.webauthnCredentials.values()].some(mine),
        recovery: [...t.recoveryCodes.values()].some((r) => mine(r) && r.used_at == null),
      };
    },

    throttleRows: async (keys) => copies([...t.throttle.values()].filter((r) => keys.includes(r.key))),
    addThrottleFailure: async (key, now, windowStart) => (await reserveThrottle(key, now, windowStart)).failures,
    reserveThrottle,
    releaseThrottle: async (keys) =>
      void updateWhere(
        t.throttle,
        'auth_throttle',
        (r) => keys.includes(r.key) && r.failures > 0,
        (r) => ({ failures: r.failures - 1 }),
      ),
    restoreThrottleBlock: async (key, ours, previous) =>
      void updateWhere(
        t.throttle,
        'auth_throttle',
        (r) => r.key === key && r.blocked_until != null && Number(r.blocked_until) === ours,
        { blocked_until: previous },
      ),
    setThrottleBlock: async (key, blockedUntil) =>
      void updateWhere(t.throttle, 'auth_throttle', (r) => r.key === key, { blocked_until: blockedUntil }),
    clearThrottle: async (keys) => void deleteWhere(t.throttle, (r) => keys.includes(r.key)),
  } satisfies Partial<UserRepository>;

  const ofSubject = (tenantId: string, subjectType: string, subjectId: string) => (s: Row<'sessions'>) =>
    s.tenant_id === tenantId && s.subject_type === subjectType && s.subject_id === subjectId;

  const sessions = {
    insert: async (row) => {
      const s = fullRow('sessions', row);
      tenantExists(s.tenant_id);
      if (t.sessions.has(s.id)) throw unique('sessions.id');
      if ([...t.sessions.values()].some((o) => o.token_hash === s.token_hash)) throw unique('sessions.token_hash');
      t.sessions.set(s.id, s);
    },
    user: async (tenantId, id) => {
      const u = [...t.users.values()].find(ofUser(tenantId, id));
      return u && { id: u.id, tenant_id: u.tenant_id, roles: u.roles, status: u.status };
    },
    byTokenHash: async (tokenHash) => copy([...t.sessions.values()].find((s) => s.token_hash === tokenHash)),
    byId: async (tenantId, id) => copy([...t.sessions.values()].find((s) => s.tenant_id === tenantId && s.id === id)),
    touch: async (id, now) =>
      void updateWhere(t.sessions, 'sessions', (s) => s.id === id && s.revoked_at == null, { last_seen_at: now }),
    revoke: async (tenantId, id, now, reason) =>
      updateWhere(t.sessions, 'sessions', (s) => s.tenant_id === tenantId && s.id === id && s.revoked_at == null, {
        revoked_at: now,
        revoked_reason: reason,
      }) > 0,
    revokeAllOf: async (tenantId, subjectType, subjectId, now, reason) =>
      updateWhere(
        t.sessions,
        'sessions',
        (s) => ofSubject(tenantId, subjectType, subjectId)(s) && s.revoked_at == null,
        { revoked_at: now, revoked_reason: reason },
      ),
    listLive: async (tenantId, subjectType, subjectId, now) =>
      copies(
        [...t.sessions.values()]
          .filter(
            (s) => ofSubject(tenantId, subjectType, subjectId)(s) && s.revoked_at == null && Number(s.expires_at) > now,
          )
          .sort((a, b) => desc(Number(a.created_at), Number(b.created_at)) || desc(a.id, b.id)),
      ),
  } satisfies Partial<SessionRepository>;

  const live = (tenantId: string, purpose: string, subject: string, now: number, maxAttempts?: number) =>
    copy(
      [...t.challenges.values()]
        .filter(
          (c) =>
            c.tenant_id === tenantId &&
            c.purpose === purpose &&
            c.subject === subject &&
            c.used_at == null &&
            Number(c.expires_at) > now &&
            (maxAttempts === undefined || c.attempts < maxAttempts),
        )
        .sort((a, b) => desc(Number(a.created_at), Number(b.created_at)) || desc(a.id, b.id))[0],
    );
  const use = (id: string, now: number, blank = false) =>
    updateWhere(
      t.challenges,
      'auth_challenges',
      (c) => c.id === id && c.used_at == null,
      blank ? { used_at: now, challenge: '' } : { used_at: now },
    ) === 1;

  const challenges = {
    insert: async (row) => {
      const c = fullRow('auth_challenges', row);
      tenantExists(c.tenant_id);
      if (t.challenges.has(c.id)) throw unique('auth_challenges.id');
      t.challenges.set(c.id, c);
    },
    live: async (tenantId, purpose, subject, now, maxAttempts) => live(tenantId, purpose, subject, now, maxAttempts),
    use: async (id, now, blank) => use(id, now, blank),
    take: async (tenantId, purpose, subject, now) => {
      const row = live(tenantId, purpose, subject, now);
      return row && use(row.id, now) ? row : undefined;
    },
    takeById: async (id, purpose, now) => {
      const row = copy(t.challenges.get(id));
      if (!row || row.purpose !== purpose || row.used_at != null || Number(row.expires_at) <= now) return undefined;
      return use(id, now, true) ? row : undefined;
    },
    retire: async (tenantId, purpose, subject, now) =>
      updateWhere(
        t.challenges,
        'auth_challenges',
        (c) => c.tenant_id === tenantId && c.purpose === purpose && c.subject === subject && c.used_at == null,
        { used_at: now },
      ),
    countAttempt: async (id) => {
      // `returning … executeTakeFirstOrThrow`: an unknown id throws.
      if (
        !updateWhere(
          t.challenges,
          'auth_challenges',
          (c) => c.id === id,
          (c) => ({ attempts: c.attempts + 1 }),
        )
      )
        throw new Error('in-memory store: no result (countAttempt of an unknown challenge)');
      return t.challenges.get(id)!.attempts;
    },
  } satisfies Partial<ChallengeRepository>;

  const ofUserRow =
    (tenantId: string, userId: string) =>
    <R extends { tenant_id: string; user_id: string }>(r: R) =>
      r.tenant_id === tenantId && r.user_id === userId;

  const mfa = {
    userLabel: async (tenantId, userId) => {
      const u = [...t.users.values()].find(ofUser(tenantId, userId));
      return u && { email: u.email, display_name: u.display_name };
    },
    // A no-op UPDATE (it takes the row lock on PostgreSQL; transactions here run one at a time).
    lockUser: async () => undefined,
    totp: async (tenantId, userId) => copy([...t.mfaTotp.values()].find(ofUserRow(tenantId, userId))),
    putTotp: async (row) => {
      const r = fullRow('mfa_totp', row);
      tenantExists(r.tenant_id);
      userExists(r.user_id);
      deleteWhere(t.mfaTotp, ofUserRow(r.tenant_id, r.user_id));
      // user_id is the primary key: another tenant's row of the same user id would collide.
      if (t.mfaTotp.has(r.user_id)) throw unique('mfa_totp.user_id');
      t.mfaTotp.set(r.user_id, r);
    },
    advanceTotpStep: async (tenantId, userId, step) =>
      updateWhere(
        t.mfaTotp,
        'mfa_totp',
        (r) => ofUserRow(tenantId, userId)(r) && (r.last_step == null || Number(r.last_step) < step),
        { last_step: step },
      ) === 1,

    replaceRecoveryCodes: async (tenantId, userId, rows, now) => {
      deleteWhere(t.recoveryCodes, ofUserRow(tenantId, userId));
      const full = rows.map((r) =>
        fullRow('recovery_codes', { ...r, tenant_id: tenantId, user_id: userId, created_at: now, used_at: null }),
      );
      tenantExists(tenantId);
      userExists(userId);
      const ids = full.map((r) => r.id);
      if (new Set(ids).size !== ids.length || ids.some((id) => t.recoveryCodes.has(id)))
        throw unique('recovery_codes.id');
      for (const r of full) t.recoveryCodes.set(r.id, r);
    },
    burnRecoveryCode: async (tenantId, userId, codeHash, now) =>
      updateWhere(
        t.recoveryCodes,
        'recovery_codes',
        (r) => ofUserRow(tenantId, userId)(r) && r.code_hash === codeHash && r.used_at == null,
        { used_at: now },
      ) === 1,
    unusedRecoveryCodes: async (tenantId, userId) =>
      [...t.recoveryCodes.values()].filter((r) => ofUserRow(tenantId, userId)(r) && r.used_at == null).length,

    credentials: async (tenantId, userId) =>
      copies(
        [...t.webauthnCredentials.values()]
          .filter(ofUserRow(tenantId, userId))
          .sort((a, b) => asc(Number(a.created_at), Number(b.created_at))),
      ),
    credentialExists: async (id) => t.webauthnCredentials.has(id),
    insertCredential: async (row) => {
      const r = fullRow('webauthn_credentials', row);
      tenantExists(r.tenant_id);
      userExists(r.user_id);
      if (t.webauthnCredentials.has(r.id)) return false;
      t.webauthnCredentials.set(r.id, r);
      return true;
    },
    advanceCounter: async (tenantId, id, from, to, now) =>
      updateWhere(
        t.webauthnCredentials,
        'webauthn_credentials',
        (r) => r.tenant_id === tenantId && r.id === id && Number(r.counter) === from,
        { counter: to, last_used_at: now },
      ) === 1,

    countFailure: async (tenantId, sessionId, now, expiresAt) => {
      const id = `mfa-failures:${sessionId}`;
      const r = t.challenges.get(id);
      if (r) {
        // ON CONFLICT (id) DO UPDATE: the existing row counts, whatever else it says.
        t.challenges.set(id, { ...r, attempts: r.attempts + 1 });
        return r.attempts + 1;
      }
      const row = fullRow('auth_challenges', {
        id,
        tenant_id: tenantId,
        purpose: 'mfa_failures',
        subject: sessionId,
        challenge: '',
        attempts: 1,
        created_at: now,
        expires_at: expiresAt,
        used_at: null,
      });
      tenantExists(tenantId);
      t.challenges.set(id, row);
      return 1;
    },
    releaseFailure: async (tenantId, sessionId) =>
      void updateWhere(
        t.challenges,
        'auth_challenges',
        (c) => c.id === `mfa-failures:${sessionId}` && c.tenant_id === tenantId && c.attempts > 0,
        (c) => ({ attempts: c.attempts - 1 }),
      ),
  } satisfies MfaRepository;

  const access = {
    insertAlert: async (row) => {
      const r = fullRow('admin_alerts', row);
      tenantExists(r.tenant_id);
      if (t.adminAlerts.has(r.id)) throw unique('admin_alerts.id');
      t.adminAlerts.set(r.id, r);
    },
    getAlert: async (tenantId, id) =>
      copy([t.adminAlerts.get(id)].find((a) => a?.tenant_id === tenantId)) as Row<'admin_alerts'> | undefined,
  } satisfies Partial<AccessRepository>;

  return { tenants, users, sessions, challenges, mfa, access };
}
