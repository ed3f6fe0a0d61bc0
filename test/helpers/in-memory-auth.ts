import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { hashToken } from '../../src/crypto/tokens.js';
import { DEFAULT_TENANT } from '../../src/core/domain.js';
import type { RequestContext } from '../../src/core/context.js';
import { SessionService, sessionPolicy } from '../../src/auth/session-service.js';
import { LoginThrottle, throttlePolicy } from '../../src/auth/throttle.js';
import { UserService } from '../../src/auth/user-service.js';
import { SignInService, type Origin } from '../../src/auth/sign-in-service.js';
import { MfaService, type MfaCaller } from '../../src/auth/mfa-service.js';
import { hashPassword } from '../../src/auth/passwords.js';
import type { SessionStage } from '../../src/auth/principal.js';
import type { UserRow } from '../../src/store/repositories/user-repository.js';
import type { SessionRow } from '../../src/store/repositories/session-repository.js';
import { coreFixture, FakeChannel, type CoreFixture } from './in-memory-core.js';

/** The password every seeded user has (not on the common-password list, no e-mail local part in it). */
export const PASSWORD = 'Tangerine quarry velvet 81';

let hashed: Promise<string> | null = null;
/** argon2id of PASSWORD, computed once per test file: hashing is the slow part of these tests. */
export const passwordHash = (): Promise<string> => (hashed ??= hashPassword(PASSWORD));

export const ORIGIN: Origin = { requestId: 'req-auth', sourceIp: '203.0.113.7' };

export interface AuthFixture extends CoreFixture {
  tenantId: string;
  sessions: SessionService;
  throttle: LoginThrottle;
  users: UserService;
  signIn: SignInService;
  mfa: MfaService;
  /** The e-mail channel: records every message (password reset links). */
  email: FakeChannel;
  /** Every line the services logged (JSON). */
  logLines: string[];
  /** Seeds a user with PASSWORD (unless `password: null`) through the users repository. */
  addUser(over?: Partial<UserRow>): Promise<UserRow>;
  user(id: string): UserRow;
  /** A session issued by the real SessionService, as a sign-in step would (no password hashing). */
  issueSession(userId: string, stage: SessionStage, amr?: string[]): Promise<{ id: string; token: string }>;
  sessionByToken(token: string): SessionRow | undefined;
  caller(userId: string, sessionId: string): MfaCaller;
  cleanup(): void;
}

/**
 * The sign-in and second-factor services built as app/services.ts builds them (real SessionService,
 * LoginThrottle, UserService, TOTP and argon2; the MFA hooks wired to the throttle the same way)
 * over the in-memory store, with a recording e-mail channel and a controllable clock.
 */
export function authFixture(env: Record<string, string> = {}): AuthFixture {
  const f = coreFixture(env);
  const { deps, store } = f;
  const { config, clock } = deps;
  const tenantId = DEFAULT_TENANT;
  const sessions = new SessionService(store, sessionPolicy(config.identity), clock);
  const throttle = new LoginThrottle(store, throttlePolicy(config.identity));
  const users = new UserService(deps, sessions, throttle);
  const email = new FakeChannel('email');
  const logLines: string[] = [];
  const log: Logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  );
  const signIn = new SignInService(deps, sessions, throttle, users, email, log);
  const mfa = new MfaService({
    store,
    cipher: deps.cipher,
    sessions,
    clock,
    newId: deps.newId,
    ...throttle.secondFactorHooks(clock),
  });
  let seq = 0;
  const ready = store.read.tenants.ensure(tenantId, 'Default', f.now());

  return {
    ...f,
    tenantId,
    sessions,
    throttle,
    users,
    signIn,
    mfa,
    email,
    logLines,
    async addUser(over = {}) {
      await ready;
      const n = ++seq;
      const now = f.now();
      const row: UserRow = {
        id: `u${n}-${deps.newId()}`,
        tenant_id: tenantId,
        email: `staff${n}.rivera@clinic.example`,
        display_name: `Staff ${n}`,
        roles: 'physician',
        status: 'active',
        password_hash: over.password_hash === null ? null : await passwordHash(),
        failed_logins: 0,
        locked_until: null,
        sso_issuer: null,
        sso_subject: null,
        created_at: now,
        updated_at: now,
        ...over,
      };
      await store.read.users.insert(row);
      return { ...store.tables.users.get(row.id)! };
    },
    user: (id) => ({ ...store.tables.users.get(id)! }),
    async issueSession(userId, stage, amr = ['pwd']) {
      await ready;
      const s = await store.transaction((tx) =>
        sessions.issue(tx, { tenantId, subjectType: 'user', subjectId: userId, transport: 'bearer', stage, amr }),
      );
      return { id: s.id, token: s.token };
    },
    sessionByToken: (token) => [...store.tables.sessions.values()].find((s) => s.token_hash === hashToken(token)),
    caller(userId, sessionId): MfaCaller {
      const ctx: RequestContext = { tenantId, actor: `user:${userId}`, ...ORIGIN };
      return { ctx, userId, sessionId };
    },
    cleanup: () => f.cleanup(),
  };
}

/**
 * Every place a secret could sit in the fake: committed rows (byte columns read as UTF-8, latin1,
 * base64 and hex), the audit log's canonical entries, logged lines. True when `secret` is in any.
 */
export function secretVisible(f: AuthFixture, secret: string): boolean {
  const bytes = (b: Uint8Array) => {
    const buf = Buffer.from(b);
    return [buf.toString('utf8'), buf.toString('latin1'), buf.toString('base64'), buf.toString('hex')].join('\n');
  };
  const text = JSON.stringify(f.store.dump(), (_k, v: unknown) =>
    v instanceof Uint8Array
      ? bytes(v)
      : (v as { type?: string; data?: number[] })?.type === 'Buffer'
        ? bytes(Buffer.from((v as { data: number[] }).data))
        : v,
  );
  return [text, ...f.store.audit.map((a) => a.entry), ...f.logLines].some((s) => s.includes(secret));
}
