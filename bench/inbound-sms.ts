/**
 * Inbound SMS webhooks processed per second (`node bin/run-ts.js bench/inbound-sms.ts`): signed
 * Twilio inbound webhooks over HTTPS (keep-alive, `--concurrency` in flight) to one Sealpost process,
 * in three phases on the same patients, each a fresh text from each patient's phone, repeated
 * `--rounds` times:
 * - `reply`: an appointment reply code (C, then N, alternately: each one changes the appointment,
 *   its audit entry, its FHIR/EHR events, and sends the acknowledgement);
 * - `unrecognised`: a free text (sealed per patient, HELP at most once a day);
 * - `keyword`: STOP, then START, alternately (the consent ledger and the contact point's opt-out).
 * SMS answers go to a counting channel in this process (Foundations.channels), so the time is
 * Sealpost's, not a provider's. The client runs in the same process; its share of the CPU is small
 * next to the server's but is not separated.
 *
 *   node bin/run-ts.js bench/inbound-sms.ts [--patients 200] [--rounds 4] [--concurrency 16] [--pg <url>] [--json file]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import pino from 'pino';
import { loadConfig } from '../src/config/load-config.js';
import { buildApp } from '../src/app.js';
import { createLogger } from '../src/logger.js';
import type { Channel, OutboundMessage } from '../src/channels/channel.js';
import { computeTwilioSignature } from '../src/channels/sms/twilio-signature.js';
import { generateTestCertificate } from '../test/helpers/smtp-sink.js';
import { forEachFlag } from './args.js';

const o = { patients: 200, rounds: 4, concurrency: 16, pg: '', json: '' };
forEachFlag(process.argv.slice(2), (flag, value, num) => {
  if (flag === '--patients') o.patients = num(1);
  else if (flag === '--rounds') o.rounds = num(1);
  else if (flag === '--concurrency') o.concurrency = num(1);
  else if (flag === '--pg') o.pg = value();
  else if (flag === '--json') o.json = value();
  else throw new Error(`unknown flag ${flag}`);
});

const TOKEN = 'bench-twilio-token';
const phone = (i: number) => `+1415555${String(1000 + i).padStart(4, '0')}`;

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-bench-inbound-'));
  const port = 20000 + Math.floor(Math.random() * 10000);
  const url = `https://127.0.0.1:${port}`;
  const config = loadConfig({
    SEALPOST_DATA_DIR: dataDir,
    SEALPOST_PORT: String(port),
    SEALPOST_PUBLIC_URL: url,
    SEALPOST_LOG_LEVEL: 'warn',
    SEALPOST_POLL_MS: '50',
    SEALPOST_QUIET_HOURS: 'off',
    SEALPOST_FREQUENCY_CAPS: 'off',
    SEALPOST_REMINDER_OFFSETS: '2h',
    SEALPOST_SMS_PROVIDER: 'twilio',
    SEALPOST_TWILIO_ACCOUNT_SID: 'AC' + 'c'.repeat(32),
    SEALPOST_TWILIO_AUTH_TOKEN: TOKEN,
    SEALPOST_TWILIO_FROM: '+14155550000',
    ...(o.pg ? { SEALPOST_DATABASE_URL: o.pg } : {}),
  });
  const sent: OutboundMessage[] = [];
  const sms = {
    kind: 'sms',
    provider: 'bench',
    async send(m: OutboundMessage) {
      sent.push(m);
      return { status: 'sent' as const, providerMessageId: `SM${sent.length}` };
    },
    async close() {},
  } as unknown as Channel;
  const tls = await generateTestCertificate();
  const app = await buildApp(config, {
    logger: createLogger('warn', pino.destination({ dest: join(dataDir, 'log'), sync: false })),
    https: { key: tls.key, cert: tls.cert },
    channels: { sms },
  });
  await app.server.listen({ host: '127.0.0.1', port });
  app.start();
  const agent = new Agent({ connect: { ca: tls.cert }, connections: o.concurrency, pipelining: 1 });
  const api = async (method: 'PUT' | 'GET', path: string, body?: unknown) => {
    const r = await request(`${url}${path}`, {
      method,
      dispatcher: agent,
      headers: { authorization: `Bearer ${app.bootstrapKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.statusCode, body: (await r.body.json()) as any };
  };
  const inbound = async (from: string, text: string) => {
    const params = { From: from, To: '+14155550000', Body: text, AccountSid: 'AC', MessageSid: 'SM' };
    const t0 = performance.now();
    const r = await request(`${url}/v1/providers/twilio/inbound`, {
      method: 'POST',
      dispatcher: agent,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': computeTwilioSignature(TOKEN, `${url}/v1/providers/twilio/inbound`, params),
      },
      body: new URLSearchParams(params).toString(),
    });
    await r.body.text();
    if (r.statusCode !== 200) throw new Error(`inbound answered ${r.statusCode}`);
    return performance.now() - t0;
  };

  // Patients, each with an appointment whose one reminder (2 h before) is due at once.
  for (let i = 0; i < o.patients; i++) {
    await api('PUT', `/v1/patients/bp${i}`, {
      name: { family: 'Bench' },
      birthDate: '1980-01-01',
      telecom: [{ system: 'sms', value: phone(i) }],
      language: 'en',
      timeZone: 'UTC',
    });
    const start = new Date(Date.now() + 2 * 3_600_000 + 3000).toISOString();
    await api('PUT', `/v1/appointments/ba${i}`, { patientId: `bp${i}`, start });
  }
  // Every reminder sent and recorded (its question bound).
  for (;;) {
    let done = 0;
    for (let i = 0; i < o.patients; i++) {
      const a = await api('GET', `/v1/appointments/ba${i}`);
      if (['sent', 'delivered'].includes(a.body.reminders[0]?.status)) done++;
    }
    if (done === o.patients) break;
    process.stderr.write(`reminders sent: ${done}/${o.patients}\n`);
    await new Promise((r) => setTimeout(r, 500));
  }

  const results: Record<string, unknown>[] = [];
  const phase = async (name: string, text: (round: number) => string) => {
    const jobs: [string, string][] = [];
    for (let r = 0; r < o.rounds; r++) for (let i = 0; i < o.patients; i++) jobs.push([phone(i), text(r)]);
    const latencies: number[] = [];
    const answersBefore = sent.length;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        // Each phone's texts in order: round r of phone i is jobs[r * patients + i].
        while (next < jobs.length) {
          const [from, body] = jobs[next++];
          latencies.push(await inbound(from, body));
        }
      }),
    );
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    latencies.sort((a, b) => a - b);
    const q = (p: number) =>
      Number(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(2));
    const row = {
      phase: name,
      webhooks: jobs.length,
      perSecond: Math.round((jobs.length / wallMs) * 1000),
      p50Ms: q(0.5),
      p99Ms: q(0.99),
      cpuMsPerWebhook: Number(((cpu.user + cpu.system) / 1000 / jobs.length).toFixed(3)),
      smsAnswers: sent.length - answersBefore,
    };
    results.push(row);
    console.log(JSON.stringify(row));
  };
  await phase('reply', (r) => (r % 2 === 0 ? 'C' : 'N'));
  await phase('unrecognised', (r) => `question number ${r}?`);
  await phase('keyword', (r) => (r % 2 === 0 ? 'STOP' : 'START'));

  const out = {
    backend: o.pg ? 'postgres' : 'sqlite',
    patients: o.patients,
    rounds: o.rounds,
    concurrency: o.concurrency,
    results,
  };
  if (o.json) writeFileSync(o.json, JSON.stringify(out, null, 2));
  await agent.close();
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
