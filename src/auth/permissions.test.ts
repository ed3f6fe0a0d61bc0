import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { permissionTables } from './permissions-doc.js';
import {
  ALL_PERMISSIONS,
  API_KEY_SCOPES,
  apiKeyPermissions,
  mayReadNotificationType,
  notificationCreatePermission,
  PERMISSIONS,
  ROLE_PERMISSIONS,
  rolePermissions,
  smartScopePermissions,
} from './permissions.js';

describe('permission table', () => {
  it('grants only permissions that exist', () => {
    for (const list of [...Object.values(ROLE_PERMISSIONS), ...Object.values(API_KEY_SCOPES)])
      for (const p of list) expect(PERMISSIONS).toHaveProperty(p);
  });

  it('gives the auditor no permission that reads or writes patient content', () => {
    const auditor = rolePermissions(['auditor']);
    // Besides the audit trail: the PHI-free operations overview and settings (counts, ids, sample data), read-only.
    for (const p of auditor) expect(p).toMatch(/^((audit|disclosure|proof)\.|ops\.read$|settings\.read$)/);
  });

  it('gives the privacy officer the privacy alerts, reports and audit trail but no patient content', () => {
    const officer = rolePermissions(['privacy_officer']);
    for (const p of officer) expect(p).toMatch(/^(privacy\.(read|manage|report)|audit\.read|disclosure\.read)$/);
    expect(officer.has('privacy.manage')).toBe(true);
    const admin = rolePermissions(['admin']);
    for (const p of ['privacy.read', 'privacy.manage', 'privacy.report'] as const) expect(admin.has(p)).toBe(true);
    for (const role of ['physician', 'nurse', 'receptionist', 'billing', 'auditor', 'patient'] as const)
      expect(
        ROLE_PERMISSIONS[role].filter((p) => p.startsWith('privacy.')),
        role,
      ).toEqual([]);
  });

  it('limits receptionists to scheduling notices and billing staff to billing notices', () => {
    const rec = rolePermissions(['receptionist']);
    const bill = rolePermissions(['billing']);
    expect(rec.has(notificationCreatePermission('appointment_reminder'))).toBe(true);
    expect(rec.has(notificationCreatePermission('test_result_ready'))).toBe(false);
    expect(bill.has(notificationCreatePermission('billing_statement'))).toBe(true);
    expect(bill.has(notificationCreatePermission('appointment_reminder'))).toBe(false);
    expect(mayReadNotificationType(bill, 'medication_reminder')).toBe(false);
    expect(rolePermissions(['admin']).has('patient.read')).toBe(false);
  });

  it('treats unknown roles and scopes as granting nothing', () => {
    expect(rolePermissions(['root', 'superuser']).size).toBe(0);
    expect(apiKeyPermissions(['everything']).size).toBe(0);
  });

  it("gives a key without scopes the integration permissions, and admin everything but a person's own (self-service, messaging)", () => {
    expect([...apiKeyPermissions([])].sort()).toEqual([...API_KEY_SCOPES.integration].sort());
    expect([...apiKeyPermissions(['admin'])].sort()).toEqual(
      ALL_PERMISSIONS.filter((p) => p !== 'self.messages' && p !== 'message.use').sort(),
    );
  });

  it('maps SMART v2 and v1 system scopes per resource and interaction', () => {
    expect(smartScopePermissions('system/Patient.rs')).toEqual(['patient.read']);
    expect(smartScopePermissions('system/Patient.read')).toEqual(['patient.read']);
    expect(smartScopePermissions('system/Patient.cu')).toEqual(['patient.write']);
    expect(smartScopePermissions('system/Communication.c')).toEqual([
      'notification.create.scheduling',
      'notification.create.clinical',
      'notification.create.billing',
    ]);
    expect(new Set(smartScopePermissions('system/*.rs'))).toEqual(
      new Set([
        'patient.read',
        'consent.read',
        'notification.read',
        'proof.read',
        'appointment.read',
        'audit.read',
        'disclosure.read',
      ]),
    );
  });

  it("grants Consent scopes the consent permissions only, never a Patient's", () => {
    expect(smartScopePermissions('system/Consent.rs')).toEqual(['consent.read']);
    expect(smartScopePermissions('system/Consent.c')).toEqual(['consent.write']);
    expect(new Set(smartScopePermissions('system/Consent.*'))).toEqual(new Set(['consent.read', 'consent.write']));
    expect(smartScopePermissions('system/Consent.write')).toEqual(['consent.write']);
  });

  it('gives the consent permissions to whoever held the patient permissions the Consent routes needed before', () => {
    for (const role of ['physician', 'nurse', 'receptionist'] as const)
      expect(ROLE_PERMISSIONS[role], role).toEqual(expect.arrayContaining(['consent.read', 'consent.write']));
    for (const role of ['billing', 'auditor', 'patient'] as const)
      expect(
        ROLE_PERMISSIONS[role].filter((p) => p.startsWith('consent.')),
        role,
      ).toEqual([]);
    // Administrators set the tenant's SMS keywords, and read or record no patient's consent.
    expect(ROLE_PERMISSIONS.admin.filter((p) => p.startsWith('consent.'))).toEqual(['consent.manage']);
    expect(API_KEY_SCOPES.integration).toEqual(expect.arrayContaining(['consent.read', 'consent.write']));
  });

  it('refuses malformed SMART scopes and unknown resources', () => {
    for (const s of [
      'system/Patient.',
      'system/Patient.x',
      'system/Patient.rc',
      'user/Patient.rs',
      'patient/*.rs',
      'system/Observation.rs',
      'system/Patient.rs extra',
      'system/patient.rs',
    ]) {
      expect(smartScopePermissions(s), s).toBeNull();
    }
  });

  it('is what docs/security.md says (regenerate with npm run docs:permissions)', () => {
    const doc = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
    expect(doc).toContain(permissionTables());
  });
});
