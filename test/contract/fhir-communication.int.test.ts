import { join } from 'node:path';
import { expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../../src/crypto/envelope-cipher.js';
import { TemplateRegistry } from '../../src/core/templates/template-registry.js';
import { NotificationService } from '../../src/core/notification-service.js';
import { PatientService } from '../../src/core/patient-service.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { CoreDeps } from '../../src/core/context.js';
import { CommunicationRequestService, parseCommunicationRequest } from '../../src/ehr/fhir/communication-request.js';
import { describeEachBackend, freshDatabases, migratedStore } from '../helpers/backends.js';
import { samplePatient } from '../helpers/sealpost-harness.js';
import { deliveryRow, notificationRow } from './fixtures.js';

const ctx = { tenantId: 'default', actor: 'test' };
const consent = (id: string, patient: string, at: number, over: Record<string, unknown> = {}) => ({
  id,
  tenant_id: 'default',
  patient_id: patient,
  channel: 'sms',
  purpose: '*',
  decision: 'deny',
  source: 'fhir',
  recorded_by: 'test',
  recorded_at: at,
  ...over,
});

async function setup(fresh: ReturnType<typeof freshDatabases>) {
  const db = await fresh({ prefix: 'sealpost-fhircomm-', migrated: true });
  const config = loadConfig({ ...db.env, SEALPOST_QUIET_HOURS: 'off' });
  const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
  const store = await migratedStore(db);
  const deps: CoreDeps = {
    config,
    store,
    cipher: new EnvelopeCipher(keyring),
    templates: TemplateRegistry.load(),
    clock: () => new Date(),
    newId: uuidv7,
    wake: () => {},
  };
  await store.read.tenants.ensure('default', 'x', Date.now());
  await store.read.tenants.ensure('t1', 'y', Date.now());
  await new PatientService(deps).upsert(ctx, 'p1', samplePatient() as never);
  const notifications = new NotificationService(deps);
  return { db, store, deps, notifications, requests: new CommunicationRequestService(deps, notifications) };
}

/** The consent ledger, CommunicationRequest identifiers and the FHIR searches, per backend. */
describeEachBackend('FHIR communication store', (backend) => {
  const fresh = freshDatabases(backend);

  it('lists consent records oldest first, per patient and tenant, in one query for many patients', async () => {
    const { store } = await setup(fresh);
    await store.transaction(async (tx) => {
      await tx.consents.insertMany([
        consent('c3', 'p1', 300),
        consent('c1', 'p1', 100, { channel: '*', decision: 'permit' }),
        consent('c2', 'p2', 200),
        consent('c0', 'p1', 100, { channel: 'email' }),
      ]);
      await tx.consents.insertMany([{ ...consent('c9', 'p1', 50), tenant_id: 't1' }]);
    });
    const r = store.read.consents;
    expect((await r.listForPatient('default', 'p1')).map((c) => c.id)).toEqual(['c0', 'c1', 'c3']);
    expect((await r.listForPatients('default', ['p1', 'p2', 'nobody'])).map((c) => c.id)).toEqual([
      'c0',
      'c1',
      'c2',
      'c3',
    ]);
    expect(await r.get('t1', 'c1')).toBeUndefined();
    expect(await r.get('default', 'c1')).toMatchObject({ channel: '*', decision: 'permit', recorded_at: 100 });
    expect(await r.listForPatients('default', [])).toEqual([]);
  });

  it('creates one notification for concurrent CommunicationRequests with one identifier; every caller gets it', async () => {
    const { db, requests } = await setup(fresh);
    const body = {
      resourceType: 'CommunicationRequest',
      status: 'active',
      identifier: [{ system: 'urn:oid:2.16.840.1', value: 'ord-42' }],
      category: [
        { coding: [{ system: 'https://sealpost.dev/fhir/CodeSystem/sealpost-notification-type', code: 'follow_up' }] },
      ],
      subject: { reference: 'Patient/p1' },
      payload: [{ contentString: JSON.stringify({ reason: 'check-up', dueDate: '2031-01-01' }) }],
    };
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => requests.create(ctx, parseCommunicationRequest(body, 'create'))),
    );
    const ids = new Set(answers.map((a) => a.resource.id));
    expect(ids.size).toBe(1);
    expect(answers.filter((a) => a.created)).toHaveLength(1);
    expect((await db.rowCounts()).notifications).toBe(1);
    expect((await db.rowCounts()).notification_identifiers).toBe(1);
    const rows = await db.query<Record<string, unknown>>('select * from notification_identifiers');
    expect(JSON.stringify(rows)).not.toContain('ord-42');
    expect(answers[0].resource.identifier).toEqual(body.identifier);
  });

  it('pages notifications and deliveries newest first, filtered by patient, notification and status', async () => {
    const { store } = await setup(fresh);
    await store.transaction(async (tx) => {
      await tx.notifications.insertMany([
        notificationRow('n1', { tenant_id: 'default', created_at: 10 }),
        notificationRow('n2', { tenant_id: 'default', created_at: 20 }),
        notificationRow('n3', { tenant_id: 'default', created_at: 20, patient_id: 'p2' }),
        notificationRow('n4', { tenant_id: 't1', created_at: 30 }),
      ]);
      await tx.deliveries.insertMany([
        deliveryRow('d1', { tenant_id: 'default', notification_id: 'n1', created_at: 10, status: 'sent' }),
        deliveryRow('d2', { tenant_id: 'default', notification_id: 'n2', created_at: 20, status: 'queued' }),
        deliveryRow('d3', { tenant_id: 'default', notification_id: 'n3', created_at: 20, patient_id: 'p2' }),
      ]);
    });
    const n = store.read.notifications;
    expect((await n.search('default', { limit: 10 })).map((r) => r.id)).toEqual(['n3', 'n2', 'n1']);
    expect((await n.search('default', { limit: 2 })).map((r) => r.id)).toEqual(['n3', 'n2']);
    expect((await n.search('default', { limit: 2, after: { createdAt: 20, id: 'n2' } })).map((r) => r.id)).toEqual([
      'n1',
    ]);
    expect((await n.search('default', { patientId: 'p1', limit: 10 })).map((r) => r.id)).toEqual(['n2', 'n1']);
    const d = store.read.deliveries;
    expect((await d.search('default', { limit: 10 })).map((r) => r.id)).toEqual(['d3', 'd2', 'd1']);
    expect((await d.search('default', { statuses: ['sent'], limit: 10 })).map((r) => r.id)).toEqual(['d1']);
    expect((await d.search('default', { notificationIds: ['n1', 'n2'], limit: 10 })).map((r) => r.id)).toEqual([
      'd2',
      'd1',
    ]);
    expect((await d.search('default', { patientId: 'p2', limit: 10 })).map((r) => r.id)).toEqual(['d3']);
    expect(await d.search('default', { notificationIds: [], limit: 10 })).toEqual([]);
    expect(await d.search('t1', { limit: 10 })).toEqual([]);
  });
});
