import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import pino from 'pino';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger } from '../../src/logger.js';
import { sendMllp } from '../../src/api/mllp-client.js';
import { parseHl7 } from '../../src/ehr/hl7/message.js';
import { DEFAULT_TENANT } from '../../src/core/domain.js';
import { describeEachBackend, freshDatabases } from '../helpers/backends.js';

/**
 * HL7 v2 CON segments end to end, per backend: an ADT^A04 with consent segments sent over a real
 * loopback MLLP socket, the ACK read off the wire, the decisions read back through REST
 * (`GET /v1/patients/{id}/consents`), a re-sent registration adding nothing, and the planted
 * patient name and unmapped consent code absent from every log line.
 */

const NOW = new Date('2020-09-01T00:00:00Z');
const ctx = { tenantId: DEFAULT_TENANT, actor: 'test' };
const NAME = 'Zqxconsentnamemarker';
const UNMAPPED = 'Zqxconsentcodemarker';

const a04 = (controlId: string) =>
  [
    `MSH|^~\\&|REG|CLINIC|SEALPOST|HOSP|20200901000000||ADT^A04^ADT_A01|${controlId}|P|2.8`,
    'EVN|A04|20200901000000',
    `PID|1||MRN9^^^^MR||${NAME}^Carla||19700101|F|||||^PRN^CP^^1^415^5550199~^NET^Internet^carla@example.org`,
    'PV1|1|O',
    'CON|1|SMSAPPT^Appointment texts^L|||||||||R',
    `CON|2|${UNMAPPED}^Research^L|||||||||A`,
    'CON|3|EMAIL|||||||||Q',
  ].join('\r');

describeEachBackend('HL7 v2 CON over MLLP, end to end', (backend) => {
  const fresh = freshDatabases(backend);

  it('records a refused consent sent over MLLP, answers AA, reads back over REST, and logs no PHI', async () => {
    const db = await fresh({ prefix: 'sealpost-hl7con-e2e-', migrated: true });
    const config = loadConfig({
      ...db.env,
      SEALPOST_QUIET_HOURS: 'off',
      SEALPOST_WORKER: 'false',
      SEALPOST_HL7_LISTEN: '127.0.0.1:0',
      SEALPOST_HL7_CONSENT_TYPES: 'SMSAPPT=sms:appointment,EMAIL=email:*',
      SEALPOST_LOG_LEVEL: 'debug',
    });
    const logFile = join(db.dataDir, 'e2e.log');
    const app = await buildApp(config, {
      logger: createLogger('debug', pino.destination({ dest: logFile, sync: true })),
      clock: () => NOW,
    });
    let closed = false;
    try {
      app.start();
      const port = (await app.hl7Port())!;
      const sender = await app.services.hl7.senders.add(ctx, { app: 'REG', facility: 'CLINIC', timeZone: 'UTC' });
      const acks = await sendMllp({ host: '127.0.0.1', port }, [a04('E1'), a04('E2')]);
      expect(acks.map((a) => parseHl7(a).segment('MSA')!.get(1))).toEqual(['AA', 'AA']);

      const found = await app.services.patients.findByIdentifier(ctx, {
        system: 'urn:sealpost:hl7:REG|CLINIC',
        value: 'MRN9',
      });
      const res = await app.server.inject({
        method: 'GET',
        url: `/v1/patients/${found!.patientId}/consents`,
        headers: { authorization: `Bearer ${app.bootstrapKey!}` },
      });
      expect(res.statusCode).toBe(200);
      const body = res.json() as {
        history: { channel: string; purpose: string; decision: string; source: string; recordedBy: string }[];
        state: { channel: string; purpose: string; decision: string }[];
      };
      // Sent twice, recorded once.
      expect(body.history).toEqual([
        expect.objectContaining({
          channel: 'sms',
          purpose: 'appointment',
          decision: 'deny',
          source: 'hl7',
          recordedBy: `hl7-sender:${sender.id}`,
        }),
      ]);
      expect(body.state.filter((s) => s.decision === 'deny')).toEqual([
        expect.objectContaining({ channel: 'sms', purpose: 'appointment' }),
      ]);

      await app.close();
      closed = true;
      const log = readFileSync(logFile, 'utf8');
      expect(log).not.toContain(NAME);
      expect(log).not.toContain(UNMAPPED);
      expect(log).not.toContain('MRN9');
    } finally {
      if (!closed) await app.close();
    }
  });
});
