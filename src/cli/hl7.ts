import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import pino from 'pino';
import { loadConfig } from '../config/load-config.js';
import { buildApp, type App } from '../app.js';
import { createLogger } from '../logger.js';
import { DEFAULT_TENANT } from '../core/domain.js';
import type { RequestContext } from '../core/context.js';
import { AppError } from '../core/errors.js';
import { splitBatch } from '../ehr/hl7/message.js';
import type { Hl7MessageView } from '../ehr/hl7-apply/hl7-service.js';
import type { SenderView } from '../ehr/hl7-apply/hl7-senders.js';
import { sendMllp } from '../api/mllp-client.js';

const actor = () => `cli:${process.env.USER ?? 'unknown'}`;

/** Builds the server's app (same keys, same store) without listening, runs `fn`, closes it. */
async function withApp<T>(fn: (app: App) => Promise<T>): Promise<T> {
  // Logs (PHI-free) go to stderr so stdout stays the result.
  const app = await buildApp(loadConfig(), { logger: createLogger('warn', pino.destination(2)), deferDatabase: true });
  try {
    await app.connect();
    return await fn(app);
  } finally {
    await app.close();
  }
}

function senderLine(s: SenderView): string {
  return [
    s.id,
    `tenant=${s.tenantId}`,
    `app=${s.app}`,
    `facility=${s.facility}`,
    `patient-id-authority=${s.patientIdAuthority ?? '(MR)'}`,
    `time-zone=${s.timeZone}`,
    `phone-region=${s.phoneRegion}`,
    `cert=${s.certSha256 ?? '-'}`,
    `result-holds=${s.resultHolds.map((h) => `${h.code}=${h.minutes}m`).join(',') || '-'}`,
  ].join(' ');
}

function messageLine(m: Hl7MessageView): string {
  const where = m.segment ? `${m.segment}${m.field ? `-${m.field}` : ''}` : '-';
  return `${m.id} ${m.status} sender=${m.senderId} type=${m.type} control-id=${m.controlId} code=${m.errorCode ?? '-'} hl7=${m.hl7ErrorCode ?? '-'} at=${where} received=${m.receivedAt}`;
}

const collect = (v: string, all: string[]) => [...all, v];

/** Reads the PEM file or fails with a clear, PHI-free line. */
function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new AppError('SP_HL7_SENDER_INVALID', `${what}: cannot read ${path}`);
  }
}

/**
 * `sealpost hl7 …`: HL7 v2 senders, the error queue, importing a file of messages and sending one to
 * a listener over MLLP. Output lists ids, types, control ids and codes, never message content.
 */
export function hl7Command(program: Command): void {
  const hl7 = program.command('hl7').description('HL7 v2 over MLLP: senders, error queue, import and send');

  const senders = hl7.command('senders').description('Registered HL7 v2 senders (MSH-3 application, MSH-4 facility)');
  senders
    .command('add')
    .description('Register a sender: messages are accepted only from registered senders')
    .requiredOption('--app <MSH-3>', 'sending application (MSH-3.1)')
    .requiredOption('--facility <MSH-4>', 'sending facility (MSH-4.1)')
    .option('--tenant <tenant>', 'the tenant its messages write to', DEFAULT_TENANT)
    .option(
      '--patient-id-authority <CX-4 or OID>',
      'the identifier system the sender owns: only PID-3/MRG-1 identifiers with this CX-4 count (default: the MR-typed one, in the system urn:sealpost:hl7:<MSH-3>|<MSH-4>)',
    )
    .option('--time-zone <IANA>', 'zone of time stamps without offset, and of the patients it creates', 'UTC')
    .option('--phone-region <ISO 3166>', 'region of phone numbers written without a country code', 'US')
    .option(
      '--cert <pem file>',
      'require this client certificate (TLS) on the connection (without one: loopback peers only)',
    )
    .option(
      '--result-hold <code=duration>',
      'delay results of test OBR-4.1 <code> by <n>m|h|d (repeatable)',
      collect,
      [],
    )
    .option('--json', 'print the sender as JSON')
    .action(
      async (o: {
        app: string;
        facility: string;
        tenant: string;
        patientIdAuthority?: string;
        timeZone: string;
        phoneRegion: string;
        cert?: string;
        resultHold: string[];
        json?: boolean;
      }) => {
        const certPem = o.cert ? readPem(o.cert, 'cert') : undefined;
        const s = await withApp((app) =>
          app.services.hl7.senders.add(
            { tenantId: o.tenant, actor: actor() },
            {
              app: o.app,
              facility: o.facility,
              patientIdAuthority: o.patientIdAuthority,
              timeZone: o.timeZone,
              phoneRegion: o.phoneRegion,
              certPem,
              resultHolds: o.resultHold,
            },
          ),
        );
        console.log(o.json ? JSON.stringify(s) : senderLine(s));
      },
    );
  senders
    .command('list')
    .description("The tenant's active senders, one per line")
    .option('--tenant <tenant>', 'tenant id', DEFAULT_TENANT)
    .option('--json', 'print JSON')
    .action(async (o: { tenant: string; json?: boolean }) => {
      const list = await withApp((app) => app.services.hl7.senders.list({ tenantId: o.tenant, actor: actor() }));
      if (o.json) console.log(JSON.stringify(list));
      else for (const s of list) console.log(senderLine(s));
    });
  senders
    .command('remove <id>')
    .description('Remove a sender: its later messages are answered AR')
    .option('--tenant <tenant>', 'tenant id', DEFAULT_TENANT)
    .action(async (id: string, o: { tenant: string }) => {
      const s = await withApp((app) => app.services.hl7.senders.remove({ tenantId: o.tenant, actor: actor() }, id));
      console.log(`removed ${s.id}`);
    });

  const errors = hl7.command('errors').description('The error queue: messages that parsed but could not be applied');
  const ctxOf = (o: { tenant: string }): RequestContext => ({ tenantId: o.tenant, actor: actor() });
  errors
    .command('list')
    .description('Queued messages, oldest first (ids, types, control ids, codes; never content)')
    .option('--tenant <tenant>', 'tenant id', DEFAULT_TENANT)
    .option('--status <status>', 'error (the queue), replayed or discarded', 'error')
    .option('--json', 'print JSON')
    .action(async (o: { tenant: string; status: string; json?: boolean }) => {
      const items: Hl7MessageView[] = await withApp(async (app) => {
        const all: Hl7MessageView[] = [];
        let cursor: string | undefined;
        do {
          const page = await app.services.hl7.listErrors(ctxOf(o), { status: o.status, cursor, limit: 200 });
          all.push(...page.items);
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        return all;
      });
      if (o.json) console.log(JSON.stringify(items));
      else for (const m of items) console.log(messageLine(m));
    });
  for (const [verb, description] of [
    ['show', 'One message: sender, type, control id, status, error code and position'],
    ['replay', 'Re-apply a queued message (older queued messages of its sender and patient first)'],
    ['discard', 'Give up on a queued message (its sealed content is deleted)'],
  ] as const) {
    errors
      .command(`${verb} <id>`)
      .description(description)
      .option('--tenant <tenant>', 'tenant id', DEFAULT_TENANT)
      .option('--json', 'print JSON')
      .action(async (id: string, o: { tenant: string; json?: boolean }) => {
        const m = await withApp((app) => {
          const h = app.services.hl7;
          return verb === 'show'
            ? h.getMessage(ctxOf(o), id)
            : verb === 'replay'
              ? h.replay(ctxOf(o), id)
              : h.discard(ctxOf(o), id);
        });
        console.log(o.json ? JSON.stringify(m) : messageLine(m));
      });
  }

  hl7
    .command('import <file>')
    .description(
      'Apply a file of HL7 v2 messages (one message, or a batch FHS/BHS…BTS/FTS) in order, as if its senders had sent them; ' +
        'prints one line per message: control id and ACK code',
    )
    .option('--tenant <tenant>', "the tenant whose senders the file's messages come from", DEFAULT_TENANT)
    .action(async (file: string, o: { tenant: string }) => {
      const text = readFileSync(file, 'utf8');
      const results = await withApp((app) => app.services.hl7.importText(text, actor(), o.tenant));
      for (const r of results) console.log(`${r.controlId || '-'} ${r.code ?? '-'} ${r.status}`);
    });

  hl7
    .command('send <file>')
    .description(
      "Send a file's HL7 v2 messages to an MLLP listener and print each ACK's control id and code (MSA-2, MSA-1)",
    )
    .option('--host <host>', 'listener host', '127.0.0.1')
    .option('--port <port>', 'listener port', '2575')
    .option('--tls-ca <pem file>', 'connect with TLS, trusting this CA')
    .option('--cert <pem file>', 'client certificate to present (TLS)')
    .option('--key <pem file>', 'private key of the client certificate')
    .option('--timeout-ms <ms>', 'how long to wait for each ACK', '30000')
    .action(
      async (
        file: string,
        o: { host: string; port: string; tlsCa?: string; cert?: string; key?: string; timeoutMs: string },
      ) => {
        const port = Number(o.port);
        if (!Number.isInteger(port) || port < 1 || port > 65535)
          throw new AppError('SP_CONFIG_INVALID', '--port must be a port number (1-65535)');
        const messages = splitBatch(readFileSync(file, 'utf8'));
        const tls =
          o.tlsCa || o.cert
            ? {
                ca: o.tlsCa ? readFileSync(o.tlsCa, 'utf8') : undefined,
                cert: o.cert ? readFileSync(o.cert, 'utf8') : undefined,
                key: o.key ? readFileSync(o.key, 'utf8') : undefined,
              }
            : undefined;
        const acks = await sendMllp({ host: o.host, port, tls }, messages, {
          timeoutMs: Number(o.timeoutMs),
        });
        for (const ack of acks) console.log(ackLine(ack));
      },
    );
}

/** `<MSA-2> <MSA-1>` (and the ERR's Sealpost code when there is one) read from an ACK. */
export function ackLine(ack: string): string {
  const segments = ack.split(/\r\n|\r|\n/);
  const msh = segments.find((s) => s.startsWith('MSH')) ?? '';
  const sep = msh.charAt(3) || '|';
  const component = msh.split(sep)[1]?.charAt(0) || '^';
  const msa = (segments.find((s) => s.startsWith('MSA')) ?? '').split(sep);
  const err = (segments.find((s) => s.startsWith('ERR')) ?? '').split(sep);
  const code = err.map((f) => f.split(component)).find((c) => c.some((x) => x.startsWith('SP_')));
  return `${msa[2] ?? '-'} ${msa[1] ?? '-'}${code ? ` ${code.find((x) => x.startsWith('SP_'))}` : ''}`;
}
