import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import pino from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger } from '../../src/logger.js';
import { sendMllp } from '../../src/api/mllp-client.js';
import { parseHl7 } from '../../src/ehr/hl7/message.js';
import { issueApiKey } from '../../src/auth/api-keys.js';
import { DEFAULT_TENANT } from '../../src/core/domain.js';
import { describeEachBackend, freshDatabases, type TestDatabase } from '../helpers/backends.js';
import { clientCert, serverCert, testCa } from '../helpers/transport-pki.js';

/**
 * HL7 v2 end to end, per backend: the app with its MLLP listener on a real loopback socket
 * (SEALPOST_HL7_LISTEN), the sample messages sent with the MLLP client `sealpost hl7 send` uses, ACKs
 * read off the wire; the administrators' /v1/hl7 API; and planted PHI absent from every log line.
 */

const FIXTURES = new URL('../fixtures/hl7v2/', import.meta.url);
const NOW = new Date('2020-09-01T00:00:00Z');
const ctx = { tenantId: DEFAULT_TENANT, actor: 'test' };

let n = 0;
function sample(name: string, replace: [RegExp | string, string][] = []): string {
  let text = readFileSync(new URL(name, FIXTURES), 'utf8').replace(/^\uFEFF/, '');
  for (const [a, b] of replace) text = text.replace(a, b);
  const lines = text.split(/\r\n|\r|\n/).filter((l) => l.trim());
  const msh = lines[0].split('|');
  msh[9] = `E${++n}`;
  lines[0] = msh.join('|');
  return lines.join('\r');
}
const msa = (ack: string) => {
  const m = parseHl7(ack);
  return { code: m.segment('MSA')!.get(1), controlId: m.segment('MSA')!.get(2), err: m.segment('ERR')?.get(3, 2) };
};

describeEachBackend('HL7 v2 over MLLP, end to end', (backend) => {
  const fresh = freshDatabases(backend);

  async function start(
    env: Record<string, string> = {},
  ): Promise<{ db: TestDatabase; app: App; port: number; logFile: string }> {
    const db = await fresh({ prefix: 'sealpost-hl7-e2e-', migrated: true });
    const config = loadConfig({
      ...db.env,
      SEALPOST_QUIET_HOURS: 'off',
      SEALPOST_WORKER: 'false',
      SEALPOST_HL7_LISTEN: '127.0.0.1:0',
      SEALPOST_LOG_LEVEL: 'debug',
      ...env,
    });
    const logFile = join(db.dataDir, 'e2e.log');
    const logger = createLogger('debug', pino.destination({ dest: logFile, sync: true }));
    const app = await buildApp(config, { logger, clock: () => NOW });
    app.start();
    const port = (await app.hl7Port())!;
    expect(port).toBeGreaterThan(0);
    return { db, app, port, logFile };
  }

  it('books the sample SIU^S12 sent over MLLP, keeps arrival order on each of several connections, and logs no PHI', async () => {
    const { db, app, port, logFile } = await start();
    let closed = false;
    try {
      const hl7 = app.services.hl7;
      await hl7.senders.add(ctx, {
        app: 'SCHApp',
        facility: 'GHHSFacility',
        timeZone: 'America/Chicago',
        patientIdAuthority: 'test1',
      });
      // Four patients, each with their own connection: book, reschedule, cancel, book again, in order.
      const marker = 'Zqxmllpmarker';
      const patients = [0, 1, 2, 3].map((i) => `PAT${i}`);
      for (const [i, mrn] of patients.entries())
        await app.services.patients.upsert(ctx, `p${i}`, {
          name: { family: 'Known' },
          birthDate: '1980-01-01',
          telecom: [{ system: 'sms', value: `+1415555010${i}` }],
          timeZone: 'America/Chicago',
          identifiers: [{ system: 'test1', value: mrn }],
        });
      const stream = (mrn: string, i: number) =>
        ['SIU-S12-01.hl7', 'SIU-S13-02.hl7', 'SIU-S15-01.hl7', 'SIU-S12-02.hl7'].map((f) =>
          sample(f, [
            ['PATID1234', mrn],
            ['SCH|12345|36996|', `SCH|A${i}|F${i}|`],
            ['EVERYMAN&&&&Aniston', `${marker}&&&&Aniston`],
          ]),
        );
      const acks = await Promise.all(patients.map((mrn, i) => sendMllp({ host: '127.0.0.1', port }, stream(mrn, i))));
      for (const list of acks) expect(list.map((a) => msa(a).code)).toEqual(['AA', 'AA', 'AA', 'AA']);
      // The last message of each stream re-booked the appointment for 2021-08-18 11:30 +02:15.
      const rows = await db.query<{ external_id: string; status: string; start_at: number | string }>(
        'select external_id, status, start_at from appointments',
      );
      expect(rows).toHaveLength(4);
      for (const r of rows) {
        expect(r.status).toBe('booked');
        expect(Number(r.start_at)).toBe(Date.parse('2021-08-18T09:15:00Z'));
        const a = await app.services.appointments.get(ctx, r.external_id);
        expect(a.reminders.filter((x) => x.status === 'scheduled')).toHaveLength(3);
      }
      // A bad message gets its NACK on the same connection, and the next one is still answered.
      const [bad, good] = await sendMllp({ host: '127.0.0.1', port }, [
        'MSH|^~\\&|Nobody|Nowhere|||20200101||SIU^S12|X1|P|2.5\rSCH|1',
        sample('SIU-S12-01.hl7', [['PATID1234', 'PAT0']]),
      ]);
      expect(msa(bad)).toMatchObject({ code: 'AR', controlId: 'X1', err: 'SP_HL7_UNKNOWN_SENDER' });
      expect(msa(good).code).toBe('AA');

      await app.close();
      closed = true;
      const log = readFileSync(logFile, 'utf8');
      expect(log).not.toContain(marker);
      expect(log).not.toContain('PAT0');
    } finally {
      if (!closed) await app.close();
    }
  });

  it('lets administrators register senders and work the error queue over /v1/hl7, and no one else', async () => {
    const { app } = await start();
    try {
      const admin = app.bootstrapKey!;
      const { key: integration } = await issueApiKey(
        app.store,
        { tenantId: DEFAULT_TENANT, name: 'ehr', scopes: [], actor: 'test' },
        new Date(),
      );
      const call = (method: string, url: string, key: string, payload?: unknown) =>
        app.server.inject({
          method: method as 'GET',
          url,
          headers: { authorization: `Bearer ${key}` },
          ...(payload === undefined ? {} : { payload: payload as object }),
        });
      expect((await call('GET', '/v1/hl7/senders', integration)).statusCode).toBe(403);
      expect((await call('GET', '/v1/hl7/errors', integration)).statusCode).toBe(403);
      const bad = await call('POST', '/v1/hl7/senders', admin, {
        app: 'SomeSystem',
        facility: '',
        timeZone: 'Nowhere/X',
      });
      expect([bad.statusCode, bad.json().code]).toEqual([400, 'SP_HL7_SENDER_INVALID']);
      const created = await call('POST', '/v1/hl7/senders', admin, {
        app: 'SomeSystem',
        facility: '',
        patientIdAuthority: '1',
      });
      expect(created.statusCode).toBe(201);
      const sender = created.json();
      expect((await call('GET', '/v1/hl7/senders', admin)).json().items.map((s: { id: string }) => s.id)).toEqual([
        sender.id,
      ]);

      const [ack] = await sendMllp({ host: '127.0.0.1', port: (await app.hl7Port())! }, [sample('LAB-ORU-1.hl7')]);
      expect(msa(ack)).toMatchObject({ code: 'AE', err: 'SP_HL7_UNKNOWN_PATIENT' });
      const list = (await call('GET', '/v1/hl7/errors', admin)).json();
      expect(list.items).toHaveLength(1);
      const item = list.items[0];
      expect(item).toMatchObject({
        senderId: sender.id,
        type: 'ORU^R01',
        errorCode: 'SP_HL7_UNKNOWN_PATIENT',
        segment: 'PID',
        field: 3,
      });
      expect(JSON.stringify(list)).not.toContain('DUCK');
      expect((await call('GET', `/v1/hl7/errors/${item.id}`, admin)).json().id).toBe(item.id);
      const early = await call('POST', `/v1/hl7/errors/${item.id}/replay`, admin);
      expect(early.json()).toMatchObject({ status: 'error', errorCode: 'SP_HL7_UNKNOWN_PATIENT' });
      await app.services.patients.upsert(ctx, 'duck', {
        name: { family: 'Duck' },
        birthDate: '1924-10-10',
        telecom: [{ system: 'sms', value: '+14155550199' }],
        timeZone: 'UTC',
        identifiers: [{ system: '1', value: '10006579' }],
      });
      expect((await call('POST', `/v1/hl7/errors/${item.id}/replay`, admin)).json().status).toBe('replayed');
      const discard = await call('POST', `/v1/hl7/errors/${item.id}/discard`, admin);
      expect([discard.statusCode, discard.json().code]).toEqual([409, 'SP_HL7_NOT_QUEUED']);
      expect((await call('GET', '/v1/hl7/errors/nope', admin)).statusCode).toBe(404);
      expect((await call('DELETE', `/v1/hl7/senders/${sender.id}`, admin)).statusCode).toBe(200);
      expect((await call('DELETE', `/v1/hl7/senders/${sender.id}`, admin)).statusCode).toBe(404);
    } finally {
      await app.close();
    }
  });

  it('sends no acknowledgement and closes the connection when the database cannot take the message', async () => {
    const { app, port } = await start();
    try {
      await app.services.hl7.senders.add(ctx, { app: 'SomeSystem', facility: '' });
      const [ack] = await sendMllp({ host: '127.0.0.1', port }, [sample('LAB-ORU-1.hl7')]);
      expect(msa(ack).code).toBe('AE');
      // The database goes away: the message is neither stored nor acknowledged; the sender will resend.
      await app.store.close();
      await expect(
        sendMllp({ host: '127.0.0.1', port }, [sample('LAB-ORU-1.hl7')], { timeoutMs: 10_000 }),
      ).rejects.toThrow(/closed before an acknowledgement/);
    } finally {
      await app.close().catch(() => undefined);
    }
  });

  it("takes a certificate-bound sender's messages over TLS only with its own client certificate", async () => {
    const ca = await testCa('hl7 client ca');
    const server = await serverCert('sealpost mllp');
    const [mine, other] = await Promise.all([clientCert('engine', { ca }), clientCert('other engine', { ca })]);
    const { app, port } = await start({
      SEALPOST_HL7_TLS_CERT: server.cert,
      SEALPOST_HL7_TLS_KEY: server.key,
      SEALPOST_HL7_TLS_CLIENT_CA: ca.cert,
    });
    try {
      await app.services.hl7.senders.add(ctx, { app: 'SomeSystem', facility: '', certPem: mine.cert });
      const target = (c: typeof mine) => ({
        host: '127.0.0.1',
        port,
        tls: { ca: server.cert, cert: c.cert, key: c.key, servername: 'localhost' },
      });
      const [wrong] = await sendMllp(target(other), [sample('LAB-ORU-1.hl7')]);
      // Routing is by certificate: another certificate of the same CA names no sender.
      expect(msa(wrong)).toMatchObject({ code: 'AR', err: 'SP_HL7_UNKNOWN_SENDER' });
      const [right] = await sendMllp(target(mine), [sample('LAB-ORU-1.hl7')]);
      // Admitted: the unknown patient sends it to the error queue (AE), not a refusal.
      expect(msa(right)).toMatchObject({ code: 'AE', err: 'SP_HL7_UNKNOWN_PATIENT' });
      // Without a client certificate the handshake itself fails.
      await expect(
        sendMllp(
          { host: '127.0.0.1', port, tls: { ca: server.cert, servername: 'localhost' } },
          [sample('LAB-ORU-1.hl7')],
          {
            timeoutMs: 10_000,
          },
        ),
      ).rejects.toThrow();
    } finally {
      await app.close();
    }
  });
});
