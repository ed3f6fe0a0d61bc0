import { existsSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from './sealpost-harness.js';

/** The first port the kernel may give an outgoing connection (32768 unless configured otherwise). */
function ephemeralLow(): number {
  const f = '/proc/sys/net/ipv4/ip_local_port_range';
  return existsSync(f) ? Number(readFileSync(f, 'utf8').trim().split(/\s+/)[0]) : 32768;
}

describe('freePort', () => {
  it('hands out ports outside the ephemeral range, never one twice, each free to listen on', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 40; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    expect(ports.filter((p) => p >= ephemeralLow())).toEqual([]);
    for (const port of ports.slice(0, 5)) {
      const s = createServer();
      await new Promise<void>((resolve, reject) => s.once('error', reject).listen(port, '127.0.0.1', resolve));
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  });

  it('does not hand out a port an outgoing connection holds meanwhile', async () => {
    // Outgoing connections get ephemeral ports: none of them can be the next port handed out.
    const server = createServer((c) => c.on('error', () => {}));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const target = (server.address() as { port: number }).port;
    const clients = await Promise.all(
      Array.from(
        { length: 20 },
        () =>
          new Promise<ReturnType<typeof connect>>((resolve, reject) => {
            const c = connect(target, '127.0.0.1', () => resolve(c)).once('error', reject);
          }),
      ),
    );
    try {
      const taken = new Set(clients.map((c) => c.localPort!));
      for (let i = 0; i < 20; i++) expect(taken.has(await freePort())).toBe(false);
    } finally {
      for (const c of clients) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
