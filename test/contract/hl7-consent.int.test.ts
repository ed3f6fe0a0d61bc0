import { expect, it } from 'vitest';
import pino from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { parseHl7 } from '../../src/ehr/hl7/message.js';
import type { Hl7Origin } from '../../src/ehr/hl7-apply/hl7-service.js';
import { consentState } from '../../src/core/consent-service.js';
import type { ConsentRow } from '../../src/store/repositories/consent-repository.js';
import { describeEachBackend, freshDatabases, type TestDatabase } from '../helpers/backends.js';

/**
 * CON segments of ADT registrations and updates written to the consent ledger, per backend, through
 * the service the MLLP listener calls: CON-2 mapped by SEALPOST_HL7_CONSENT_TYPES, CON-11 deciding
 * (A permit, R/X deny, B/L/P undecided), a decision recorded only when it changes the state in force
 * (a message sent again adds nothing), unreadable or unmapped segments skipped and counted, never stored.
 */

const NOW = new Date('2020-09-01T00:00:00Z');
const ctx = { tenantId: 'default', actor: 'test' };
const operator: Hl7Origin = { remoteAddress: '127.0.0.1', tls: false };
const SYSTEM = 'urn:sealpost:hl7:REG|CLINIC';
const CONSENT_TYPES = 'SMSAPPT=sms:appointment,TXT=sms:*,EMAIL=email:*';
/** A consent type no installation maps: it must never be stored in the clear (PHI-free audit). */
const UNMAPPED = 'Zqxunmappedconsentmarker';

let counter = 0;
/** CON with set id, CON-2 (as written) and CON-11. */
const con = (set: number, type: string, status: string) =>
  ['CON', String(set), type, '', '', '', '', '', '', '', '', status].join('|');

/** An ADT registration or update of patient `mrn` (mobile and e-mail), then `extra` segments. */
function adt(trigger: string, mrn: string, extra: string[], controlId = `C${++counter}`): string {
  return [
    `MSH|^~\\&|REG|CLINIC|SEALPOST|HOSP|20200901000000||ADT^${trigger}^ADT_A01|${controlId}|P|2.8`,
    `EVN|${trigger}|20200901000000`,
    `PID|1||${mrn}^^^^MR||Consent^Carla||19700101|F|||||^PRN^CP^^1^415^5550177~^NET^Internet^carla@example.org`,
    'PV1|1|O',
    ...extra,
  ].join('\r');
}

describeEachBackend('HL7 v2 CON segments and the consent ledger', (backend) => {
  const fresh = freshDatabases(backend);
  const apps: App[] = [];

  async function start(env: Record<string, string> = { SEALPOST_HL7_CONSENT_TYPES: CONSENT_TYPES }) {
    const db = await fresh({ prefix: 'sealpost-hl7con-', migrated: true });
    const config = loadConfig({ ...db.env, ...env, SEALPOST_QUIET_HOURS: 'off', SEALPOST_WORKER: 'false' });
    const app = await buildApp(config, { logger: pino({ level: 'silent' }), clock: () => NOW });
    apps.push(app);
    const sender = await app.services.hl7.senders.add(ctx, { app: 'REG', facility: 'CLINIC', timeZone: 'UTC' });
    return { db, app, senderId: sender.id };
  }
  const close = async () => {
    for (const a of apps.splice(0)) await a.close();
  };
  const receive = (app: App, raw: string) => app.services.hl7.receive(raw, operator);
  const ackCode = (ack: string) => parseHl7(ack).segment('MSA')!.get(1);
  const patientId = async (app: App, mrn: string) =>
    (await app.services.patients.findByIdentifier(ctx, { system: SYSTEM, value: mrn }))!.patientId;
  const ph = (db: TestDatabase, n: number) => (db.backend === 'postgres' ? `$${n}` : '?');
  /** The patient's ledger rows, oldest first (the order the ledger decides in). */
  const rows = (db: TestDatabase, id: string) =>
    db.query<ConsentRow>(`select * from consents where patient_id = ${ph(db, 1)} order by recorded_at, id`, [id]);
  const ledger = async (db: TestDatabase, id: string) =>
    (await rows(db, id)).map((r) => ({
      channel: r.channel,
      purpose: r.purpose,
      decision: r.decision,
      source: r.source,
      by: r.recorded_by,
    }));
  /** The audit details of one stored message (`hl7.message.*`). */
  async function messageDetails(db: TestDatabase, messageId: string): Promise<Record<string, unknown>> {
    const rows = await db.query<{ action: string; entry: string }>('select action, entry from audit_entries');
    const hit = rows
      .filter((r) => r.action.startsWith('hl7.message.'))
      .map((r) => JSON.parse(r.entry) as { target?: { id: string }; details?: Record<string, unknown> })
      .find((e) => e.target?.id === messageId);
    return hit!.details ?? {};
  }

  it('records the decisions of an A04 with source hl7 and the sender as actor; sent again it adds nothing; unmapped, undecided and unreadable segments are counted, never stored', async () => {
    const { db, app, senderId } = await start();
    try {
      const segments = [
        con(1, 'SMSAPPT^Appointment texts^L', 'R'), // deny sms:appointment
        con(2, 'EMAIL^E-mail^L', 'A'), // permit email:*: permitted already, nothing to record
        con(3, `${UNMAPPED}^Research^L`, 'A'), // not mapped
        con(4, 'TXT^Texts^L', 'P'), // pending: not a decision
        con(5, 'TXT^Texts^L', 'Q'), // not in table 0498
        con(6, '^Only a text^L', 'R'), // CWE without a code
        con(7, 'TXT~EMAIL', 'R'), // CON-2 does not repeat
        con(8, 'TXT', ''), // no status
      ];
      const first = await receive(app, adt('A04', 'MRN1', segments));
      expect(ackCode(first.ack)).toBe('AA');
      expect(first.status).toBe('applied');
      const id = await patientId(app, 'MRN1');
      const by = `hl7-sender:${senderId}`;
      expect(await ledger(db, id)).toEqual([
        { channel: 'sms', purpose: 'appointment', decision: 'deny', source: 'hl7', by },
      ]);
      expect(await messageDetails(db, first.messageId!)).toMatchObject({
        consentsRecorded: 1,
        consentsUnchanged: 1,
        consentsUnmapped: 1,
        consentsUndecided: 1,
        consentsInvalid: 4,
      });
      const audits = await db.query<{ action: string }>(
        `select action from audit_entries where action = ${ph(db, 1)}`,
        ['consent.recorded'],
      );
      expect(audits).toHaveLength(1);

      // The same message again (a new MSH-10, as an engine re-sends a registration): the ledger does not grow.
      const again = await receive(app, adt('A04', 'MRN1', segments));
      expect(again.status).toBe('applied');
      expect(await ledger(db, id)).toHaveLength(1);
      expect(await messageDetails(db, again.messageId!)).toMatchObject({ consentsUnchanged: 2 });
      expect(await messageDetails(db, again.messageId!)).not.toHaveProperty('consentsRecorded');

      // An update permits every SMS purpose (A), then rescinds the appointment texts again (X), in order.
      const update = await receive(app, adt('A08', 'MRN1', [con(1, 'TXT', 'A'), con(2, 'SMSAPPT', 'X')]));
      expect(update.status).toBe('applied');
      expect((await ledger(db, id)).map((r) => `${r.channel}:${r.purpose}:${r.decision}`)).toEqual([
        'sms:appointment:deny',
        'sms:*:permit',
        'sms:appointment:deny',
      ]);
      const state = consentState(await rows(db, id)).filter((s) => s.channel === 'sms');
      expect(state.filter((s) => s.decision === 'deny').map((s) => s.purpose)).toEqual(['appointment']);
      expect(state.find((s) => s.purpose === 'results')).toMatchObject({ decision: 'permit', source: 'hl7' });

      // A31 and A28 carry CON too; a message without CON changes nothing.
      expect((await receive(app, adt('A31', 'MRN1', [con(1, 'EMAIL', 'R')]))).status).toBe('applied');
      expect((await receive(app, adt('A28', 'MRN1', []))).status).toBe('applied');
      expect((await ledger(db, id)).at(-1)).toMatchObject({ channel: 'email', purpose: '*', decision: 'deny' });
      expect(await ledger(db, id)).toHaveLength(4);

      // Events that apply no patient data ignore CON (A02 transfer).
      expect((await receive(app, adt('A02', 'MRN1', [con(1, 'EMAIL', 'A')]))).status).toBe('ignored');
      expect(await ledger(db, id)).toHaveLength(4);

      // The unmapped consent type is nowhere in the clear (audit, stored messages).
      for (const table of ['audit_entries', 'hl7_messages', 'consents'])
        expect(JSON.stringify(await db.query(`select * from ${table}`))).not.toContain(UNMAPPED);
    } finally {
      await close();
    }
  });

  it('a CON Refused for sms:appointment makes appointment reminders skip SMS at creation, while results still text', async () => {
    const { db, app } = await start();
    try {
      const r = await receive(app, adt('A04', 'MRN2', [con(1, 'SMSAPPT', 'R')]));
      expect(r.status).toBe('applied');
      const id = await patientId(app, 'MRN2');
      await app.services.appointments.upsert(ctx, 'appt-con-1', { patientId: id, start: '2020-10-01T10:00:00Z' });
      const channels = await db.query<{ channel: string }>(
        `select d.channel from deliveries d join notifications n on n.id = d.notification_id where n.appointment_id = ${ph(db, 1)}`,
        ['appt-con-1'],
      );
      expect(channels.length).toBeGreaterThan(0);
      expect(new Set(channels.map((c) => c.channel))).toEqual(new Set(['email']));
      // Results are another purpose: the mobile number (ranked first) is still used.
      const n = await app.services.notifications.create(ctx, {
        patientId: id,
        type: 'test_result_ready',
        data: { testName: 'Lipid panel' },
      });
      expect(n.body.deliveries.map((d) => d.channel)).toEqual(['sms']);
    } finally {
      await close();
    }
  });

  it('a texted STOP is its own layer: an HL7 permit neither lifts it nor is recorded again and again; an HL7 deny is recorded once', async () => {
    const { db, app } = await start();
    try {
      expect((await receive(app, adt('A04', 'MRN4', []))).status).toBe('applied');
      const id = await patientId(app, 'MRN4');
      // The row a STOP from the patient's number records (consent-service.ts inboundSms).
      await db.query(
        `insert into consents (id, tenant_id, patient_id, channel, purpose, decision, source, recorded_by, recorded_at) ` +
          `values (${[1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => ph(db, n)).join(', ')})`,
        ['stop-1', 'default', id, 'sms', '*', 'deny', 'sms_keyword', 'provider', NOW.getTime() - 1000],
      );
      for (let i = 0; i < 2; i++) {
        const r = await receive(app, adt('A08', 'MRN4', [con(1, 'TXT', 'A')]));
        expect(await messageDetails(db, r.messageId!)).toMatchObject({ consentsUnchanged: 1 });
      }
      expect((await ledger(db, id)).map((r) => r.source)).toEqual(['sms_keyword']);
      for (let i = 0; i < 2; i++) await receive(app, adt('A08', 'MRN4', [con(1, 'TXT', 'R')]));
      expect((await ledger(db, id)).map((r) => `${r.source}:${r.channel}:${r.purpose}:${r.decision}`)).toEqual([
        'sms_keyword:sms:*:deny',
        'hl7:sms:*:deny',
      ]);
    } finally {
      await close();
    }
  });

  it('without SEALPOST_HL7_CONSENT_TYPES every CON is unmapped: the ledger stays empty, the message applies', async () => {
    const { db, app } = await start({});
    try {
      const r = await receive(app, adt('A04', 'MRN3', [con(1, 'SMSAPPT', 'R'), con(2, 'TXT', 'Z')]));
      expect(r.status).toBe('applied');
      expect(await ledger(db, await patientId(app, 'MRN3'))).toEqual([]);
      expect(await messageDetails(db, r.messageId!)).toMatchObject({ consentsUnmapped: 1, consentsInvalid: 1 });
    } finally {
      await close();
    }
  });
});
