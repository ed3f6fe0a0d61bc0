import type { Sql } from '../store/sql.js';
import { shaped, stmt } from '../store/sql.js';
import type { DeliveryRow } from '../store/repositories/delivery-repository.js';
import type { JobOutcome, JobQueue, Lease } from './job-queue.js';

const DUE = "select id from deliveries where status in ('scheduled', 'queued') and run_at <= ? order by run_at limit ?";
const CLAIM_SET =
  "update deliveries set status = 'sending', lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?";
const CLAIM = stmt(
  `${CLAIM_SET} where id in (${DUE}) returning *`,
  `${CLAIM_SET} where id in (${DUE} for update skip locked) returning *`,
);
const RELEASE = stmt(
  "update deliveries set status = 'queued', lease_owner = null, lease_until = null, updated_at = ? where status = 'sending' and lease_until < ?",
);
const NEXT = stmt("select min(run_at) as m from deliveries where status in ('scheduled', 'queued')");
const COUNTS = stmt('select status, channel, count(*) as n from deliveries group by status, channel');
const HELD = "lease_owner = ? and lease_until = ? and status = 'sending'";

const SET_LINK = stmt(`update deliveries set link_ct = ? where id = ? and ${HELD}`);
const setLinks = (n: number) =>
  shaped('queue.setLinks', n, () =>
    stmt(
      `update deliveries d set link_ct = v.link_ct from (values ${Array.from({ length: n }, () => '(?::text, ?::bytea)').join(', ')}) as v (id, link_ct) where d.id = v.id and d.lease_owner = ? and d.lease_until = ? and d.status = 'sending' returning d.id`,
    ),
  );

const OUTCOME_COLUMNS = [
  'status',
  'run_at',
  'attempts',
  'last_error_code',
  'provider',
  'provider_message_id',
  'sent_at',
  'delivered_at',
  'failed_at',
  'cancelled_at',
] as const;
const PG_TYPES = ['text', 'text', 'int8', 'int4', 'text', 'text', 'text', 'int8', 'int8', 'int8', 'int8'];
const FINISH = stmt(
  `update deliveries set ${OUTCOME_COLUMNS.map((c) => `${c} = ?`).join(', ')}, lease_owner = null, lease_until = null, updated_at = ? where id = ? and ${HELD}`,
);
const finishMany = (n: number) =>
  shaped('queue.finish', n, () =>
    stmt(
      `update deliveries d set ${OUTCOME_COLUMNS.map((c) => `${c} = v.${c}`).join(', ')}, lease_owner = null, lease_until = null, updated_at = ? ` +
        `from (values ${Array.from({ length: n }, () => `(${PG_TYPES.map((t) => `?::${t}`).join(', ')})`).join(', ')}) as v (id, ${OUTCOME_COLUMNS.join(', ')}) ` +
        `where d.id = v.id and d.lease_owner = ? and d.lease_until = ? and d.status = 'sending' returning d.id`,
    ),
  );

/** Batches above this many rows are split (one statement each). */
const CHUNK = 200;

/** The job queue in SQL, the same on both backends but for SKIP LOCKED and PostgreSQL's multi-row updates. */
export class SqlJobQueue implements JobQueue {
  constructor(private readonly sql: Sql) {}

  claim(owner: string, now: number, leaseUntil: number, limit: number): Promise<DeliveryRow[]> {
    return this.sql.all<DeliveryRow>(CLAIM, [owner, leaseUntil, now, now, limit]);
  }

  releaseExpired(now: number): Promise<number> {
    return this.sql.run(RELEASE, [now, now]);
  }

  async nextRunAt(): Promise<number | null> {
    const r = await this.sql.get<{ m: number | null }>(NEXT, []);
    return r?.m == null ? null : Number(r.m);
  }

  async countByStatus(): Promise<{ status: string; channel: string; n: number }[]> {
    const rows = await this.sql.all<{ status: string; channel: string; n: number }>(COUNTS, []);
    return rows.map((r) => ({ status: r.status, channel: r.channel, n: Number(r.n) }));
  }

  async setLinks(lease: Lease, links: readonly { id: string; link_ct: Uint8Array }[]): Promise<Set<string>> {
    const held = new Set<string>();
    if (this.sql.backend === 'sqlite') {
      for (const l of links)
        if (await this.sql.run(SET_LINK, [l.link_ct, l.id, lease.owner, lease.until])) held.add(l.id);
      return held;
    }
    for (let i = 0; i < links.length; i += CHUNK) {
      const part = links.slice(i, i + CHUNK);
      const rows = await this.sql.all<{ id: string }>(setLinks(part.length), [
        ...part.flatMap((l) => [l.id, l.link_ct]),
        lease.owner,
        lease.until,
      ]);
      for (const r of rows) held.add(r.id);
    }
    return held;
  }

  async finish(lease: Lease, now: number, outcomes: readonly JobOutcome[]): Promise<Set<string>> {
    const held = new Set<string>();
    if (this.sql.backend === 'sqlite') {
      for (const o of outcomes)
        if (await this.sql.run(FINISH, [...OUTCOME_COLUMNS.map((c) => o[c]), now, o.id, lease.owner, lease.until]))
          held.add(o.id);
      return held;
    }
    for (let i = 0; i < outcomes.length; i += CHUNK) {
      const part = outcomes.slice(i, i + CHUNK);
      const params = [
        now,
        ...part.flatMap((o) => [o.id, ...OUTCOME_COLUMNS.map((c) => o[c])]),
        lease.owner,
        lease.until,
      ];
      for (const r of await this.sql.all<{ id: string }>(finishMany(part.length), params)) held.add(r.id);
    }
    return held;
  }
}
