import { expect, it } from 'vitest';
import { SessionService } from '../../src/auth/session-service.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { describeEachBackend, freshDatabases, migratedStore } from '../helpers/backends.js';

const MIN = 60_000;
const clockNow = (row: { created_at: number | string }) => Number(row.created_at);

describeEachBackend('sessions', (backend) => {
  const fresh = freshDatabases(backend);

  /** A store with one user, and a session service on a clock the test moves. */
  async function setup() {
    const store: KyselyStore = await migratedStore(await fresh({ migrated: true }));
    let now = Date.UTC(2026, 0, 5, 8, 0);
    const clock = { at: () => new Date(now), advance: (ms: number) => (now += ms) };
    await store.transaction(async (tx) => {
      await tx.tenants.ensure('t', 'T', now);
      await tx.users.insert({
        id: 'u1',
        tenant_id: 't',
        email: 'a@x.test',
        display_name: 'A',
        roles: 'nurse',
        status: 'active',
        password_hash: null,
        locked_until: null,
        sso_issuer: null,
        sso_subject: null,
        created_at: now,
        updated_at: now,
      });
    });
    const sessions = new SessionService(store, { idleMs: 15 * MIN, absoluteMs: 12 * 60 * MIN }, clock.at);
    const issue = (stage: 'active' | 'mfa' | 'mfa_enrol' = 'mfa') =>
      store.transaction((tx) =>
        sessions.issue(tx, {
          tenantId: 't',
          subjectType: 'user',
          subjectId: 'u1',
          transport: 'bearer',
          stage,
          amr: stage === 'active' ? ['pwd', 'otp', 'mfa'] : ['pwd'],
        }),
      );
    return { store, sessions, clock, issue };
  }

  it('stores only a hash of the token, which is 256 random bits', async () => {
    const { store, issue } = await setup();
    const s = await issue();
    expect(s.token).toMatch(/^sps_[A-Za-z0-9_-]{43}$/);
    const row = await store.read.sessions.byId('t', s.id);
    expect(row!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.toContain(s.token.slice(4));
  });

  it('ends a session left idle for the idle timeout, and keeps one in use alive', async () => {
    const { store, sessions, clock, issue } = await setup();
    const busy = await issue('active');
    const idle = await issue('active');
    for (let i = 0; i < 4; i++) {
      clock.advance(10 * MIN);
      expect(await sessions.verify(busy.token)).not.toBeNull();
    }
    // Entries on record, numbered or (PostgreSQL) waiting for the integrator to number them.
    const onRecord = async () => (await store.read.auditLog.size()) + (await store.read.auditLog.pendingCount());
    const logged = await onRecord();
    expect(await sessions.verify(idle.token)).toBeNull();
    expect(await onRecord()).toBe(logged + 1); // the automatic logoff is on the record, once
    clock.advance(-40 * MIN); // a revoked session stays revoked whatever the clock says
    expect(await sessions.verify(idle.token)).toBeNull();
    expect(await onRecord()).toBe(logged + 1);
  });

  it('ends every session at its absolute deadline however busy it is', async () => {
    const { sessions, clock, issue } = await setup();
    const s = await issue('active');
    for (let t = 0; t < 12 * 60 - 10; t += 10) {
      clock.advance(10 * MIN);
      expect(await sessions.verify(s.token)).not.toBeNull();
    }
    clock.advance(10 * MIN);
    expect(await sessions.verify(s.token)).toBeNull();
  });

  it('ends a session at a sign-in step fifteen minutes after it began however busy it is, and records why', async () => {
    const { store, sessions, clock, issue } = await setup();
    const mfa = await issue('mfa');
    const enrol = await issue('mfa_enrol');
    const active = await issue('active');
    for (let i = 0; i < 2; i++) {
      clock.advance(7 * MIN);
      for (const s of [mfa, enrol, active]) expect(await sessions.verify(s.token)).not.toBeNull();
    }
    clock.advance(MIN);
    expect(await sessions.verify(mfa.token)).toBeNull();
    expect(await sessions.verify(enrol.token)).toBeNull();
    expect(await sessions.verify(active.token)).not.toBeNull();
    for (const s of [mfa, enrol])
      expect((await store.read.sessions.byId('t', s.id))!.revoked_reason).toBe('sign_in_step_expired');
  });

  it('refuses to rotate a session that was revoked meanwhile, so the step that lost a race rolls back', async () => {
    const { store, sessions, issue } = await setup();
    const s = await issue('mfa');
    const row = (await sessions.verify(s.token))!;
    await store.transaction((tx) => sessions.revoke(tx, 't', s.id, 'rotated'));
    await expect(
      store.transaction((tx) => sessions.rotate(tx, row, { stage: 'active', addAmr: ['otp', 'mfa'] })),
    ).rejects.toMatchObject({ code: 'SP_AUTH_UNAUTHENTICATED' });
    expect((await store.read.sessions.listLive('t', 'user', 'u1', clockNow(row))).length).toBe(0);
  });

  it('gives a new token on a change of privilege, voids the old one and keeps the absolute deadline', async () => {
    const { store, sessions, clock, issue } = await setup();
    const s = await issue();
    clock.advance(5 * MIN);
    const old = (await sessions.verify(s.token))!;
    const next = await store.transaction((tx) => sessions.rotate(tx, old, { stage: 'active', addAmr: ['otp', 'mfa'] }));
    expect(next.token).not.toBe(s.token);
    expect(await sessions.verify(s.token)).toBeNull();
    const row = (await sessions.verify(next.token))!;
    expect([row.stage, row.amr, Number(row.expires_at)]).toEqual(['active', 'pwd otp mfa', Number(old.expires_at)]);
    expect(Number(row.mfa_at)).toBe(clock.at().getTime());
  });

  it('revokes every session and device of a person at once (remote wipe)', async () => {
    const { store, sessions, issue } = await setup();
    const a = await issue();
    const b = await issue();
    await store.transaction((tx) =>
      tx.sessions.insertDevice({
        id: 'd1',
        tenant_id: 't',
        subject_type: 'user',
        subject_id: 'u1',
        platform: 'ios',
        name: 'phone',
        push_token_ct: new Uint8Array([1, 2, 3]),
        created_at: 0,
        revoked_at: null,
      }),
    );
    const counts = await store.transaction((tx) => sessions.revokeAll(tx, 't', 'user', 'u1', 'remote_wipe'));
    expect(counts).toEqual({ sessions: 2, devices: 1 });
    expect(await sessions.verify(a.token)).toBeNull();
    expect(await sessions.verify(b.token)).toBeNull();
    expect(await store.read.sessions.listLive('t', 'user', 'u1', Date.now())).toEqual([]);
  });

  it('refuses malformed and unknown tokens without touching the database', async () => {
    const { sessions } = await setup();
    for (const t of [
      '',
      'sps_',
      'sps_short',
      `sp_${'a'.repeat(43)}`,
      `sps_${'a'.repeat(42)}!`,
      `sps_${'a'.repeat(43)}`,
    ])
      expect(await sessions.verify(t)).toBeNull();
  });

  it('housekeeping deletes expired challenges and idle throttle counters, and keeps live ones and blocks in force', async () => {
    const { store } = await setup();
    const now = Date.UTC(2026, 0, 6, 8, 0);
    const challenge = (id: string, expiresAt: number) => ({
      id,
      tenant_id: 't',
      purpose: 'patient_otp',
      subject: 's',
      challenge: 'x',
      created_at: expiresAt - 600_000,
      expires_at: expiresAt,
      used_at: null,
    });
    await store.transaction(async (tx) => {
      await tx.challenges.insert(challenge('old', now - 2 * 3_600_000));
      await tx.challenges.insert(challenge('live', now + 60_000));
      await tx.patientAccounts.throttleHit('idle', now - 48 * 3_600_000, 900_000);
      await tx.patientAccounts.throttleHit('recent', now - 60_000, 900_000);
    });
    await store.transaction((tx) => tx.patientAccounts.throttleHit('blocking', now - 48 * 3_600_000, 900_000));
    await store.read.users.setThrottleBlock('blocking', now + 60_000);
    expect(await store.read.challenges.purgeAllExpired(now - 3_600_000)).toBe(1);
    expect(await store.read.challenges.purgeIdleThrottles(now - 24 * 3_600_000, now)).toBe(1);
    expect((await store.read.challenges.live('t', 'patient_otp', 's', now))?.id).toBe('live');
    const left = (await store.read.users.throttleRows(['idle', 'recent', 'blocking'])).map((r) => r.key).sort();
    expect(left).toEqual(['blocking', 'recent']);
  });
});
