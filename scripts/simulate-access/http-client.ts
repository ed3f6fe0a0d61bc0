import { Agent, request } from 'node:http';

export interface Answer {
  status: number;
  body: any;
}

/**
 * JSON over real HTTP with keep-alive. `from` is the simulated client's address, sent as
 * X-Forwarded-For (the server trusts loopback as its proxy); `auth` a bearer token or API key.
 */
export class SimHttp {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });
  /** Every request made and its status, for the completeness check. */
  readonly counts = { requests: 0, byStatus: new Map<number, number>() };

  constructor(private readonly base: string) {}

  call(
    method: string,
    path: string,
    opts: { auth?: string; from: string; body?: unknown; requestId?: string },
  ): Promise<Answer> {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { 'x-forwarded-for': opts.from };
    if (opts.requestId) headers['x-request-id'] = opts.requestId;
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (opts.auth) headers.authorization = `Bearer ${opts.auth}`;
    return new Promise((resolve, reject) => {
      const req = request(new URL(path, this.base), { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            /* not JSON */
          }
          const status = res.statusCode ?? 0;
          this.counts.requests++;
          this.counts.byStatus.set(status, (this.counts.byStatus.get(status) ?? 0) + 1);
          resolve({ status, body });
        });
      });
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
