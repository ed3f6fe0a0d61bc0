import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Sqlite from 'better-sqlite3';
import { openSqliteStore } from './backends/sqlite/sqlite-backend.js';

describe('coalesced transactions on SQLite', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  async function store() {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-coalesce-'));
    dirs.push(dir);
    const s = openSqliteStore(join(dir, 'db.sqlite'), 'group');
    await s.migrate();
    return s;
  }

  it('commits concurrent commands together while a failing one leaves nothing behind', async () => {
    const s = await store();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        s.transaction(async (tx) => {
          await tx.tenants.ensure(`t${i}`, 'x', 1);
          await tx.tenants.ensure(`t${i}-second`, 'x', 1);
          if (i % 5 === 3) throw new Error(`command ${i} fails after writing`);
          return i;
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(4);
    expect(
      results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value),
    ).toEqual([...Array(20).keys()].filter((i) => i % 5 !== 3));
    await s.close();
    const db = new Sqlite(join(dirs[0], 'db.sqlite'), { readonly: true });
    const tenants = (db.prepare('select id from tenants').all() as { id: string }[]).map((r) => r.id);
    db.close();
    const expected = [...Array(20).keys()].filter((i) => i % 5 !== 3).flatMap((i) => [`t${i}`, `t${i}-second`]);
    expect(tenants.sort()).toEqual(expected.sort());
  });

  it('rolls back the whole of a failed command, including rows it wrote before throwing', async () => {
    const s = await store();
    const seen: string[] = [];
    await Promise.allSettled([
      s.transaction(async (tx) => {
        await tx.outbox.recordMany([
          {
            delivery_id: 'keep-1',
            tenant_id: 't',
            channel: 'sms',
            recipient_ct: Buffer.from('a'),
            subject: null,
            body_ct: Buffer.from('b'),
            created_at: 1,
          },
        ]);
      }),
      s.transaction(async (tx) => {
        await tx.outbox.recordMany([
          {
            delivery_id: 'drop-1',
            tenant_id: 't',
            channel: 'sms',
            recipient_ct: Buffer.from('a'),
            subject: null,
            body_ct: Buffer.from('b'),
            created_at: 1,
          },
        ]);
        throw new Error('boom');
      }),
      s.transaction(async (tx) => {
        await tx.outbox.recordMany([
          {
            delivery_id: 'keep-2',
            tenant_id: 't',
            channel: 'sms',
            recipient_ct: Buffer.from('a'),
            subject: null,
            body_ct: Buffer.from('b'),
            created_at: 1,
          },
        ]);
      }),
    ]);
    for (const r of await s.read.outbox.list('t', 0, 10)) seen.push(r.delivery_id);
    expect(seen.sort()).toEqual(['keep-1', 'keep-2']);
    await s.close();
  });
});
