import { join } from 'node:path';
import { expect, it } from 'vitest';
import pino from 'pino';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { rootFromLeafHashes } from '../../src/audit/merkle.js';
import { describeEachBackend, freshDatabases, migratedStore, numberAuditEntries } from '../helpers/backends.js';

describeEachBackend('audit log integration across a crash', (backend) => {
  const fresh = freshDatabases(backend);

  it('resumes from the last integrated index and reaches the same root as an uninterrupted run', async () => {
    const db = await fresh({ prefix: 'sealpost-integrate-', migrated: true });
    const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
    const opts = { origin: 'test.example/audit', checkpointSeconds: 3600, checkpointEntries: 1_000_000, batch: 64 };

    let store = await migratedStore(db);
    // Appended in batches of concurrent transactions: fast on both backends, and still 1000 separate commits' worth of entries.
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          store.transaction((tx) =>
            tx.audit.append({
              tenantId: 't',
              at: new Date(0),
              actor: 'test',
              action: `test.${i + j}`,
              outcome: 'success',
            }),
          ),
        ),
      );
    }
    // Numbered first: on PostgreSQL a transaction open in another test's database (the xmin horizon
    // is the cluster's) may hold numbering back for a moment, and integrate() hashes numbered leaves only.
    expect(await numberAuditEntries(store)).toBe(1000);
    const log1 = new AuditLog(store, keyring, opts, () => new Date(), pino({ level: 'silent' }));
    expect(await log1.integrate(300)).toBe(300);
    await store.close(); // the process goes away with 700 leaves appended but not integrated

    store = db.open();
    const log2 = new AuditLog(store, keyring, opts, () => new Date(), pino({ level: 'silent' }));
    const cp = await log2.checkpoint();
    expect(cp.size).toBe(1000);
    const leaves = (await db.query<{ leaf_hash: Uint8Array }>('select leaf_hash from audit_entries order by idx')).map(
      (r) => new Uint8Array(r.leaf_hash),
    );
    expect(leaves).toHaveLength(1000);
    expect(Buffer.from(cp.root).equals(Buffer.from(rootFromLeafHashes(leaves)))).toBe(true);
  });
});
