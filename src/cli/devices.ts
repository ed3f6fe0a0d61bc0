import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import pino from 'pino';
import { loadConfig } from '../config/load-config.js';
import { buildApp, type App } from '../app.js';
import { createLogger } from '../logger.js';
import { DEFAULT_TENANT } from '../core/domain.js';
import type { RequestContext } from '../core/context.js';
import { AppError } from '../core/errors.js';
import type { MedicalDeviceKind, MedicalDeviceView } from '../alerting/devices/medical-device-service.js';

const actor = () => `cli:${process.env.USER ?? 'unknown'}`;
const ctxOf = (o: { tenant: string }): RequestContext => ({ tenantId: o.tenant, actor: actor() });

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

function deviceLine(d: MedicalDeviceView): string {
  return [
    d.id,
    `tenant=${d.tenantId}`,
    `kind=${d.kind}`,
    `location=${d.location}`,
    `patient=${d.patientId ?? '-'}`,
    `target=${d.target ?? '-'}`,
    `status=${d.status}`,
    `cert=${d.certSha256}`,
  ].join(' ');
}

/** Reads the PEM file or fails with a clear line (never the file's content). */
function readPem(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new AppError('SP_MEDDEVICE_INVALID', `cert: cannot read ${path}`);
  }
}

/**
 * `sealpost devices …`: medical devices (monitors, paging gateways) that raise alarms over MQTT.
 * A device is known by its client certificate; see docs/alerting-devices.md.
 */
export function devicesCommand(program: Command): void {
  const devices = program
    .command('devices')
    .description('Medical devices that raise alarms over MQTT (monitors, paging gateways)');
  devices
    .command('add')
    .description(
      "Register a device by its client certificate; its alarms go to its target, its patient's care team or its unit's charge nurse",
    )
    .requiredOption('--id <id>', 'the device id, also its segment of the MQTT topics (e.g. mon-4w-12)')
    .requiredOption('--cert <pem file>', 'the client certificate the device presents')
    .requiredOption(
      '--location <unit/bed>',
      'where it is, e.g. 4-west/12 (alarms go to charge_nurse@<unit> by default)',
    )
    .option('--patient <id>', "the monitored patient (alarms go to the patient's care team)")
    .option('--target <target>', 'where its alarms go instead (e.g. schedule:<id>, group:<id>, rapid_response@icu)')
    .option('--kind <kind>', 'monitor or paging-gateway', 'monitor')
    .option('--tenant <tenant>', 'tenant id', DEFAULT_TENANT)
    .option('--json', 'print the device as JSON')
    .action(
      async (o: {
        id: string;
        cert: string;
        location: string;
        patient?: string;
        target?: string;
        kind: string;
        tenant: string;
        json?: boolean;
      }) => {
        const certPem = readPem(o.cert);
        const d = await withApp((app) =>
          app.services.medicalDevices.add(ctxOf(o), {
            id: o.id,
            certPem,
            location: o.location,
            patientId: o.patient,
            target: o.target,
            kind: o.kind as MedicalDeviceKind,
          }),
        );
        console.log(o.json ? JSON.stringify(d) : deviceLine(d));
      },
    );
  devices
    .command('list')
    .description("The tenant's registered devices, one per line")
    .option('--tenant <tenant>', 'tenant id', DEFAULT_TENANT)
    .option('--json', 'print JSON')
    .action(async (o: { tenant: string; json?: boolean }) => {
      const list = await withApp(async (app) => {
        const all: MedicalDeviceView[] = [];
        let cursor: string | undefined;
        do {
          const page = await app.services.medicalDevices.list(ctxOf(o), { limit: 500, cursor });
          all.push(...page.items);
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        return all;
      });
      if (o.json) console.log(JSON.stringify(list));
      else for (const d of list) console.log(deviceLine(d));
    });
  devices
    .command('change <id>')
    .description("Change a device's location, patient or alarm target (a new certificate: remove and add)")
    .option('--location <unit/bed>', 'where it is now, e.g. 5-east/3')
    .option('--patient <id>', 'the monitored patient ("-" for none)')
    .option('--target <target>', 'where its alarms go instead ("-" for the default)')
    .option('--tenant <tenant>', 'tenant id', DEFAULT_TENANT)
    .action(async (id: string, o: { location?: string; patient?: string; target?: string; tenant: string }) => {
      const none = (v: string | undefined) => (v === '-' ? null : v);
      const d = await withApp((app) =>
        app.services.medicalDevices.change(ctxOf(o), id, {
          location: o.location,
          patientId: none(o.patient),
          target: none(o.target),
        }),
      );
      console.log(deviceLine(d));
    });
  devices
    .command('remove <id>')
    .description('Remove a device: its certificate no longer connects to the embedded broker')
    .option('--tenant <tenant>', 'tenant id', DEFAULT_TENANT)
    .action(async (id: string, o: { tenant: string }) => {
      const d = await withApp((app) => app.services.medicalDevices.remove(ctxOf(o), id));
      console.log(`removed ${d.id}`);
    });
}
