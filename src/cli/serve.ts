import type { Command } from 'commander';
import { join } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import { loadConfig } from '../config/load-config.js';
import { buildApp } from '../app.js';
import { loadOrCreateTls, reloadTls } from '../api/tls.js';
import { AppError } from '../core/errors.js';
import { buildConsole, consoleBuilt, DEFAULT_CONSOLE_DIR } from './console-build.js';

/** `sealpost serve`: the HTTPS API, the patient portal and the delivery worker in one process, until a signal. */
export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('Run the HTTPS API, the patient portal and the delivery worker (what `npm start` runs)')
    .action(async () => {
      const config = loadConfig();
      const tls = await loadOrCreateTls(config.dataDir, config.tls.certFile, config.tls.keyFile);
      // Listen first, then connect: while the database is unreachable, /healthz answers and /readyz says 503.
      const app = await buildApp(config, { https: tls, deferDatabase: true });
      // The console: built by `npm install`; built here when it is missing (an install without scripts).
      if (!consoleBuilt(config.consoleDir) && config.consoleDir === DEFAULT_CONSOLE_DIR) {
        app.logger.info({ dir: config.consoleDir }, 'building the console once (first start)');
        await buildConsole(config.consoleDir).catch((e: unknown) =>
          app.logger.error({ err: e }, 'the console could not be built; /console answers 503 until it is'),
        );
      }
      if (tls.generated)
        app.logger.info({ file: join(config.dataDir, 'tls-cert.pem') }, 'generated a self-signed TLS certificate');
      await app.server.listen({ host: config.host, port: config.port }).catch((e: NodeJS.ErrnoException) => {
        throw listenFailure(e, config.host, config.port);
      });
      // Prometheus metrics on their own listener (loopback unless SEALPOST_METRICS_HOST says otherwise).
      if (app.metricsServer) {
        const { host, port } = config.metrics as { host: string; port: number };
        await app.metricsServer.listen({ host, port }).catch((e: NodeJS.ErrnoException) => {
          throw listenFailure(e, host, port);
        });
        const bound = (app.metricsServer.server.address() as { port: number }).port;
        app.logger.info({ host, port: bound }, 'metrics listener serving /metrics');
      }
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        app.logger.info({ signal }, 'shutting down');
        await app.close();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
      // Certificate renewal without downtime: new connections get the new pair, open ones keep theirs.
      process.on('SIGHUP', () => void reloadTls(app.server.server as unknown as TlsServer, tls, app.logger));
      await app.connect();
      if (app.bootstrapKey)
        app.logger.info(
          { file: join(config.dataDir, 'bootstrap-api-key') },
          'first start: bootstrap API key written (mode 0600)',
        );
      app.start();
      // The HL7 listener (when configured) must be listening too: a sender would otherwise see refused connections.
      if (config.hl7.listen) {
        const { host, port } = config.hl7.listen;
        const hl7 = { port: 'SEALPOST_HL7_LISTEN', host: 'SEALPOST_HL7_LISTEN' };
        await app.hl7Port().catch((e: NodeJS.ErrnoException) => {
          throw listenFailure(e, host, port, hl7);
        });
      }
      // So must the embedded MQTT broker, or the external broker's subscription (devices' alarms).
      if (config.mqtt.listen) {
        const { host, port } = config.mqtt.listen;
        const mqtt = { port: 'SEALPOST_MQTT_LISTEN', host: 'SEALPOST_MQTT_LISTEN' };
        await app.mqttPort().catch((e: NodeJS.ErrnoException) => {
          throw listenFailure(e, host, port, mqtt);
        });
      }
      app.logger.info(
        {
          url: config.publicUrl,
          port: (app.server.server.address() as { port: number }).port,
          backend: app.store.backend,
        },
        'sealpost is serving',
      );
    });
}

/** A listen error as one line naming the address, the port and the settings to change. */
export function listenFailure(
  e: NodeJS.ErrnoException,
  host: string,
  port: number,
  setting: { port: string; host: string } = { port: 'SEALPOST_PORT', host: 'SEALPOST_HOST' },
): unknown {
  const why: Record<string, string> = {
    EADDRINUSE: `is already in use by another process: stop it, or set ${setting.port} to a free port`,
    EACCES: `needs privileges this user lacks (ports below 1024): set ${setting.port} to 1024 or above`,
    EADDRNOTAVAIL: `is not an address of this host: set ${setting.host} to one of its addresses (or 0.0.0.0)`,
  };
  if (!e?.code || !why[e.code]) return e;
  return new AppError('SP_SERVER_LISTEN_FAILED', `${host}:${port} (${e.code}) ${why[e.code]}`);
}
