import { join } from 'node:path';
import { expect, it } from 'vitest';
import pino from 'pino';
import { sql } from 'kysely';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { AuditLog } from '../../src/audit/audit-log.js';
import { parseCheckpoint, verifyNote } from '../../src/audit/checkpoint.js';
import { leafHash, verifyInclusion } from '../../src/audit/merkle.js';
import type { ProofAnchor } from '../../src/crypto/proof-verifier.js';
import { openTransferDb } from '../../src/store/transfer/transfer-db.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import type { Database } from '../../src/store/schema.js';
import type { Kysely } from 'kysely';
import { describeEachBackend, freshDatabases, migratedStore, type TestDatabase } from '../helpers/backends.js';

const ORIGIN = 'test.example/audit';
const AT = 1_790_000_000_000;

function setup(db: TestDatabase, store: KyselyStore) {
  const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
  const log = new AuditLog(
    store,
    keyring,
    { origin: ORIGIN, checkpointSeconds: 3600, checkpointEntries: 1e9, batch: 64 },
    () => new Date(),
    pino({ level: 'silent' }),
  );
  return { log, publicKey: keyring.auditLogKey().publicKey };
}

const created = (id: string) => ({
  tenantId: 't',
  at: new Date(AT),
  actor: 'test',
  action: 'notification.created',
  outcome: 'success' as const,
  targetType: 'notification',
  targetId: id,
  patientRef: 'ref1',
  details: { signedHash: `hash-of-${id}` },
});

/** Asks until the entry is numbered (PostgreSQL numbers behind the cluster's oldest open transaction). */
async function anchored(log: AuditLog, id: string): Promise<ProofAnchor> {
  for (const deadline = Date.now() + 30_000; ;) {
    const a = await log.anchor({ tenantId: 't', patientRef: 'ref1', at: AT, notificationId: id });
    if (a?.status === 'anchored') return a;
    if (Date.now() > deadline) throw new Error(`not anchored: ${JSON.stringify(a)}`);
  }
}

describeEachBackend('proof anchoring in the audit log', (backend) => {
  const fresh = freshDatabases(backend);

  it('finds the creation entry by tenant, patient, time and target, and proves its inclusion in a checkpoint signed for it', async () => {
    const db = await fresh({ prefix: 'sealpost-anchor-', migrated: true });
    const store = await migratedStore(db);
    const { log, publicKey } = setup(db, store);
    await store.transaction(async (tx) => {
      await tx.audit.append({ ...created('n0'), action: 'notification.proof_read' });
      for (const id of ['n1', 'n2']) await tx.audit.append(created(id));
    });
    expect(await log.latest()).toBeNull();
    const a = await anchored(log, 'n2');
    expect(JSON.parse(a.entry)).toMatchObject({ target: { id: 'n2' }, details: { signedHash: 'hash-of-n2' } });
    const text = verifyNote(a.checkpoint, ORIGIN, publicKey)!.text;
    const cp = parseCheckpoint(text);
    expect(cp.size).toBe(a.treeSize);
    const path = a.inclusion.map((h) => new Uint8Array(Buffer.from(h, 'base64')));
    expect(verifyInclusion(leafHash(Buffer.from(a.entry)), a.index, cp.size, path, cp.root)).toBe(true);
    // Covered now: the next anchor reuses that checkpoint instead of signing another.
    expect((await anchored(log, 'n1')).checkpoint).toBe(a.checkpoint);
    expect(await log.history(-1, 10)).toHaveLength(1);
    expect(await log.anchor({ tenantId: 't', patientRef: 'ref1', at: AT, notificationId: 'n9' })).toBeNull();
    expect(await log.anchor({ tenantId: 'other', patientRef: 'ref1', at: AT, notificationId: 'n1' })).toBeNull();
    await store.close();
  });

  if (backend === 'postgres')
    it('says pending while the entry cannot be numbered (an overlapping transaction is open), anchored once it ends', async () => {
      const db = await fresh({ prefix: 'sealpost-anchor-', migrated: true });
      const store = await migratedStore(db);
      const { log } = setup(db, store);
      const other = openTransferDb(db.url, { mustExist: true }).db as Kysely<Database>;
      let release = () => {};
      const gate = new Promise<void>((r) => (release = r));
      let began = () => {};
      const open = new Promise<void>((r) => (began = r));
      const held = other.transaction().execute(async (trx) => {
        // A write gives this transaction its id: entries committed after it began wait for it.
        await sql`select pg_current_xact_id()`.execute(trx);
        began();
        await gate;
      });
      try {
        await open;
        await store.transaction((tx) => tx.audit.append(created('n1')));
        expect(await log.anchor({ tenantId: 't', patientRef: 'ref1', at: AT, notificationId: 'n1' })).toEqual({
          status: 'pending',
        });
      } finally {
        release();
        await held;
        await other.destroy();
      }
      expect((await anchored(log, 'n1')).status).toBe('anchored');
      await store.close();
    });
});
