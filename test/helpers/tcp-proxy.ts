import { createServer, connect, type Server, type Socket } from 'node:net';
import { freePort } from './sealpost-harness.js';

/**
 * A TCP forwarder on loopback in front of a real server (here PostgreSQL), standing in for the
 * network between a node and its database: `down()` refuses new connections and cuts live ones,
 * `up()` restores service on the same port.
 */
export interface TcpProxy {
  port: number;
  up(): Promise<void>;
  down(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1', startUp = true): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  const proxy: TcpProxy = {
    port,
    async up() {
      if (server) return;
      const s = createServer((client) => {
        const upstream = connect(targetPort, targetHost);
        sockets.add(client).add(upstream);
        client.pipe(upstream).pipe(client);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
      });
      await new Promise<void>((res, rej) => s.once('error', rej).listen(port, '127.0.0.1', () => res()));
      server = s;
    },
    async down() {
      const s = server;
      server = null;
      for (const sock of sockets) sock.destroy();
      sockets.clear();
      if (s) await new Promise<void>((res) => s.close(() => res()));
    },
    close: () => proxy.down(),
  };
  if (startUp) await proxy.up();
  return proxy;
}
