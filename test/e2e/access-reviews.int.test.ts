import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { createTestDatabase, describeEachBackend, type TestDatabase } from '../helpers/backends.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { asBearer, auditEvents } from '../helpers/staff-sign-in.js';
import { samplePatient } from '../helpers/sample-patient.js';
import { totpCode } from '../../src/auth/totp.js';

const tag = randomBytes(4).toString('hex');
/** Planted in review and closing notes: they may name a patient, so never in audit entries or to non-admins. */
const NOTE = `Confirmed with the charge nurse NOTEMARK-${tag}`;

/**
 * Reviews of break-glass grants (POST /v1/break-glass/{id}/review) and closing notes of security
 * alerts (POST /v1/security-alerts/{id}/close), permission securityalert.read: once each, notes
 * sealed and shown to administrators only, audited without the note.
 */
describeEachBackend('break-glass reviews and alert closing notes', (backend) => {
  let db: TestDatabase;
  let h: Harness;
  let admin: TestPerson;
  let n = 0;

  /** A physician outside the care team breaks the glass for a fresh patient; answers the grant and alert ids. */
  async function breakGlass(): Promise<{ grantId: string; alertId: string }> {
    const patient = `ar-${tag}-${n++}`;
    expect((await h.request('PUT', `/v1/patients/${patient}`, samplePatient())).status).toBe(201);
    const physician = await staffWithSession(h, ['physician']);
    const setup = await asBearer(h, physician.token, 'POST', '/v1/auth/mfa/totp/setup');
    const confirm = await asBearer(h, physician.token, 'POST', '/v1/auth/mfa/totp/confirm', {
      code: await totpCode(setup.body.secret, Date.now()),
    });
    const r = await asBearer(h, confirm.body.token ?? physician.token, 'POST', `/v1/patients/${patient}/break-glass`, {
      reason: 'Unconscious in the emergency department',
      recoveryCode: confirm.body.recoveryCodes[0],
    });
    expect(r.status).toBe(201);
    return { grantId: r.body.grant.id, alertId: r.body.alertId };
  }

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    h = await startSealpost(db.env);
    admin = await staffWithSession(h, ['admin']);
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await db?.drop();
  });

  it('reviews a grant once: unjustified ends it, closes its alert, and the note is for administrators only', async () => {
    const { grantId, alertId } = await breakGlass();
    const r = await asBearer(h, admin.token, 'POST', `/v1/break-glass/${grantId}/review`, {
      outcome: 'unjustified',
      note: NOTE,
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: grantId, reviewOutcome: 'unjustified', reviewedBy: `user:${admin.userId}` });
    expect(r.body.revokedAt).not.toBeNull();
    expect(r.text).not.toContain('NOTEMARK');

    const list = await asBearer(h, admin.token, 'GET', '/v1/break-glass');
    expect(list.body.items.find((g: any) => g.id === grantId)).toMatchObject({ reviewNote: NOTE });
    const alert = (await asBearer(h, admin.token, 'GET', '/v1/security-alerts')).body.items.find(
      (a: any) => a.id === alertId,
    );
    expect(alert.closedAt).not.toBeNull();
    expect(alert.acknowledgedAt).not.toBeNull();

    const again = await asBearer(h, admin.token, 'POST', `/v1/break-glass/${grantId}/review`, { outcome: 'justified' });
    expect([again.status, again.body.code]).toEqual([409, 'SP_BREAK_GLASS_REVIEWED']);
    expect(
      (await asBearer(h, admin.token, 'GET', '/v1/break-glass')).body.items.find((g: any) => g.id === grantId),
    ).toMatchObject({ reviewOutcome: 'unjustified' });

    const entries = (await auditEvents(h, 'break_glass.reviewed')).filter((e) => e.target?.id === grantId);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.details).toMatchObject({ outcome: 'unjustified', ended: true, alertsClosed: 1, note: true });
    expect(JSON.stringify(await auditEvents(h, 'break_glass.reviewed'))).not.toContain('NOTEMARK');
  });

  it('a justified review leaves a live grant running', async () => {
    const { grantId } = await breakGlass();
    const r = await asBearer(h, admin.token, 'POST', `/v1/break-glass/${grantId}/review`, { outcome: 'justified' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ reviewOutcome: 'justified', revokedAt: null });
  });

  it('closes an alert once with a sealed note; refuses bad input, unknown ids and people without the permission', async () => {
    const { alertId } = await breakGlass();
    const nurse = await staffWithSession(h, ['nurse']);
    expect(
      (await asBearer(h, nurse.token, 'POST', `/v1/security-alerts/${alertId}/close`, { note: NOTE })).status,
    ).toBe(403);
    const bad = await asBearer(h, admin.token, 'POST', `/v1/security-alerts/${alertId}/close`, {
      note: 'x'.repeat(2001),
    });
    expect(bad.status).toBe(400);
    const unknown = await asBearer(h, admin.token, 'POST', '/v1/security-alerts/no-such-alert/close', {});
    expect(unknown.body.code).toBe('SP_SECURITY_ALERT_NOT_FOUND');
    expect(
      (await asBearer(h, admin.token, 'GET', '/v1/security-alerts')).body.items.find((a: any) => a.id === alertId)
        .closedAt,
    ).toBeNull();

    const r = await asBearer(h, admin.token, 'POST', `/v1/security-alerts/${alertId}/close`, { note: NOTE });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: alertId, closedBy: `user:${admin.userId}` });
    expect(r.body.acknowledgedAt).not.toBeNull();
    const listed = (await asBearer(h, admin.token, 'GET', '/v1/security-alerts')).body.items.find(
      (a: any) => a.id === alertId,
    );
    expect(listed.closeNote).toBe(NOTE);
    const again = await asBearer(h, admin.token, 'POST', `/v1/security-alerts/${alertId}/close`, {});
    expect([again.status, again.body.code]).toEqual([409, 'SP_SECURITY_ALERT_CLOSED']);
    expect((await auditEvents(h, 'alert.closed')).filter((e) => e.target?.id === alertId)).toHaveLength(1);
    expect((await auditEvents(h, 'alert.notes_read')).length).toBeGreaterThan(0);
    expect(JSON.stringify(await auditEvents(h, 'alert.closed'))).not.toContain('NOTEMARK');
    const review = await asBearer(h, nurse.token, 'POST', '/v1/break-glass/whatever/review', { outcome: 'justified' });
    expect(review.status).toBe(403);
  });
});
