import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import pino from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createTenant } from '../../src/auth/tenants.js';
import { parseHl7 } from '../../src/ehr/hl7/message.js';
import { describeEachBackend, freshDatabases, type TestDatabase } from '../helpers/backends.js';

/**
 * Who may speak for an HL7 v2 sender and what it may touch (docs/integrations.md, "Senders"; docs/security.md):
 * a sender registered without a certificate only from a loopback peer, identifiers only in the system the
 * sender owns, senders per tenant and routed by the connection's certificate, erasure of every message of
 * a patient, and audit entries and stored columns that never carry the caller's text.
 */

const NOW = new Date('2020-09-01T00:00:00Z');
const ctx = { tenantId: 'default', actor: 'test' };
const loopback = { remoteAddress: '127.0.0.1', tls: false };
const remote = { remoteAddress: '203.0.113.9', tls: false };
const ADT_A04 = readFileSync(new URL('../fixtures/hl7v2/ADT-A04-01.hl7', import.meta.url), 'utf8')
  .replace(/^\uFEFF/, '')
  .split(/\r\n|\r|\n/)
  .filter((l) => l.trim())
  .join('\r');
const CERT_PEM = readFileSync(new URL('../fixtures/hl7-client-cert.pem', import.meta.url), 'utf8');

function ackOf(ack: string) {
  const m = parseHl7(ack);
  return { code: m.segment('MSA')!.get(1), controlId: m.segment('MSA')!.get(2), err: m.segment('ERR')?.get(3, 2) };
}

describeEachBackend('HL7 v2 sender trust, tenancy, erasure and audit', (backend) => {
  const fresh = freshDatabases(backend);
  let clock = NOW.getTime();

  async function start(): Promise<{ db: TestDatabase; app: App }> {
    clock = NOW.getTime();
    const db = await fresh({ prefix: 'sealpost-hl7-trust-', migrated: true });
    const config = loadConfig({ ...db.env, SEALPOST_QUIET_HOURS: 'off', SEALPOST_WORKER: 'false' });
    const app = await buildApp(config, { logger: pino({ level: 'silent' }), clock: () => new Date(clock) });
    return { db, app };
  }
  const ph = (db: TestDatabase, n: number) => (db.backend === 'postgres' ? `$${n}` : '?');

  const victim = (app: App) =>
    app.services.patients.upsert(ctx, 'victim-1', {
      name: { family: 'Victim' },
      birthDate: '1970-01-01',
      timeZone: 'UTC',
      telecom: [{ system: 'email', value: 'victim@example.org' }],
      identifiers: [{ system: 'urn:oid:1.2.3.4', value: 'MRN-777' }],
    });
  const a40 = [
    'MSH|^~\\&|LAB|MAIN|SP|SP|20200901||ADT^A40^ADT_A39|X1|P|2.5',
    'EVN|A40|20200901',
    'PID|1||EVIL-1^^^urn:oid:1.2.3.4^MR||Attacker^Eve||19800101|F|||||^NET^Internet^eve@attacker.example',
    'MRG|MRN-777^^^urn:oid:1.2.3.4^MR',
  ].join('\r');

  it('refuses a sender registered without a certificate from a non-loopback peer, storing nothing', async () => {
    const { db, app } = await start();
    try {
      await victim(app);
      await app.services.hl7.senders.add(ctx, { app: 'LAB', facility: 'MAIN' });
      const r = await app.services.hl7.receive(a40, remote);
      expect(r.status).toBe('rejected');
      expect(ackOf(r.ack)).toMatchObject({ code: 'AR', controlId: 'X1', err: 'SP_HL7_SENDER_CERT_MISMATCH' });
      expect((await db.rowCounts()).hl7_messages).toBe(0);
      expect(await app.services.patients.mergedInto('default', 'victim-1')).toBeNull();
    } finally {
      await app.close();
    }
  });

  it('lets a sender read and write only identifiers of its own system: an A40 or A08 naming another system’s MRN touches nobody else', async () => {
    const { app } = await start();
    try {
      await victim(app);
      await app.services.hl7.senders.add(ctx, { app: 'LAB', facility: 'MAIN' });
      const merged = await app.services.hl7.receive(a40, loopback);
      expect(merged.status).toBe('applied');
      expect(await app.services.patients.mergedInto('default', 'victim-1')).toBeNull();
      expect(
        await app.services.patients.findByIdentifier(ctx, { system: 'urn:oid:1.2.3.4', value: 'MRN-777' }),
      ).toEqual({ patientId: 'victim-1', erased: false });
      // The survivor was created in the sender's own system, whatever CX-4 said.
      expect(
        await app.services.patients.findByIdentifier(ctx, { system: 'urn:sealpost:hl7:LAB|MAIN', value: 'EVIL-1' }),
      ).toMatchObject({ erased: false });
      const a08 = [
        'MSH|^~\\&|LAB|MAIN|SP|SP|20200901||ADT^A08|X2|P|2.5',
        'EVN|A08|20200901',
        'PID|1||MRN-777^^^urn:oid:1.2.3.4^MR||Victim||19700101|F|||||^NET^Internet^eve@attacker.example',
      ].join('\r');
      expect((await app.services.hl7.receive(a08, loopback)).status).toBe('applied');
      const v = await app.services.patients.get(ctx, 'victim-1');
      expect(v.telecom.map((t) => t.value)).toEqual(['victim@example.org']);
    } finally {
      await app.close();
    }
  });

  it('keeps senders per tenant: another tenant registering the same pair neither learns of it nor captures the feed', async () => {
    const { db, app } = await start();
    try {
      await createTenant(app.store, 'other', 'Other Clinic', NOW);
      const otherCtx = { tenantId: 'other', actor: 'other-admin' };
      const mine = await app.services.hl7.senders.add(ctx, {
        app: 'ADTApp',
        facility: 'GHHSFacility',
        certPem: CERT_PEM,
        patientIdAuthority: 'test1',
      });
      // No SP_HL7_SENDER_EXISTS across tenants (it would reveal the pair); within one tenant, yes.
      await app.services.hl7.senders.add(otherCtx, {
        app: 'ADTApp',
        facility: 'GHHSFacility',
        patientIdAuthority: 'test1',
      });
      await expect(
        app.services.hl7.senders.add(otherCtx, { app: 'ADTApp', facility: 'GHHSFacility' }),
      ).rejects.toMatchObject({ code: 'SP_HL7_SENDER_EXISTS' });
      await expect(
        app.services.hl7.senders.add(ctx, { app: 'ADTApp', facility: 'GHHSFacility' }),
      ).rejects.toMatchObject({
        code: 'SP_HL7_SENDER_EXISTS',
      });
      // The EHR's engine presents its certificate: the message is routed to its tenant only.
      const r = await app.services.hl7.receive(ADT_A04, {
        remoteAddress: '198.51.100.20',
        tls: true,
        clientCertSha256: mine.certSha256!,
      });
      expect(r.status).toBe('applied');
      const rows = await db.query<{ tenant_id: string; sender_id: string }>(
        'select tenant_id, sender_id from hl7_messages',
      );
      expect(rows).toEqual([{ tenant_id: 'default', sender_id: mine.id }]);
      expect(
        await app.services.patients.findByIdentifier(otherCtx, { system: 'test1', value: 'PATID1234' }),
      ).toBeNull();
      expect(await app.services.patients.findByIdentifier(ctx, { system: 'test1', value: 'PATID1234' })).toMatchObject({
        erased: false,
      });
      // Two unbound senders with one pair (another tenant squatting it): nobody is picked.
      await createTenant(app.store, 'third', 'Third Clinic', NOW);
      await app.services.hl7.senders.add(
        { tenantId: 'third', actor: 'x' },
        { app: 'ADTApp', facility: 'GHHSFacility' },
      );
      const ambiguous = await app.services.hl7.receive(ADT_A04, loopback);
      expect(ackOf(ambiguous.ack)).toMatchObject({ code: 'AR', err: 'SP_HL7_UNKNOWN_SENDER' });
      // An import routes to the operator's tenant's sender.
      const imported = await app.services.hl7.importText(
        ADT_A04.replace(/(\|ADT\^A04[^|]*\|)[^|]*/, '$1IMP-1'),
        'cli:op',
        'other',
      );
      expect(imported.map((i) => i.status)).toEqual(['applied']);
      expect(
        await app.services.patients.findByIdentifier(otherCtx, { system: 'test1', value: 'PATID1234' }),
      ).toMatchObject({
        erased: false,
      });
    } finally {
      await app.close();
    }
  });

  it('forgets on erasure the messages of a patient that were ignored, error-queued or received before the patient was known', async () => {
    const { db, app } = await start();
    try {
      await app.services.hl7.senders.add(ctx, { app: 'ADT', facility: 'H' });
      const pid = (mrn: string, birth = '19700101') =>
        `PID|1||${mrn}^^^H^MR||Doe^Jane||${birth}|F|||||^PRN^PH^jane@example.org`;
      const msg = (id: string, trigger: string, p = pid('MRN-1')) =>
        [`MSH|^~\\&|ADT|H|SP|SP|20200901||ADT^${trigger}|${id}|P|2.5`, `EVN|${trigger}|20200901`, p].join('\r');
      const ids: Record<string, string> = {};
      for (const [id, t, p] of [
        ['M0', 'A03', pid('MRN-1')], // before the patient is known: ignored
        ['M1', 'A04', pid('MRN-1')],
        ['M2', 'A03', pid('MRN-1')],
        ['M3', 'A02', pid('MRN-1')],
        ['M4', 'A08', pid('MRN-1', '1970XX01')], // error queue (invalid birth date)
        ['K1', 'A04', pid('MRN-2')], // someone else: kept
      ] as const) {
        const r = await app.services.hl7.receive(msg(id, t, p), loopback);
        ids[id] = r.messageId!;
      }
      expect((await app.services.hl7.listErrors(ctx)).items.map((m) => m.id)).toEqual([ids.M4]);
      const found = await app.services.patients.findByIdentifier(ctx, {
        system: 'urn:sealpost:hl7:ADT|H',
        value: 'MRN-1',
      });
      await app.services.patients.erase(ctx, found!.patientId, { shredInBackground: false });
      for (const id of Object.values(ids)) {
        const [row] = await db.query<{ raw_ct: unknown }>(`select raw_ct from hl7_messages where id = ${ph(db, 1)}`, [
          id,
        ]);
        const keys = await db.query(`select * from data_keys where patient_id = ${ph(db, 1)}`, [`hl7:${id}`]);
        const kept = id === ids.K1;
        expect([id, row.raw_ct !== null, keys.length]).toEqual([id, kept, kept ? 1 : 0]);
      }
    } finally {
      await app.close();
    }
  });

  it('audits refusals before a sender is known at most once per peer and code per minute, counting the rest', async () => {
    const { db, app } = await start();
    try {
      const count = async () => (await db.rowCounts()).audit_entries;
      const before = await count();
      for (let i = 0; i < 200; i++)
        await app.services.hl7.receive(i % 2 ? 'garbage' : `MSH|^~\\&|NOPE|NOPE|A|B|2020||ADT^A04|${i}|P|2.5`, {
          remoteAddress: '198.51.100.7',
          tls: false,
        });
      // One entry for the malformed frames, one for the unknown sender.
      expect((await count()) - before).toBe(2);
      // Another peer has its own allowance.
      await app.services.hl7.receive('garbage', { remoteAddress: '198.51.100.8', tls: false });
      expect((await count()) - before).toBe(3);
      clock += 61_000;
      await app.services.hl7.receive('garbage', { remoteAddress: '198.51.100.7', tls: false });
      expect((await count()) - before).toBe(4);
      const entries = JSON.stringify(await db.query('select * from audit_entries'));
      expect(entries).toContain('suppressed');
      expect(entries).toContain('99');
    } finally {
      await app.close();
    }
  });

  it('never stores or audits caller text: MSH-9 checked, MSH-10 bounded and hashed, the ACK header bounded', async () => {
    const { db, app } = await start();
    try {
      const marker = 'Zqxplantedphi';
      const big = `${marker}${'X'.repeat(100_000)}`;
      // An unknown sender with a huge MSH-9 and MSH-3: a small audit entry, no marker, a bounded ACK.
      const r = await app.services.hl7.receive(`MSH|^~\\&|${big}|NOPE|A|B|2020||${big}^A04|1|P|2.5`, remote);
      expect(ackOf(r.ack)).toMatchObject({ code: 'AR', err: 'SP_HL7_UNKNOWN_SENDER' });
      expect(r.ack.length).toBeLessThan(2_000);
      // A known sender: MSH-9 that is not TYPE^TRG is stored and audited as `invalid`; MSH-10 as a hash.
      await app.services.hl7.senders.add(ctx, { app: 'ADT', facility: 'H' });
      const odd = await app.services.hl7.receive(
        `MSH|^~\\&|ADT|H|SP|SP|20200901||ADT^${marker}|CTRL-${marker}|P|2.5\rEVN|A03|20200901`,
        loopback,
      );
      expect(odd.status).toBe('ignored');
      expect(ackOf(odd.ack).controlId).toBe(`CTRL-${marker}`);
      const [row] = await db.query<{ message_type: string; control_id: string }>(
        'select message_type, control_id from hl7_messages',
      );
      expect(row.message_type).toBe('invalid');
      expect(row.control_id).not.toContain(marker);
      // Sent again: still recognised as a duplicate by its hash.
      expect(
        (
          await app.services.hl7.receive(
            `MSH|^~\\&|ADT|H|SP|SP|20200901||ADT^${marker}|CTRL-${marker}|P|2.5\rEVN|A03|20200901`,
            loopback,
          )
        ).status,
      ).toBe('duplicate');
      // MSH-10 longer than 199 characters: SP_HL7_MALFORMED naming MSH-10, nothing stored.
      const long = await app.services.hl7.receive(
        `MSH|^~\\&|ADT|H|SP|SP|20200901||ADT^A03|${'C'.repeat(300)}|P|2.5\rEVN|A03|20200901`,
        loopback,
      );
      expect(long.status).toBe('rejected');
      const ack = parseHl7(long.ack);
      expect([ack.segment('ERR')!.get(3, 2), ack.segment('ERR')!.get(2, 1), ack.segment('ERR')!.get(2, 3)]).toEqual([
        'SP_HL7_MALFORMED',
        'MSH',
        '10',
      ]);
      expect((await db.rowCounts()).hl7_messages).toBe(1);
      const audits = JSON.stringify(await db.query('select * from audit_entries'));
      expect(audits).not.toContain(marker);
      expect(audits.length).toBeLessThan(20_000);
    } finally {
      await app.close();
    }
  });
});
