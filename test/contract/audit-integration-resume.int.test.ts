import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { openSqliteStore } from '../../src/store/backends/sqlite/sqlite-backend.js';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { rootFromLeafHashes } from '../../src/audit/merkle.js';
import { query } from '../helpers/db-snapshot.js';

describe('audit log integration across a crash', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('resumes from the last integrated index and reaches the same root as an uninterrupted run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-integrate-'));
    dirs.push(dir);
    const { keyring } = LocalKeyring.openOrCreate(join(dir, 'keyring.json'));
    const opts = { origin: 'test.example/audit', checkpointSeconds: 3600, checkpointEntries: 1_000_000, batch: 64 };
    const open = () => openSqliteStore(join(dir, 'sealpost.db'), 'group');

    let store = open();
    await store.migrate();
    for (let i = 0; i < 1000; i++) {
      await store.transaction((tx) => tx.appendAudit({ tenantId: 't', at: new Date(0), actor: 'test', action: `test.${i}`, outcome: 'success' }));
    }
    const log1 = new AuditLog(store, keyring, opts, () => new Date(), pino({ level: 'silent' }));
    expect(await log1.integrate(300)).toBe(300);
    await store.close(); // the process goes away with 680 leaves appended but not integrated

    store = open();
    const log2 = new AuditLog(store, keyring, opts, () => new Date(), pino({ level: 'silent' }));
    const cp = await log2.checkpoint();
    expect(cp.size).toBe(1000);
    const leaves = query<{ leaf_hash: Buffer }>(dir, 'select leaf_hash from audit_entries order by idx').map((r) => new Uint8Array(r.leaf_hash));
    expect(Buffer.from(cp.root).equals(Buffer.from(rootFromLeafHashes(leaves)))).toBe(true);
    await store.close();
  });
});
